import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { dlab } from '../helpers/cluster';
import { buildDecoder } from '../../lib/model/gpt';
import { BuiltinTokenizer, saveBuiltinTokenizer } from '../../lib/model/tokenizers';
import { halfDecoder, writeExternal } from '../helpers/hf-export';
import { tempDir } from '../helpers/tmp';

/** `dlab model …`: what a user runs to check a model before a long run (no server needed). */
describe('dlab model build | inspect | generate | score', function () {
  this.timeout(60_000);
  const dir = tempDir('model-cli');
  const model = join(dir.path, 'tiny');
  after(() => dir.cleanup());

  before(async () => {
    const cfg = join(dir.path, 'tiny.json');
    writeFileSync(cfg, JSON.stringify({ vocab: 104, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 64, seed: 2 }));
    const r = await dlab(['model', 'build', '--config', cfg, '--out', model]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('inspect --json lists the backbone’s inputs, outputs, opset and parameter count', async () => {
    const r = await dlab(['model', 'inspect', model, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.opset, 17);
    assert.deepEqual(info.inputs.slice(0, 3).map((i: { name: string; type: string }) => [i.name, i.type]), [['input_ids', 'int64'], ['attention_mask', 'int64'], ['position_ids', 'int64']]);
    assert.ok(info.outputs.some((o: { name: string; shape: unknown[] }) => o.name === 'last_hidden_state' && o.shape[2] === 32));
    // wte 104×32 + wpe 64×32 + 2 layers × (4·(32·32+32) + 2·2·32 + 32·64+64 + 64·32+32) + ln_f 2·32, tied head adds nothing
    const perLayer = 4 * (32 * 32 + 32) + 4 * 32 + (32 * 64 + 64) + (64 * 32 + 32);
    assert.equal(info.parameters, 104 * 32 + 64 * 32 + 2 * perLayer + 2 * 32);
    assert.deepEqual(info.generation, { kvCache: 'slots' });
  });

  it('generate --json prints {text, tokens, logprobs, finish, promptTokens}; the same seed gives the same sample', async () => {
    const args = ['model', 'generate', '--model', model, '--prompt', '2+2=', '--max-tokens', '6', '--seed', '9', '--json'];
    const a = JSON.parse((await dlab(args)).stdout);
    const b = JSON.parse((await dlab(args)).stdout);
    assert.deepEqual(Object.keys(a), ['text', 'tokens', 'logprobs', 'finish', 'promptTokens']);
    assert.equal(a.tokens.length, a.logprobs.length);
    assert.ok(a.tokens.length >= 1 && a.tokens.length <= 6);
    assert.deepEqual(a, b);
  });

  it('score --json prints {logprob, tokens, tokenLogprobs} with logprob = Σ tokenLogprobs', async () => {
    const r = await dlab(['model', 'score', '--model', model, '--context', '2+2=', '--target', '4', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(s), ['logprob', 'tokens', 'tokenLogprobs']);
    assert.deepEqual(s.tokens, [24]); // '4' is ASCII 52, built-in ids are ASCII − 28
    assert.ok(Math.abs(s.logprob - s.tokenLogprobs.reduce((x: number, y: number) => x + y, 0)) < 1e-12);
    assert.ok(s.logprob < 0 && s.logprob > -20);
  });

  it('a bad model config names the field and exits 2', async () => {
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ vocab: 104, dModel: 30, nLayer: 2, nHead: 4, dFf: 64, maxPos: 64, seed: 2 }));
    const r = await dlab(['model', 'build', '--config', bad, '--out', join(dir.path, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nHead: dModel must be divisible by nHead/);
  });

  it('prepare --dtype float32 of a float16 export with external data, then inspect and generate on the directory', async () => {
    const cfg = { vocab: 104, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 64, seed: 2 };
    const onnxFile = writeExternal(halfDecoder(buildDecoder(cfg), 'float16', 'float'), join(dir.path, 'export-f16'), 'single');
    const tok = join(dir.path, 'tok.json');
    saveBuiltinTokenizer(new BuiltinTokenizer({}), tok);
    const out = join(dir.path, 'prepared-f16');
    const r = await dlab(['model', 'prepare', '--onnx', onnxFile, '--tokenizer', tok, '--out', out, '--dtype', 'float32']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /float16 up-cast to float32, weights in backbone\.onnx_data/);
    const info = JSON.parse((await dlab(['model', 'inspect', out, '--json'])).stdout);
    assert.deepEqual(info.model.backboneData, ['backbone.onnx_data']);
    assert.ok(info.outputs.some((o: { name: string; type: string }) => o.name === 'last_hidden_state' && o.type === 'float32'));
    const perLayer = 4 * (32 * 32 + 32) + 4 * 32 + (32 * 64 + 64) + (64 * 32 + 32);
    assert.equal(info.parameters, 104 * 32 + 64 * 32 + 2 * perLayer + 2 * 32);
    const g = await dlab(['model', 'generate', '--model', out, '--prompt', '2+2=', '--max-tokens', '4', '--json']);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(JSON.parse(g.stdout).tokens.length >= 1);
    const bad = await dlab(['model', 'prepare', '--onnx', onnxFile, '--tokenizer', tok, '--out', join(dir.path, 'bf'), '--dtype', 'bfloat16']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dtype "bfloat16": only float32 is supported/);
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { DlabInputError, permanentError } from '../../lib/errors';
import { buildDecoder, DecoderLayout, GptConfig } from '../../lib/model/gpt';
import { cloneWeights, initialWeights } from '../../lib/model/gpt-weights';
import { logSoftmaxAt } from '../../lib/model/log-softmax';
import { prepareModelDir, readModelDir } from '../../lib/model/model-dir';
import { Policy } from '../../lib/model/policy';
import { decoderLogits, maxAbsDiff, maxRelDiff, assertSlotsMatchGrowing } from '../helpers/decoder';
import { tempDir } from '../helpers/tmp';
import { SENTENCEPIECE_LIKE } from '../helpers/tokenizers';

/**
 * Layouts other model families export, checked against a reference computation:
 * grouped-query attention (Llama, Qwen2), no position_ids input (Gemma-style), a Llama-style
 * tokenizer with its config files, and limits from config.json — each prepared from an
 * Optimum-layout export directory (`prepare --from`).
 */
const cfg: GptConfig = { vocab: 32, dModel: 16, nLayer: 2, nHead: 4, dFf: 32, maxPos: 24, seed: 11 };
const V = cfg.vocab;

/** MHA weights equal to a GQA model's: query head h uses kv head ⌊h / rep⌋'s k/v columns. */
function repeatedKvWeights(nKvHead: number) {
  const w = cloneWeights(initialWeights(cfg));
  const d = cfg.dModel;
  const hd = d / cfg.nHead;
  const rep = cfg.nHead / nKvHead;
  for (let i = 0; i < cfg.nLayer; i++) {
    for (const kind of ['k', 'v']) {
      const W = w.get(`h.${i}.attn.${kind}.weight`)!;
      const b = w.get(`h.${i}.attn.${kind}.bias`)!;
      const W2 = W.slice();
      const b2 = b.slice();
      for (let h = 0; h < cfg.nHead; h++) {
        const g = Math.floor(h / rep);
        for (let r = 0; r < d; r++) for (let c = 0; c < hd; c++) W2[r * d + h * hd + c] = W[r * d + g * hd + c];
        for (let c = 0; c < hd; c++) b2[h * hd + c] = b[g * hd + c];
      }
      w.set(`h.${i}.attn.${kind}.weight`, W2);
      w.set(`h.${i}.attn.${kind}.bias`, b2);
    }
  }
  return w;
}

describe('Hugging Face export layouts: GQA, no position_ids, Llama-style tokenizer files, limits from config.json', function () {
  this.timeout(60_000);
  const tmp = tempDir('hf-layouts');
  after(() => tmp.cleanup());

  /** an Optimum-layout export directory: model.onnx, tokenizer.json and the given side files */
  function exportDir(name: string, layout: DecoderLayout, files: Record<string, unknown> = {}, weights = initialWeights(cfg)): string {
    const dir = join(tmp.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), buildDecoder(cfg, weights, layout));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(SENTENCEPIECE_LIKE));
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v));
    return dir;
  }
  const llama = { tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true };
  const config = { model_type: 'llama', max_position_embeddings: cfg.maxPos, vocab_size: V, num_attention_heads: cfg.nHead, num_key_value_heads: cfg.nHead, hidden_size: cfg.dModel };
  const gqaConfig = { ...config, num_key_value_heads: 2 };

  it('GQA (2 kv heads for 4 query heads) computes what MHA with repeated k/v weights computes: full logits within 1e-5', async () => {
    const gqa = await InferenceSession.create(buildDecoder(cfg, initialWeights(cfg), { nKvHead: 2 }));
    const mha = await InferenceSession.create(buildDecoder(cfg, repeatedKvWeights(2)));
    const ids = [1, 17, 9, 19, 10, 15, 3];
    const diff = maxAbsDiff(await decoderLogits(gqa, cfg, ids, 2), await decoderLogits(mha, cfg, ids));
    assert.ok(diff <= 1e-5, `max |Δlogits| = ${diff}`);
  });

  it('prepare --from a GQA export: nHead from config.json, nKvHead from the cache; cached generation = full recomputation, greedy ids = the MHA reference', async () => {
    const out = join(tmp.path, 'gqa-model');
    const json = await prepareModelDir({ from: exportDir('gqa', { nKvHead: 2 }, { 'config.json': gqaConfig, 'tokenizer_config.json': llama }), out });
    assert.deepEqual([json.dims.nHead, json.dims.nKvHead, json.dims.headDim, json.dims.maxPos], [4, 2, 4, 24]);
    const policy = await Policy.load(out);
    const original = await InferenceSession.create(buildDecoder(cfg, initialWeights(cfg), { nKvHead: 2 }));
    const prompts = ['12+34=', '1+2', '='];
    const steps: Float32Array[] = [];
    const gens = await policy.generate(prompts, { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 1, onStep: (_, l) => steps.push(l.slice()) });
    let worst = 0;
    for (let b = 0; b < prompts.length; b++) {
      const seq = [...gens[b].promptTokens];
      for (let t = 0; t < gens[b].tokens.length; t++) {
        const full = await decoderLogits(original, cfg, seq, 2);
        worst = Math.max(worst, maxAbsDiff(steps[t].subarray(b * V, (b + 1) * V), full.subarray((seq.length - 1) * V, seq.length * V)));
        seq.push(gens[b].tokens[t]);
      }
    }
    assert.ok(worst <= 1e-4, `max |Δlogits| over the steps = ${worst}`);
    // the MHA model with repeated k/v weights samples the same greedy ids
    const refDir = join(tmp.path, 'mha-model');
    await prepareModelDir({ from: exportDir('mha', {}, { 'config.json': config, 'tokenizer_config.json': llama }, repeatedKvWeights(2)), out: refDir });
    const ref = await (await Policy.load(refDir)).generate(prompts, { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 1 });
    assert.deepEqual(gens.map((g) => g.tokens), ref.map((g) => g.tokens));
    // the grouped-query cache [B, nKvHead, T, headDim] runs in slots too, to float rounding of the growing cache
    await assertSlotsMatchGrowing(policy, prompts, { maxTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 2 });
  });

  it('no position_ids input (Gemma-style, positions from the attention mask): the same left-padded batched samples, logits and probabilities as the model fed position_ids', async () => {
    const a = join(tmp.path, 'nopos-model');
    const b = join(tmp.path, 'pos-model');
    await prepareModelDir({ from: exportDir('nopos', { positionIds: 'from-mask' }, { 'config.json': config }), out: a });
    await prepareModelDir({ from: exportDir('pos', {}, { 'config.json': config }), out: b });
    const [pa, pb] = [await Policy.load(a), await Policy.load(b)];
    assert.equal(pa.backbone.hasPositionIds, false);
    assert.equal(pb.backbone.hasPositionIds, true);
    const prompts = ['12+34=', '1', '34+12=46'];
    // greedy steps see the logits (compared absolutely), sampled ones the probabilities (relatively)
    for (const temperature of [0, 1]) {
      const la: Float32Array[] = [];
      const lb: Float32Array[] = [];
      const opts = { maxTokens: 6, temperature, topK: 0, topP: 1, seed: 5 };
      const ga = await pa.generate(prompts, { ...opts, onStep: (_, l) => la.push(l.slice()) });
      const gb = await pb.generate(prompts, { ...opts, onStep: (_, l) => lb.push(l.slice()) });
      assert.deepEqual(ga.map((g) => g.tokens), gb.map((g) => g.tokens));
      const worst = Math.max(...la.map((l, i) => (temperature ? maxRelDiff : maxAbsDiff)(l, lb[i])));
      assert.ok(worst <= (temperature ? 1e-5 : 1e-6), temperature ? `max |Δp| / p = ${worst}` : `max |Δlogits| = ${worst}`);
      await assertSlotsMatchGrowing(pa, prompts, opts);
    }
  });

  it('a Llama-style export end to end: <s> added as tokenizer(text) adds it, the target scored in context, generation stops on any end id of generation_config.json', async () => {
    const out = join(tmp.path, 'llama-model');
    const src = exportDir('llama', {}, { 'config.json': config, 'tokenizer_config.json': llama, 'generation_config.json': { eos_token_id: [2, 22], bos_token_id: 1 }, 'special_tokens_map.json': { bos_token: '<s>' } });
    await prepareModelDir({ from: src, out });
    // the side files are kept beside tokenizer.json and listed with their sha256
    for (const f of ['tokenizer_config.json', 'generation_config.json', 'config.json', 'special_tokens_map.json']) {
      assert.ok(existsSync(join(out, f)), f);
      assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(src, f)));
    }
    const { json } = await readModelDir(out);
    assert.ok(json.files && Object.keys(json.files).includes('generation_config.json'));
    const policy = await Policy.load(out);
    assert.deepEqual(policy.encodePrompt('12+34='), [1, 17, 9, 19, 10]);
    assert.deepEqual([...policy.tokenizer.stopIds], [2, 22]);
    // score("12+34=", "46") = log π(15 | <s> 12+34=): the token "46" of the full text, not "▁46"
    const item = policy.encodeContinuation('12+34=', '46');
    assert.deepEqual(item, { context: [1, 17, 9, 19, 10], target: [15] });
    const { scored } = await policy.score([item]);
    const original = await InferenceSession.create(buildDecoder(cfg));
    const full = await decoderLogits(original, cfg, [1, 17, 9, 19, 10, 15]);
    const want = logSoftmaxAt(full, 4 * V, V, 15);
    assert.ok(Math.abs(scored[0].logprob - want) <= 1e-5, `${scored[0].logprob} vs ${want}`);
    // an end id other than eos ends generation
    const head = { ...policy.head, b: policy.head.b.slice() };
    head.b[22] = 50;
    const [g] = await policy.withHead(head).generate(['12+34='], { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 0 });
    assert.deepEqual([g.tokens, g.finish, g.text], [[22], 'eos', '']);
  });

  it('positions come from config.json: prompt + maxTokens beyond max_position_embeddings is refused before running, naming the prompt', async () => {
    const policy = await Policy.load(join(tmp.path, 'llama-model'));
    assert.equal(policy.model.dims.maxPos, 24);
    await assert.rejects(policy.generate(['12+34='], { maxTokens: 20, temperature: 0, topK: 0, topP: 1, seed: 0, names: ['question q7'] }), (e: unknown) => e instanceof DlabInputError && /question q7 \(5 tokens\) \+ maxTokens 20: 25 tokens, but the model has only 24 positions/.test((e as Error).message));
  });

  it('without config.json positions are unknown: a sequence past the position table fails once, as an input error naming backbone.onnx (never retried)', async () => {
    const out = join(tmp.path, 'nolimits-model');
    await prepareModelDir({ from: exportDir('nolimits', {}, { 'tokenizer_config.json': llama }), out });
    const policy = await Policy.load(out);
    assert.equal(policy.model.dims.maxPos, null);
    const err = await policy.generate(['12+34='.repeat(5) + '12'], { maxTokens: 8, temperature: 0, topK: 0, topP: 1, seed: 0 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof DlabInputError, `expected an input error, got ${String(err)}`);
    assert.match((err as Error).message, /backbone\.onnx: .*(Gather|indices|idx)/);
    assert.ok(permanentError(err), 'classified as permanent (non-retryable)');
  });

  it('prepare --from names what is missing: no model.onnx (an older merged layout), no tokenizer.json', async () => {
    const dir = join(tmp.path, 'older');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'decoder_model_merged.onnx'), buildDecoder(cfg));
    await assert.rejects(prepareModelDir({ from: dir, out: join(tmp.path, 'x') }), /older: no model\.onnx; found decoder_model_merged\.onnx: an older Optimum layout/);
    const noTok = join(tmp.path, 'notok');
    mkdirSync(noTok, { recursive: true });
    writeFileSync(join(noTok, 'model.onnx'), buildDecoder(cfg));
    writeFileSync(join(noTok, 'tokenizer.model'), 'sp');
    await assert.rejects(prepareModelDir({ from: noTok, out: join(tmp.path, 'y') }), /notok: no tokenizer\.json \(found tokenizer\.model: save the fast tokenizer/);
  });
});

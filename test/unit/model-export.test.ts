import { strict as assert } from 'node:assert';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { Backbone } from '../../lib/model/backbone';
import { buildDecoder, GptConfig } from '../../lib/model/gpt';
import { prepareModelDir, readModelDir, writeModelDir, ModelJson } from '../../lib/model/model-dir';
import { makeHead } from '../../lib/model/head';
import { Policy } from '../../lib/model/policy';
import { prepareDecoder } from '../../lib/model/prepare';
import { BuiltinTokenizer, saveBuiltinTokenizer } from '../../lib/model/tokenizers';
import { builtinTokenizerText } from '../../lib/model/tokenizers';
import { DlabInputError } from '../../lib/errors';
import { maxAbsDiff } from '../helpers/decoder';
import { halfDecoder, roundedDecoder, writeExternal } from '../helpers/hf-export';
import { tempDir } from '../helpers/tmp';

const DT = onnx.TensorProto.DataType;
const base: GptConfig = { vocab: 100, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 64, seed: 9 };
const prompts = ['12+345=', '7*8=', 'a'];

/** What a policy computes: greedy ids, each step's logits [B, V], and teacher-forced log-probs of fixed targets. */
async function run(policy: Policy) {
  const steps: Float32Array[] = [];
  const gens = await policy.generate(prompts, { maxTokens: 6, temperature: 0, topK: 0, topP: 1, seed: 1, onStep: (_, l) => steps.push(l.slice()) });
  const { scored } = await policy.score(prompts.map((p, i) => ({ context: policy.encodePrompt(p), target: [20 + i, 31, 45, 7] })));
  const logits = new Float32Array(steps.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of steps) logits.set(s, o), (o += s.length);
  const logprobs = scored.flatMap((s) => Array.from(s.tokenLogprobs));
  return { ids: gens.map((g) => g.tokens), logits, logprobs };
}

describe('prepare: Optimum exports with external data and 16-bit weights', function () {
  this.timeout(120_000);
  let dir: ReturnType<typeof tempDir>;
  let tok: string;
  before(() => {
    dir = tempDir('model-export');
    tok = join(dir.path, 'tok.json');
    saveBuiltinTokenizer(new BuiltinTokenizer({}), tok);
  });
  after(() => dir.cleanup());

  /** An inline export of `bytes` prepared and loaded: the reference. */
  async function inlinePolicy(name: string, bytes: Uint8Array): Promise<Policy> {
    const f = join(dir.path, `${name}.onnx`);
    writeFileSync(f, bytes);
    await prepareModelDir({ onnx: f, tokenizer: tok, out: join(dir.path, `${name}-model`) });
    return Policy.load(join(dir.path, `${name}-model`));
  }

  describe('external data: the same model as the inline export, bit for bit', () => {
    const cfg = { ...base, tied: false, headBias: true };
    let reference: Awaited<ReturnType<typeof run>>;
    before(async () => (reference = await run(await inlinePolicy('untied', buildDecoder(cfg)))));

    it('(a) one model.onnx_data: copied beside backbone.onnx, listed in files; same ids, logits and log-probs', async () => {
      const onnxFile = writeExternal(buildDecoder(cfg), join(dir.path, 'single'), 'single');
      const out = join(dir.path, 'single-model');
      const json = await prepareModelDir({ onnx: onnxFile, tokenizer: tok, out });
      assert.deepEqual(Object.keys(json.files ?? {}), ['model.onnx_data']);
      assert.deepEqual(json.backboneData, ['model.onnx_data']);
      assert.equal(json.source.dtype, 'float32');
      assert.equal(json.source.upcast, false);
      const backbone = onnx.ModelProto.decode(readFileSync(join(out, 'backbone.onnx')));
      assert.ok((backbone.graph!.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL));
      const got = await run(await Policy.load(out));
      assert.deepEqual(got.ids, reference.ids);
      assert.deepEqual(got.logits, reference.logits);
      assert.deepEqual(got.logprobs, reference.logprobs);
      // ONNX Runtime finds the data file relative to backbone.onnx, wherever the directory is moved
      const moved = join(dir.path, 'moved', 'single-model');
      mkdirSync(join(dir.path, 'moved'));
      cpSync(out, moved, { recursive: true });
      const b = await Backbone.load(join(moved, 'backbone.onnx'), 'moved-single', json.dims);
      assert.ok(b.fused, 'the decoding form (created from bytes) finds the data file beside backbone.onnx too');
      const h = await b.run(BigInt64Array.from([5n, 6n]), BigInt64Array.from([0n, 1n]), BigInt64Array.from([1n, 1n]), 1, 2, b.emptyCache(1));
      assert.equal(h.hidden.length, 2 * 32);
      assert.ok(h.hidden.every(Number.isFinite));
    });

    it('(b) one file per tensor (every tensor of ≥ 256 bytes: the head weight and bias too): the removed head weight’s file is not copied; same results', async () => {
      const onnxFile = writeExternal(buildDecoder(cfg), join(dir.path, 'per-tensor'), 'per-tensor', 256);
      const out = join(dir.path, 'per-tensor-model');
      const json = await prepareModelDir({ onnx: onnxFile, tokenizer: tok, out });
      const names = Object.keys(json.files ?? {});
      assert.ok(names.includes('wte') && names.includes('h.0.attn.q.weight'));
      assert.ok(!names.includes('lm_head.weight') && !names.includes('lm_head.bias'));
      assert.ok(!existsSync(join(out, 'lm_head.weight')));
      assert.deepEqual(readdirSync(out).sort(), ['backbone.onnx', 'head.arrow', 'model.json', 'tokenizer.json', ...names].sort());
      const got = await run(await Policy.load(out));
      assert.deepEqual(got.ids, reference.ids);
      assert.deepEqual(got.logits, reference.logits);
      assert.deepEqual(got.logprobs, reference.logprobs);
    });

    it('a tied float32 head ([V, d] embedding, external) is read straight from the data file: same results as inline', async () => {
      const want = await run(await inlinePolicy('tied', buildDecoder(base)));
      const out = join(dir.path, 'tied-ext-model');
      await prepareModelDir({ onnx: writeExternal(buildDecoder(base), join(dir.path, 'tied-ext'), 'single'), tokenizer: tok, out });
      const got = await run(await Policy.load(out));
      assert.deepEqual(got.ids, want.ids);
      assert.deepEqual(got.logits, want.logits);
      assert.deepEqual(got.logprobs, want.logprobs);
    });

    it('two exports with the same graph and other weights are two backbones (the data files are part of its identity)', async () => {
      const a = await Policy.load(join(dir.path, 'single-model'));
      const other = writeExternal(buildDecoder({ ...cfg, seed: 10 }), join(dir.path, 'single-other'), 'single');
      await prepareModelDir({ onnx: other, tokenizer: tok, out: join(dir.path, 'single-other-model') });
      const b = await Policy.load(join(dir.path, 'single-other-model'));
      assert.equal(a.model.sha256.backbone, b.model.sha256.backbone);
      assert.notDeepEqual((await run(a)).logits, (await run(b)).logits);
    });

    it('a location with ".." is refused, naming the tensor', async () => {
      const d = join(dir.path, 'evil');
      const f = writeExternal(buildDecoder(cfg), d, 'per-tensor');
      const m = onnx.ModelProto.decode(readFileSync(f));
      m.graph!.initializer!.find((t) => t.name === 'h.1.mlp.c_fc.weight')!.externalData![0].value = '../secret.bin';
      writeFileSync(f, onnx.ModelProto.encode(m).finish());
      await assert.rejects(prepareModelDir({ onnx: f, tokenizer: tok, out: join(dir.path, 'evil-model') }), (e: Error) => e instanceof DlabInputError && /tensor h\.1\.mlp\.c_fc\.weight: external data location "\.\.\/secret\.bin" must be a relative path/.test(e.message));
      m.graph!.initializer!.find((t) => t.name === 'h.1.mlp.c_fc.weight')!.externalData![0].value = '/etc/passwd';
      writeFileSync(f, onnx.ModelProto.encode(m).finish());
      await assert.rejects(prepareModelDir({ onnx: f, tokenizer: tok, out: join(dir.path, 'evil-model') }), /tensor h\.1\.mlp\.c_fc\.weight: external data location "\/etc\/passwd"/);
      assert.ok(!existsSync(join(dir.path, 'evil-model')));
    });

    it('a missing external data file is refused, naming it and the tensor', async () => {
      const d = join(dir.path, 'missing');
      const f = writeExternal(buildDecoder(cfg), d, 'single');
      unlinkSync(join(d, 'model.onnx_data'));
      await assert.rejects(prepareModelDir({ onnx: f, tokenizer: tok, out: join(dir.path, 'missing-model') }), (e: Error) => e instanceof DlabInputError && /tensor \S+: its external data file \S*missing\/model\.onnx_data cannot be read \(no such file\)/.test(e.message));
    });

    it('a data file too short for a tensor’s range is refused, naming the file', async () => {
      const d = join(dir.path, 'short');
      const f = writeExternal(buildDecoder(cfg), d, 'single');
      writeFileSync(join(d, 'model.onnx_data'), readFileSync(join(d, 'model.onnx_data')).subarray(0, 5000));
      await assert.rejects(prepareModelDir({ onnx: f, tokenizer: tok, out: join(dir.path, 'short-model') }), /bytes \d+…\d+ of \S+short\/model\.onnx_data asked for, the file has 5000/);
    });

    it('a data file changed or removed after prepare is refused on load, naming it', async () => {
      const d = join(dir.path, 'changed');
      const f = writeExternal(buildDecoder(cfg), d, 'single');
      const out = join(dir.path, 'changed-model');
      await prepareModelDir({ onnx: f, tokenizer: tok, out });
      await Policy.load(out);
      const data = join(out, 'model.onnx_data');
      const bytes = readFileSync(data);
      bytes[100] ^= 0x01;
      writeFileSync(data, bytes);
      await assert.rejects(Policy.load(out), (e: Error) => e instanceof DlabInputError && e.message.startsWith(`${data}: sha256 is`) && /the file changed after the model directory was written/.test(e.message));
      unlinkSync(data);
      await assert.rejects(readModelDir(out), (e: Error) => e instanceof DlabInputError && e.message.startsWith(`${data}: the model's file model.onnx_data is missing`));
    });
  });

  describe('16-bit weights are up-cast to float32', () => {
    const cfg = base;
    let rounded16: Awaited<ReturnType<typeof run>>;
    let roundedB16: Awaited<ReturnType<typeof run>>;
    let exact: Awaited<ReturnType<typeof run>>;
    before(async () => {
      rounded16 = await run(await inlinePolicy('rounded-f16', roundedDecoder(buildDecoder(cfg), 'float16')));
      roundedB16 = await run(await inlinePolicy('rounded-bf16', roundedDecoder(buildDecoder(cfg), 'bfloat16')));
      exact = await run(await inlinePolicy('exact', buildDecoder(cfg)));
    });

    /** Prepares, loads and compares with the rounded float32 model (tolerance `tol`) and the unrounded one (`loose`). */
    async function check(name: string, onnxFile: string, dtype: string, want: () => Awaited<ReturnType<typeof run>>, tol: number, loose: number) {
      const out = join(dir.path, `${name}-model`);
      const json = await prepareModelDir({ onnx: onnxFile, tokenizer: tok, out });
      assert.equal(json.source.dtype, dtype);
      assert.equal(json.source.upcast, true);
      assert.deepEqual(json.backboneData, ['backbone.onnx_data']);
      const backbone = onnx.ModelProto.decode(readFileSync(join(out, 'backbone.onnx')));
      assert.ok(!JSON.stringify(onnx.ModelProto.toObject(backbone, { enums: String, bytes: () => '' })).match(/FLOAT16/), 'no 16-bit type is left in the backbone');
      const policy = await Policy.load(out);
      assert.ok(policy.backbone.fused, 'the up-cast backbone runs its decoding form (the cache through its no-op Casts)');
      const got = await run(policy);
      const ref = want();
      assert.deepEqual(got.ids, ref.ids);
      const dLogits = maxAbsDiff(got.logits, ref.logits);
      const dLogprobs = maxAbsDiff(got.logprobs, ref.logprobs);
      assert.ok(dLogits <= tol && dLogprobs <= tol, `vs rounded float32: max |Δlogits| ${dLogits}, |Δlog-prob| ${dLogprobs}`);
      const eLogits = maxAbsDiff(got.logits, exact.logits);
      const eLogprobs = maxAbsDiff(got.logprobs, exact.logprobs);
      assert.ok(eLogits <= loose && eLogprobs <= loose, `vs unrounded float32: max |Δlogits| ${eLogits}, |Δlog-prob| ${eLogprobs}`);
      if (process.env.DLAB_PRINT_TOLERANCE) console.log(name, { dLogits, dLogprobs, eLogits, eLogprobs });
      return { dLogits, dLogprobs, eLogits, eLogprobs };
    }

    it('(c) float16 throughout (weights, KV cache, logits; Constant and ConstantOfShape values)', async () => {
      const f = join(dir.path, 'f16.onnx');
      writeFileSync(f, halfDecoder(buildDecoder(cfg), 'float16', 'half'));
      await check('f16', f, 'float16', () => rounded16, 1e-6, 1e-3);
    });

    it('(d) float16 weights, float32 inputs and outputs (Cast after the inputs, Cast(to = FLOAT) before logits and present.*)', async () => {
      const f = join(dir.path, 'f16-io.onnx');
      writeFileSync(f, halfDecoder(buildDecoder(cfg), 'float16', 'float'));
      await check('f16-io', f, 'float16', () => rounded16, 1e-6, 1e-3);
    });

    it('(e) bfloat16 throughout', async () => {
      const f = join(dir.path, 'bf16.onnx');
      writeFileSync(f, halfDecoder(buildDecoder(cfg), 'bfloat16', 'half'));
      await check('bf16', f, 'bfloat16', () => roundedB16, 1e-6, 1e-2);
    });

    it('float16 weights as external data (one file, and one per tensor) are streamed to float32 backbone.onnx_data', async () => {
      for (const layout of ['single', 'per-tensor'] as const) {
        const f = writeExternal(halfDecoder(buildDecoder(cfg), 'float16', 'float'), join(dir.path, `f16-ext-${layout}`), layout, layout === 'single' ? 1024 : 256);
        await check(`f16-ext-${layout}`, f, 'float16', () => rounded16, 1e-6, 1e-3);
        assert.deepEqual(readdirSync(join(dir.path, `f16-ext-${layout}-model`)).sort(), ['backbone.onnx', 'backbone.onnx_data', 'head.arrow', 'model.json', 'tokenizer.json']);
      }
    });

    it('--dtype other than float32 is refused with the reason', async () => {
      await assert.rejects(prepareModelDir({ onnx: join(dir.path, 'f16.onnx'), tokenizer: tok, out: join(dir.path, 'x'), dtype: 'float16' }), (e: Error) => e instanceof DlabInputError && /--dtype "float16": only float32 is supported/.test(e.message));
    });

    it('Cast, EyeLike/RandomNormalLike dtype, ConstantOfShape values, value_info and graph output types all become float32', () => {
      const H = DT.FLOAT16;
      const vi = (name: string, t: number, dims: number[]) => ({ name, type: { tensorType: { elemType: t, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
      const half = (v: number[]) => ({ dims: [v.length], dataType: H, rawData: new Uint8Array(Uint16Array.from(v).buffer) });
      const attr = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
      const tensorAttr = (name: string, t: onnx.ITensorProto) => ({ name, type: onnx.AttributeProto.AttributeType.TENSOR, t });
      const model: onnx.IModelProto = {
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        graph: {
          name: 'g',
          input: [vi('x', DT.FLOAT, [2, 2])],
          output: [vi('logits', DT.FLOAT, [2, 3]), vi('extra', H, [2, 2])],
          valueInfo: [vi('xh', H, [2, 2])],
          initializer: [{ name: 'W', dims: [2, 3], dataType: H, rawData: new Uint8Array(Uint16Array.from([0x3c00, 0, 0x4000, 0, 0x3c00, 0xbc00]).buffer) }, { name: 'shape', dims: [2], dataType: DT.INT64, rawData: new Uint8Array(new BigInt64Array([2n, 2n]).buffer) }],
          node: [
            { opType: 'Cast', input: ['x'], output: ['xh'], attribute: [attr('to', H)] },
            { opType: 'EyeLike', input: ['xh'], output: ['eye'], attribute: [attr('dtype', H)] },
            { opType: 'RandomNormalLike', input: ['xh'], output: ['noise'], attribute: [attr('dtype', DT.BFLOAT16), { name: 'scale', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0 }] },
            { opType: 'ConstantOfShape', input: ['shape'], output: ['c'], attribute: [tensorAttr('value', half([0x3800]))] },
            { opType: 'Add', input: ['eye', 'c'], output: ['e1'] },
            { opType: 'Add', input: ['e1', 'noise'], output: ['extra'] },
            { opType: 'MatMul', input: ['xh', 'W'], output: ['lh'] },
            { opType: 'Cast', input: ['lh'], output: ['logits'], attribute: [attr('to', DT.FLOAT)] },
          ],
        },
      };
      const p = prepareDecoder(onnx.ModelProto.encode(model).finish(), 'tiny');
      assert.deepEqual(Array.from(p.W), [1, 0, 0, 1, 2, -1]); // W [V=3, d=2] = Mᵀ
      assert.equal(p.upcast, true);
      assert.equal(p.sourceDtype, 'float16');
      const g = onnx.ModelProto.decode(p.backbone).graph!;
      const text = JSON.stringify(onnx.ModelProto.toObject(onnx.ModelProto.decode(p.backbone), { enums: String, bytes: () => '' }));
      assert.ok(!/FLOAT16/.test(text));
      const node = (op: string) => g.node!.find((n) => n.opType === op)!;
      assert.equal(Number(node('Cast').attribute![0].i), DT.FLOAT);
      assert.equal(Number(node('EyeLike').attribute![0].i), DT.FLOAT);
      assert.equal(Number(node('RandomNormalLike').attribute!.find((a) => a.name === 'dtype')!.i), DT.FLOAT);
      const c = node('ConstantOfShape').attribute![0].t!;
      assert.equal(c.dataType, DT.FLOAT);
      assert.deepEqual(Array.from(new Float32Array(new Uint8Array(c.rawData!).buffer)), [0.5]);
      assert.equal(g.valueInfo![0].type!.tensorType!.elemType, DT.FLOAT);
      assert.ok(!g.node!.some((n) => n.opType === 'MatMul'), 'the head MatMul and the Cast before logits are gone');
    });
  });

  describe('writeModelDir: further files', () => {
    const parts = () => ({
      backbone: prepareDecoder(buildDecoder(base), 't').backbone,
      head: makeHead(new Float32Array(100 * 32), undefined, 100, 32),
      tokenizerJson: builtinTokenizerText(new BuiltinTokenizer({})),
      dims: { vocab: 100, dModel: 32, nLayer: 2, nHead: 4, headDim: 8, maxPos: 64 },
      tied: true,
      hasBias: false,
      source: { kind: 'test' },
    });

    it('are copied in (subdirectories too), hashed into files and checked on every read', async () => {
      const src = join(dir.path, 'extras');
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'tokenizer_config.json'), '{"eos_token": "<eos>"}');
      writeFileSync(join(src, 'gen.json'), '{}');
      const out = join(dir.path, 'with-extras');
      const json: ModelJson = await writeModelDir(out, { ...parts(), files: [{ name: 'tokenizer_config.json', from: join(src, 'tokenizer_config.json') }, { name: 'configs/generation_config.json', from: join(src, 'gen.json') }] });
      assert.deepEqual(Object.keys(json.files!), ['configs/generation_config.json', 'tokenizer_config.json']);
      assert.deepEqual(json.backboneData, []);
      const r = await readModelDir(out);
      assert.equal(readFileSync(r.files['tokenizer_config.json'], 'utf8'), '{"eos_token": "<eos>"}');
      writeFileSync(join(out, 'tokenizer_config.json'), '{"eos_token": "<pad>"}');
      await assert.rejects(readModelDir(out), (e: Error) => e instanceof DlabInputError && e.message.startsWith(`${join(out, 'tokenizer_config.json')}: sha256 is`));
    });

    it('names outside the directory, core names and a missing source are refused; nothing is written', async () => {
      const out = join(dir.path, 'bad-extras');
      for (const name of ['../x.json', '/abs.json', 'a/../b', 'model.json', 'tokenizer.json']) {
        await assert.rejects(writeModelDir(out, { ...parts(), files: [{ name, from: tok }] }), (e: Error) => e instanceof DlabInputError && e.message.includes(`"${name}" cannot name a file of a model directory`));
      }
      await assert.rejects(writeModelDir(out, { ...parts(), files: [{ name: 'x.json', from: join(dir.path, 'nope.json') }] }), /nope\.json: cannot read it \(no such file\)/);
      assert.ok(!existsSync(out));
    });
  });
});

import { strict as assert } from 'node:assert';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { buildDecoder, buildEncoder, GptConfig } from '../../lib/model/gpt';
import { Backbone } from '../../lib/model/backbone';
import { buildMlp } from '../../lib/model/mlp';
import { headLogits, makeHead } from '../../lib/model/head';
import { OrtHeadGradient } from '../../lib/model/head-gradient';
import { buildModelDir, prepareModelDir } from '../../lib/model/model-dir';
import { leftPadBatch, Policy } from '../../lib/model/policy';
import { prepareDecoder } from '../../lib/model/prepare';
import { BuiltinTokenizer, saveBuiltinTokenizer } from '../../lib/model/tokenizers';
import { DlabInputError } from '../../lib/errors';
import { decoderLogits, maxAbsDiff, maxRelDiff, assertSlotsMatchGrowing } from '../helpers/decoder';
import { capacityFor, makeDecoder } from '../../lib/model/decoder';
import { decodingGraph } from '../../lib/model/decode-graph';
import { tempDir } from '../helpers/tmp';

const base: GptConfig = { vocab: 100, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 96, seed: 5 };

describe('model runtime (lib/model) on ONNX Runtime', function () {
  this.timeout(60_000);
  let dir: ReturnType<typeof tempDir>;
  before(() => (dir = tempDir('model')));
  after(() => dir.cleanup());

  describe('prepare: backbone + head reproduce the original logits', () => {
    for (const [tied, headBias] of [[true, false], [false, false], [true, true], [false, true]]) {
      it(`${tied ? 'tied' : 'untied'} embeddings, ${headBias ? 'with' : 'without'} a head bias: max |Δlogits| ≤ 1e-4`, async () => {
        const cfg = { ...base, tied, headBias };
        const decoder = buildDecoder(cfg);
        const p = prepareDecoder(decoder, 'test');
        assert.deepEqual([p.vocab, p.dModel, p.tied, !!p.b], [100, 32, tied, headBias]);
        const original = await InferenceSession.create(decoder);
        const ids = [1, 17, 42, 5, 99, 3, 60];
        const want = await decoderLogits(original, cfg, ids);
        const backbone = await InferenceSession.create(p.backbone);
        assert.ok(!backbone.outputNames.includes('logits') && backbone.outputNames.includes('last_hidden_state'));
        const feeds: Record<string, Tensor> = {
          input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, 7]),
          attention_mask: new Tensor('int64', new BigInt64Array(7).fill(1n), [1, 7]),
          position_ids: new Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, 7]),
        };
        for (let i = 0; i < 2; i++) for (const k of ['key', 'value']) feeds[`past_key_values.${i}.${k}`] = new Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
        const h = (await backbone.run(feeds)).last_hidden_state.data as Float32Array;
        const got = await headLogits(makeHead(p.W, p.b, p.vocab, p.dModel), h, 7);
        const diff = maxAbsDiff(got, want);
        assert.ok(diff <= 1e-4, `max |Δ| = ${diff}`);
      });
    }

    it('the untied head weight leaves the backbone; the tied embedding stays (the backbone still embeds with it)', () => {
      const untied = onnx.ModelProto.decode(prepareDecoder(buildDecoder({ ...base, tied: false }), 't').backbone);
      const names = (untied.graph!.initializer ?? []).map((t) => t.name);
      assert.ok(!names.includes('lm_head.weight'));
      const tied = onnx.ModelProto.decode(prepareDecoder(buildDecoder(base), 't').backbone);
      assert.ok((tied.graph!.initializer ?? []).some((t) => t.name === 'wte'));
    });

    it('a graph without a recognisable head is refused with the reason', () => {
      assert.throws(() => prepareDecoder(new Uint8Array([1, 2, 3]), 'junk.onnx'), /junk\.onnx: not an ONNX model/);
      const m = onnx.ModelProto.decode(buildDecoder(base));
      m.graph!.output = m.graph!.output!.filter((o) => o.name !== 'logits');
      assert.throws(() => prepareDecoder(onnx.ModelProto.encode(m).finish(), 'nologits.onnx'), /nologits\.onnx: cannot find the output head: no graph output named "logits"/);
    });
  });

  describe('the decoding form (decode-graph.ts)', () => {
    /** the prepared backbone of `layout`, with a Shape of past_key_values.0.key made a graph output (a reader besides its Concat) */
    const withPastShape = (layout: Parameters<typeof buildDecoder>[2]) => {
      const m = onnx.ModelProto.decode(prepareDecoder(buildDecoder(base, undefined, layout), 't').backbone);
      m.graph!.node!.push({ opType: 'Shape', input: ['past_key_values.0.key'], output: ['past_len_probe'], name: 'probe' });
      m.graph!.output!.push({ name: 'past_len_probe', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimValue: 4 }] } } } });
      return onnx.ModelProto.encode(m).finish();
    };

    it('adds the new keys/values and the last logits; refuses a graph whose positions may come from the cache length, naming the reader', () => {
      const plain = decodingGraph(prepareDecoder(buildDecoder(base), 't').backbone, 2);
      assert.ok('bytes' in plain);
      const out = onnx.ModelProto.decode((plain as { bytes: Uint8Array }).bytes).graph!.output!.map((o) => o.name);
      assert.deepEqual(out.filter((n) => n!.startsWith('dlab.')), ['dlab.new', 'dlab.logits', 'dlab.probs']);
      // position_ids fed: a Shape of the past is harmless (the causal mask it may build allows every slot)
      assert.ok('bytes' in decodingGraph(withPastShape({}), 2));
      const refused = decodingGraph(withPastShape({ positionIds: 'from-mask' }), 2);
      assert.ok('reason' in refused && /no position_ids input, and past_key_values\.0\.key is read by Shape besides its Concat/.test(refused.reason), JSON.stringify(refused));
      // values of another head size than the keys (declared): one stacked dlab.new cannot hold both
      const m = onnx.ModelProto.decode(prepareDecoder(buildDecoder(base), 't').backbone);
      const v = m.graph!.input!.find((i) => i.name === 'past_key_values.1.value')!;
      v.type!.tensorType!.shape!.dim![3] = { dimValue: 12 };
      const mixed = decodingGraph(onnx.ModelProto.encode(m).finish(), 2);
      assert.ok('reason' in mixed && /axis 3 differs between layers or between keys and values \(8, 12\)/.test(mixed.reason), JSON.stringify(mixed));
    });

    it('a backbone refused the decoding form runs as exported and keeps the reason', async () => {
      const d = join(dir.path, 'unfused');
      await buildModelDir({ ...base, tokenizer: {} }, d);
      writeFileSync(join(d, 'probe.onnx'), withPastShape({ positionIds: 'from-mask' }));
      const b = await Backbone.load(join(d, 'probe.onnx'), null, { ...base, headDim: 8 });
      assert.equal(b.fused, false);
      assert.match(b.unfusedReason ?? '', /read by Shape besides its Concat/);
      const h = await b.run(BigInt64Array.from([5n, 6n]), BigInt64Array.from([0n, 1n]), BigInt64Array.from([1n, 1n]), 1, 2, b.emptyCache(1));
      assert.equal(h.hidden.length, 2 * 32);
      await b.release();
    });
  });

  describe('a model directory (build, prepare a user export, load)', () => {
    let policy: Policy;
    before(async () => {
      await buildModelDir({ ...base, tokenizer: {} }, join(dir.path, 'built'));
      policy = await Policy.load(join(dir.path, 'built'));
    });

    it('`prepare` of an exported decoder file gives the same model as `build` (same backbone and head bytes)', async () => {
      const onnxFile = join(dir.path, 'export.onnx');
      writeFileSync(onnxFile, buildDecoder(base));
      const tokFile = join(dir.path, 'tok.json');
      saveBuiltinTokenizer(new BuiltinTokenizer({}), tokFile);
      const json = await prepareModelDir({ onnx: onnxFile, tokenizer: tokFile, out: join(dir.path, 'prepared') });
      assert.deepEqual(json.dims, { vocab: 100, dModel: 32, nLayer: 2, nHead: 4, headDim: 8, maxPos: null });
      assert.equal(json.sha256.backbone, policy.model.sha256.backbone);
      assert.deepEqual(readFileSync(join(dir.path, 'prepared', 'backbone.onnx')), readFileSync(join(dir.path, 'built', 'backbone.onnx')));
    });

    it('KV-cache generation equals full recomputation: logits within 1e-4 (greedy), softmax(z / T) within 1e-5 relative (sampled) at every step, for left-padded prompts', async () => {
      const original = await InferenceSession.create(buildDecoder(base));
      const prompts = ['12+345=', '7*8=', 'a'];
      for (const temperature of [0, 0.7]) {
        const steps: Float32Array[] = [];
        const gens = await policy.generate(prompts, { maxTokens: 6, temperature, topK: 0, topP: 1, seed: 3, onStep: (_, l) => steps.push(l.slice()) });
        let worst = 0;
        for (let b = 0; b < prompts.length; b++) {
          const seq = [...gens[b].promptTokens];
          for (let t = 0; t < gens[b].tokens.length; t++) {
            const full = await decoderLogits(original, base, seq);
            const z = full.subarray((seq.length - 1) * 100, seq.length * 100);
            // greedy steps see the logits; sampled ones the distribution, here softmax(z / T) in float64
            const max = Math.max(...z);
            const e = Array.from(z, (x) => Math.exp((x - max) / temperature));
            const sum = e.reduce((x, y) => x + y, 0);
            const want = temperature === 0 ? z : e.map((x) => x / sum);
            worst = Math.max(worst, (temperature === 0 ? maxAbsDiff : maxRelDiff)(steps[t].subarray(b * 100, (b + 1) * 100), want));
            seq.push(gens[b].tokens[t]);
          }
        }
        assert.ok(worst <= (temperature === 0 ? 1e-4 : 1e-5), `T ${temperature}: max ${temperature === 0 ? '|Δ logit|' : '|Δp| / p'} over all steps = ${worst}`);
      }
    });

    it('the decoding form computes dlab.probs = softmax(logits · τ⁻¹) only when τ⁻¹ > 0: [0, 0] when fed 0 (a greedy step)', async () => {
      const bb = policy.backbone;
      assert.ok(bb.fused);
      const feeds = (invT: number) => ({
        ...bb.emptyCache(2),
        input_ids: new Tensor('int64', BigInt64Array.from([5n, 6n, 7n, 8n]), [2, 2]),
        attention_mask: new Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [2, 2]),
        position_ids: new Tensor('int64', BigInt64Array.from([0n, 1n, 0n, 1n]), [2, 2]),
        'dlab.head.W': new Tensor('float32', policy.head.W, [100, 32]),
        'dlab.head.b': new Tensor('float32', policy.head.b, [100]),
        'dlab.inv_temperature': new Tensor('float32', Float32Array.from([invT]), [1]),
      });
      const greedy = await bb.session.run(feeds(0), ['dlab.logits', 'dlab.probs']);
      assert.deepEqual([greedy['dlab.logits'].dims, greedy['dlab.probs'].dims], [[2, 100], [0, 0]]);
      const sampled = await bb.session.run(feeds(2), ['dlab.logits', 'dlab.probs']);
      const z = sampled['dlab.logits'].data as Float32Array;
      const p = sampled['dlab.probs'].data as Float32Array;
      assert.deepEqual(sampled['dlab.probs'].dims, [2, 100]);
      for (let b = 0; b < 2; b++) {
        const row = z.subarray(b * 100, (b + 1) * 100);
        const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
        const e = Array.from(row, (x) => Math.exp((x - max) * 2));
        const sum = e.reduce((x, y) => x + y, 0);
        assert.ok(maxRelDiff(p.subarray(b * 100, (b + 1) * 100), e.map((x) => x / sum)) <= 1e-5);
      }
    });

    it('the KV cache in slots (the decoding form, default) samples what the growing cache does, logits and probabilities within 1e-5', async () => {
      await assertSlotsMatchGrowing(policy, ['12+345=', '7*8=', 'a', ''], { maxTokens: 20, temperature: 1, topK: 30, topP: 0.95, seed: 9, stop: ['\n\n'] });
      await assertSlotsMatchGrowing(policy, ['1+1='], { maxTokens: 8, temperature: 0, topK: 0, topP: 1, seed: 1 });
    });

    it('the slots grow by g = max(16, ⌈1.15·√n⌉) rounded up to 16, or to the generation’s limit when less than g would be left', () => {
      // from a full capacity c, n = c + 1 slots needed: c + 16 below n ≈ 190, c + 32 at 512, c + 80 at 4096
      assert.deepEqual([capacityFor(10, 1000), capacityFor(33, 1000), capacityFor(49, 1000), capacityFor(513, 1000), capacityFor(4097, 10_000)], [32, 48, 64, 544, 4176]);
      // a 32-token rollout after a 70-token prompt: its limit (101) at once, not 96 and then 101
      assert.deepEqual([capacityFor(70, 101), capacityFor(70, 111), capacityFor(70, 112), capacityFor(140, 149), capacityFor(149, 149)], [101, 111, 96, 149, 149]);
      // never below what is needed, never past the limit, and no last growth of fewer than 16 slots
      for (let limit = 1; limit <= 700; limit++) {
        let c = 0;
        for (let n = 1; n <= limit; n++) {
          if (n <= c) continue;
          const next = capacityFor(n, limit);
          assert.ok(next >= n && next <= limit, `n ${n}, limit ${limit}: ${next}`);
          assert.ok(c === 0 || next === limit || limit - next >= 16, `n ${n}, limit ${limit}: ${c} → ${next}`);
          c = next;
        }
      }
    });

    it('slots and the growing cache give the same logits (≤ 1e-5) token after token, across 7 capacity growths (32 → 48 → … → 128 → 149 slots, rows moved within the buffers)', async () => {
      // teacher-forced: the same 140 tokens fed after left-padded prompts of 3 and 10 tokens, on the
      // same model with 192 positions
      await buildModelDir({ ...base, maxPos: 192, tokenizer: {} }, join(dir.path, 'long'));
      const long = await Policy.load(join(dir.path, 'long'));
      const { mask, ids, positions, L } = leftPadBatch([[1, 5, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], long.tokenizer.padId);
      const n = 140;
      assert.ok(long.backbone.fused);
      const slots = makeDecoder(long.backbone, long.head, mask, 2, n, 'slots');
      const grow = makeDecoder(long.backbone, long.head, mask, 2, n, 'grow');
      let [a, b] = [await slots.step(ids, positions, L), await grow.step(ids, positions, L)];
      let worst = maxAbsDiff(a, b);
      for (let t = 0; t < n - 1; t++) {
        const next = BigInt64Array.from([BigInt(4 + (t % 90)), BigInt(4 + ((t * 7) % 90))]);
        const pos = BigInt64Array.from([BigInt(3 + t), BigInt(10 + t)]);
        [a, b] = [await slots.step(next, pos, 1), await grow.step(next, pos, 1)];
        worst = Math.max(worst, maxAbsDiff(a, b));
      }
      assert.equal(a.length, 2 * 100);
      assert.equal((slots as unknown as { capacity: number }).capacity, 149);
      assert.ok(worst <= 1e-5, `max |Δ logit| over ${n} passes = ${worst}`);
    });

    it('a head that gives a NaN logit fails generation and scoring once, as an input error naming the backbone and the prompt, token or item', async () => {
      const head = { ...policy.head, b: policy.head.b.slice() };
      head.b[17] = NaN;
      for (const kvCache of ['slots', 'grow'] as const) {
        await assert.rejects(
          policy.withHead(head).generate(['1+1=', '2+2='], { maxTokens: 4, temperature: 1, topK: 0, topP: 1, seed: 1, names: ['q1', 'q2'], kvCache }),
          (err: Error) => err instanceof DlabInputError && /backbone\.onnx: q1, generated token 0: the logits hold a NaN/.test(err.message),
        );
      }
      await assert.rejects(policy.generate(['1+1='], { maxTokens: 2, temperature: -1, topK: 0, topP: 1, seed: 1 }), (err: Error) => err instanceof DlabInputError && /temperature -1: expected a number ≥ 0/.test(err.message));
      await assert.rejects(
        policy.withHead(head).score([{ context: [1, 5], target: [17, 3] }]),
        (err: Error) => err instanceof DlabInputError && /backbone\.onnx: score item 0: the logits hold a NaN/.test(err.message),
      );
    });

    it('a pass without a cache (scoring, embeddings) fetches only the hidden state: the same bytes as a pass fetching the cache too', async () => {
      const { ids, positions, mask, L } = leftPadBatch([[1, 17, 42, 5], [9, 8, 7, 6, 5, 4, 3]], 0);
      const both = await policy.backbone.run(ids, positions, mask, 2, L, policy.backbone.emptyCache(2));
      const session = policy.backbone.session as unknown as { run: (...a: unknown[]) => Promise<unknown> };
      const run = session.run;
      const fetched: unknown[] = [];
      session.run = function (this: unknown, ...a: unknown[]) {
        fetched.push(a[1]);
        return run.apply(this, a);
      };
      let hidden: Float32Array;
      try {
        hidden = await policy.backbone.hidden(ids, positions, mask, 2, L);
      } finally {
        session.run = run;
      }
      assert.deepEqual(fetched, [['last_hidden_state']]);
      assert.equal(hidden.length, 2 * L * 32);
      assert.deepEqual(Buffer.from(hidden.buffer, hidden.byteOffset, hidden.byteLength), Buffer.from(both.hidden.buffer, both.hidden.byteOffset, both.hidden.byteLength));
      assert.equal(Object.keys(both.cache).length, 4);
    });

    it('results do not depend on the intra-op thread count: 1–4 threads sample the same tokens and log-probs and score the same hidden states, bit for bit; so does the head gradient', async function () {
      this.timeout(120_000);
      // wide enough that ONNX Runtime splits the MatMuls between threads (dModel 128, 8 prompts of up to 60 tokens)
      const wide = join(dir.path, 'wide');
      await buildModelDir({ ...base, dModel: 128, nHead: 4, dFf: 512, maxPos: 128, tokenizer: {} }, wide);
      const prompts = Array.from({ length: 8 }, (_, i) => `question ${i}: what is ${i} + ${3 * i}? `.repeat(1 + (i % 3)));
      const g = new Float32Array(300 * 100).map((_, i) => Math.sin(i * 0.37));
      const h = new Float32Array(300 * 64).map((_, i) => Math.cos(i * 0.11));
      const runs: string[] = [];
      for (const threads of [1, 2, 3, 4]) {
        const p = await Policy.load(wide, { threads, ownSession: true });
        const gens = await p.generate(prompts, { maxTokens: 24, temperature: 0.9, topP: 0.95, topK: 0, seed: 3 });
        const { scored, hidden } = await p.score(gens.map((g) => ({ context: g.promptTokens, target: g.tokens.length ? g.tokens : [5] })), { batchSize: 4, withHidden: true });
        const dW = await (await OrtHeadGradient.create({ intraOpNumThreads: threads })).run(g, h, 300, 100, 64);
        runs.push(JSON.stringify({ gens: gens.map((x) => [x.tokens, Array.from(x.logprobs)]), scored: scored.map((x) => x.logprob), hidden: Buffer.from(hidden!.buffer).toString('base64'), dW: Buffer.from(dW.buffer).toString('base64') }));
        await p.release();
      }
      assert.ok(JSON.parse(runs[0]).gens.some((x: [number[]]) => x[0].length > 5), 'the generations have tokens to compare');
      for (let k = 1; k < runs.length; k++) assert.equal(runs[k], runs[0], `${k + 1} threads differ from 1`);
    });

    it('scoring the sampled tokens gives the generation-time log-probs (temperature 1, no truncation)', async () => {
      const gens = await policy.generate(['3+4=', 'hello world'], { maxTokens: 12, temperature: 1, topK: 0, topP: 1, seed: 11 });
      const { scored } = await policy.score(gens.map((g) => ({ context: g.promptTokens, target: g.tokens })));
      for (let i = 0; i < gens.length; i++) {
        const gen = gens[i].logprobs.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(scored[i].logprob - gen) < 1e-4, `${scored[i].logprob} vs ${gen}`);
        assert.equal(scored[i].tokenLogprobs.length, gens[i].tokens.length);
      }
    });

    it('seeded sampling is batch-invariant: a prompt samples the same tokens alone, in a batch, and in another order', async () => {
      const opts = { maxTokens: 10, temperature: 1, topK: 20, topP: 0.9, seed: 7 };
      const together = await policy.generate(['1+1=', '22+33=', 'x'], { ...opts, streams: [10, 11, 12] });
      const alone = await policy.generate(['22+33='], { ...opts, streams: [11] });
      const reordered = await policy.generate(['x', '22+33=', '1+1='], { ...opts, streams: [12, 11, 10] });
      assert.deepEqual(alone[0].tokens, together[1].tokens);
      assert.deepEqual(reordered[2].tokens, together[0].tokens);
      assert.deepEqual(reordered[0].tokens, together[2].tokens);
      const other = await policy.generate(['22+33='], { ...opts, streams: [99] });
      assert.notDeepEqual(other[0].tokens, alone[0].tokens);
    });

    it('greedy decoding is deterministic, log-prob 0 under its point-mass distribution, and stops at maxTokens', async () => {
      const a = await policy.generate(['5+5='], { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 1 });
      const b = await policy.generate(['5+5='], { maxTokens: 5, temperature: 0, topK: 0, topP: 1, seed: 2 });
      assert.deepEqual(a[0].tokens, b[0].tokens);
      assert.ok(a[0].tokens.length <= 5 && a[0].logprobs.every((l) => l === 0));
    });

    it('stop strings end a sequence and are cut from its text', async () => {
      const free = await policy.generate(['9='], { maxTokens: 30, temperature: 1, topK: 0, topP: 1, seed: 4 });
      const text = free[0].text;
      assert.ok(text.length >= 3, `sampled text "${text}"`);
      const stopAt = text[2];
      const cut = await policy.generate(['9='], { maxTokens: 30, temperature: 1, topK: 0, topP: 1, seed: 4, stop: [stopAt] });
      assert.equal(cut[0].finish, 'stop');
      assert.equal(cut[0].text, text.slice(0, text.indexOf(stopAt)));
    });

    it('a prompt longer than the model’s positions is refused, naming the prompt', async () => {
      await assert.rejects(policy.generate(['x'.repeat(90)], { maxTokens: 10, temperature: 1, topK: 0, topP: 1, seed: 1 }), (e: Error) => e instanceof DlabInputError && /prompt 0 \(91 tokens\) \+ maxTokens 10: 101 tokens, but the model has only 96 positions/.test(e.message));
    });
  });

  describe('loading checks every input and output up front', () => {
    const dims = { nLayer: 2, nHead: 4, headDim: 8, dModel: 32 };
    it('a model without the decoder inputs: names the missing tensor and what was expected', async () => {
      const f = join(dir.path, 'mlp.onnx');
      writeFileSync(f, buildMlp({ inDim: 4, hidden: 4, outDim: 4, seed: 1 }));
      await assert.rejects(Backbone.load(f, 'mlp', dims), (e: Error) => e instanceof DlabInputError && /input "input_ids" is missing: expected int64 of rank 2/.test(e.message) && e.message.includes(f));
    });

    it('a wrong dtype: names the tensor, the expected and the found dtype', async () => {
      const m = onnx.ModelProto.decode(prepareDecoder(buildDecoder(base), 't').backbone);
      m.graph!.input!.find((i) => i.name === 'attention_mask')!.type!.tensorType!.elemType = onnx.TensorProto.DataType.FLOAT;
      const f = join(dir.path, 'float-mask.onnx');
      writeFileSync(f, onnx.ModelProto.encode(m).finish());
      await assert.rejects(Backbone.load(f, 'float-mask', dims), /input "attention_mask": expected int64 of rank 2, found float32 of rank 2/);
    });

    it('a cache shape that contradicts model.json: names the tensor and the axis', async () => {
      const f = join(dir.path, 'ok.onnx');
      writeFileSync(f, prepareDecoder(buildDecoder(base), 't').backbone);
      await assert.rejects(Backbone.load(f, 'ok-wrong-heads', { ...dims, nHead: 2 }), /"past_key_values.0.key" has 4 on axis 1, model.json says nHead = 2/);
    });
  });

  it('the encoder variant outputs the mask-weighted mean of its last hidden states', async () => {
    const enc = await InferenceSession.create(buildEncoder(base));
    const ids = BigInt64Array.from([5n, 6n, 7n, 0n, 9n, 10n, 11n, 12n]);
    const mask = BigInt64Array.from([1n, 1n, 1n, 0n, 1n, 1n, 1n, 1n]);
    const out = await enc.run({ input_ids: new Tensor('int64', ids, [2, 4]), attention_mask: new Tensor('int64', mask, [2, 4]) });
    const h = out.last_hidden_state.data as Float32Array;
    const e = out.embedding.data as Float32Array;
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 32; k++) {
        let s = 0;
        let n = 0;
        for (let t = 0; t < 4; t++) if (mask[b * 4 + t]) (s += h[(b * 4 + t) * 32 + k]), n++;
        assert.ok(Math.abs(e[b * 32 + k] - s / n) < 1e-5);
      }
    }
  });
});


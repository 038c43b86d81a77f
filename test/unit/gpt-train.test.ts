import { strict as assert } from 'node:assert';
import { InferenceSession } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { buildDecoder, GptConfig } from '../../lib/model/gpt';
import { gptWeightSpecs, GptWeights, initialWeights } from '../../lib/model/gpt-weights';
import { erf, gptLogits, gptLossAndGrads, LmSequence, PretrainState, trainGpt, trainGptAsync } from '../../lib/model/gpt-train';
import { readPretrainCheckpoint, writePretrainCheckpoint } from '../../lib/model/pretrain-checkpoint';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import type { ArtifactIO } from '../../lib/store/io';
import { tempDir } from '../helpers/tmp';
import { BuiltinTokenizer } from '../../lib/model/tokenizers';
import { Rng } from '../../lib/rng';
import { decoderLogits, jittered, maxAbsDiff } from '../helpers/decoder';

const tiny: GptConfig = { vocab: 12, dModel: 8, nLayer: 2, nHead: 2, dFf: 16, maxPos: 16, seed: 3 };


/** Decoder logits [S, V] from ONNX Runtime for one unpadded sequence. */
async function ortLogits(cfg: GptConfig, w: GptWeights, ids: number[]): Promise<Float32Array> {
  return decoderLogits(await InferenceSession.create(buildDecoder(cfg, w)), cfg, ids);
}

describe('GPT pretraining in TypeScript (lib/model/gpt-train, gpt-weights)', function () {
  this.timeout(20_000);

  it('erf matches reference values to 1e-12 (erf 0.5, 1, 2, 3, 4.5; odd)', () => {
    const ref: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [4.5, 0.9999999998033839],
    ];
    for (const [x, want] of ref) {
      assert.ok(Math.abs(erf(x) - want) < 1e-12, `erf(${x}) = ${erf(x)}, want ${want}`);
      assert.ok(Math.abs(erf(-x) + want) < 1e-12);
    }
  });

  it('initialWeights are the seeded initializers of buildDecoder(cfg), and buildDecoder(cfg, w) embeds w', () => {
    for (const cfg of [tiny, { ...tiny, tied: false, headBias: true }]) {
      const initializers = (g: Uint8Array) => new Map((onnx.ModelProto.decode(g).graph!.initializer ?? []).map((t) => [t.name!, t.rawData!]));
      const w = initialWeights(cfg);
      const built = initializers(buildDecoder(cfg));
      assert.deepEqual([...w.keys()], gptWeightSpecs(cfg).map((s) => s.name));
      for (const [name, a] of w) assert.deepEqual(Buffer.from(built.get(name)!), Buffer.from(a.buffer), name);
      const j = jittered(cfg, 0.1, 9);
      const withJ = initializers(buildDecoder(cfg, j));
      for (const [name, a] of j) assert.deepEqual(Buffer.from(withJ.get(name)!), Buffer.from(a.buffer), name);
      assert.deepEqual(buildDecoder(cfg, initialWeights(cfg)), buildDecoder(cfg));
    }
    const w = initialWeights(tiny);
    w.delete('h.1.mlp.c_fc.bias');
    assert.throws(() => buildDecoder(tiny, w), /"h\.1\.mlp\.c_fc\.bias" \[16\] is missing/);
  });

  for (const [tied, headBias] of [[true, false], [false, true]]) {
    it(`gradients of every weight tensor equal central finite differences (${tied ? 'tied' : 'untied'}, ${headBias ? 'head bias' : 'no head bias'}): rel. err < 1e-3`, () => {
      const cfg = { ...tiny, tied, headBias };
      const w32 = jittered(cfg, 0.3, 4);
      const w = new Map([...w32].map(([k, v]) => [k, Float64Array.from(v)]));
      const batch: LmSequence[] = [
        { tokens: [1, 5, 7, 2, 9, 11, 3], lossMask: [0, 0, 0, 1, 1, 1, 1] },
        { tokens: [4, 4, 0, 10, 6], lossMask: [0, 1, 1, 0, 1] },
      ];
      const { grads, targets } = gptLossAndGrads(cfg, w, batch);
      assert.equal(targets, 7); // 4 + 3 masked targets (lossMask[0] never counts)
      const rng = new Rng(17, 2);
      const h = 1e-5;
      let worst = 0; // over entries with |gradient| > 1e-7
      let worstAbs = 0;
      let checked = 0;
      for (const s of gptWeightSpecs(cfg)) {
        const a = w.get(s.name)!;
        const g = grads.get(s.name)!;
        // 5 random entries plus the entry of largest gradient
        const idx = [0, 1, 2, 3, 4].map(() => rng.int(a.length));
        let big = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
        idx.push(big);
        for (const i of idx) {
          const keep = a[i];
          a[i] = keep + h;
          const up = gptLossAndGrads(cfg, w, batch).loss;
          a[i] = keep - h;
          const down = gptLossAndGrads(cfg, w, batch).loss;
          a[i] = keep;
          const fd = (up - down) / (2 * h);
          const abs = Math.abs(fd - g[i]);
          const rel = abs / Math.max(Math.abs(fd), Math.abs(g[i]), 1e-30);
          assert.ok(rel < 1e-3 || abs < 1e-6, `${s.name}[${i}]: analytic ${g[i]}, finite difference ${fd}`);
          if (Math.max(Math.abs(fd), Math.abs(g[i])) > 1e-7) worst = Math.max(worst, rel);
          worstAbs = Math.max(worstAbs, abs);
          checked++;
        }
        // the key bias adds q·b_k to every score of a row, which softmax ignores: its gradient is 0
        if (s.name.endsWith('attn.k.bias')) assert.ok(Math.abs(g[big]) < 1e-12, `${s.name}: gradient ${g[big]}, expected 0`);
        else assert.ok(Math.abs(g[big]) > 1e-6, `${s.name}: gradient is zero everywhere`);
      }
      console.log(`      ${checked} entries checked, max relative error ${worst.toExponential(2)} (|g| > 1e-7), max absolute error ${worstAbs.toExponential(2)}`);
    });
  }

  for (const [tied, headBias] of [[true, false], [false, true]]) {
    it(`TS forward logits equal ONNX Runtime logits of buildDecoder(cfg, weights) within 1e-4 (${tied ? 'tied' : 'untied + head bias'})`, async () => {
      const cfg: GptConfig = { vocab: 100, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 32, seed: 8, tied, headBias };
      const w = jittered(cfg, 0.1, 5);
      const ids = [1, 17, 42, 5, 99, 3, 60, 60, 0, 23, 7];
      const want = await ortLogits(cfg, w, ids);
      const diff = maxAbsDiff(gptLogits(cfg, w, ids), want);
      console.log(`      max |TS − ORT| = ${diff.toExponential(2)}`);
      assert.ok(diff <= 1e-4, `max |Δ| = ${diff}`);
    });
  }

  describe('trainGpt on 12 addition facts "a+b=s" (builtin tokenizer, loss on the answer and <eos>)', () => {
    const tok = new BuiltinTokenizer({});
    const cfg: GptConfig = { vocab: tok.vocabSize, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 16, seed: 1 };
    const facts: [number, number][] = [[1, 2], [3, 4], [5, 1], [2, 7], [6, 6], [8, 1], [4, 9], [7, 3], [9, 9], [0, 5], [3, 8], [2, 2]];
    const sequences: LmSequence[] = facts.map(([a, b]) => {
      const prompt = [tok.bosId, ...tok.encode(`${a}+${b}=`)];
      const answer = [...tok.encode(String(a + b)), tok.eosId];
      return { tokens: [...prompt, ...answer], lossMask: [...prompt.map(() => 0), ...answer.map(() => 1)] };
    });
    const opts = { steps: 150, batchSize: 6, lr: 3e-3, weightDecay: 0.01, seed: 2 };
    let result: ReturnType<typeof trainGpt>;
    let seconds = 0;
    before(() => {
      const t0 = process.hrtime.bigint();
      result = trainGpt(cfg, initialWeights(cfg), sequences, opts);
      seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    });

    it('the loss over all facts falls from ≈ ln 100 = 4.6 to below 1/50 of it', () => {
      const before = gptLossAndGrads(cfg, initialWeights(cfg), sequences).loss;
      const after = gptLossAndGrads(cfg, result.weights, sequences).loss;
      console.log(`      loss ${before.toFixed(4)} → ${after.toFixed(4)} in ${opts.steps} steps (${(opts.steps / seconds).toFixed(1)} steps/s, batch ${opts.batchSize})`);
      assert.ok(Math.abs(before - Math.log(100)) < 0.05, `initial loss ${before}`);
      assert.ok(after < before / 50, `final loss ${after}`);
      assert.equal(result.losses.length, opts.steps);
    });

    it('the exported decoder answers every fact greedily on ONNX Runtime', async () => {
      for (const s of sequences) {
        const start = s.lossMask.indexOf(1);
        const logits = await ortLogits(cfg, result.weights, s.tokens);
        for (let j = start; j < s.tokens.length; j++) {
          const row = logits.subarray((j - 1) * cfg.vocab, j * cfg.vocab);
          let arg = 0;
          for (let t = 1; t < cfg.vocab; t++) if (row[t] > row[arg]) arg = t;
          assert.equal(arg, s.tokens[j], `${tok.decode(s.tokens)}: position ${j}`);
        }
      }
    });

    it('is deterministic: the same seed gives the same weight bytes, another seed other weights', () => {
      const short = { ...opts, steps: 10 };
      const a = trainGpt(cfg, initialWeights(cfg), sequences, short).weights;
      const b = trainGpt(cfg, initialWeights(cfg), sequences, short).weights;
      const c = trainGpt(cfg, initialWeights(cfg), sequences, { ...short, seed: 3 }).weights;
      for (const [name, x] of a) assert.deepEqual(Buffer.from(x.buffer), Buffer.from(b.get(name)!.buffer), name);
      assert.notDeepEqual(Buffer.from(a.get('h.0.attn.q.weight')!.buffer), Buffer.from(c.get('h.0.attn.q.weight')!.buffer));
    });

    it('resumes from a checkpoint artifact with the same weight bytes and losses as an uninterrupted run (killed at step 17, resumed at 14)', async () => {
      // 12 sequences, batches of 5: epochs end inside batches, so the sampler state is mid-epoch at every checkpoint
      const short = { ...opts, steps: 23, batchSize: 5 };
      const dir = tempDir('pretrain-ckpt');
      const store = new LocalArtifactStore(dir.path);
      const lineage = { experimentId: 'e', stage: 'prepare', producer: 'test', configHash: 'c', codeVersion: 'v', parents: [] };
      const io: ArtifactIO = { write: (t, schema, parents, extra) => store.put(t, schema, { ...lineage, parents, extra }), read: (ref) => store.get(ref) };
      try {
        const saved: string[] = [];
        const onCheckpoint = async (s: PretrainState) => void saved.push((await writePretrainCheckpoint(io, cfg, s)).sha256);
        const full = await trainGptAsync(cfg, initialWeights(cfg), sequences, { ...short, checkpointEvery: 7, onCheckpoint });
        assert.equal(saved.length, 3, 'checkpoints after steps 7, 14 and 21, none after the last');
        for (const [name, x] of trainGpt(cfg, initialWeights(cfg), sequences, short).weights) assert.deepEqual(Buffer.from(x.buffer), Buffer.from(full.weights.get(name)!.buffer), `${name}: checkpoints change nothing`);

        const ac = new AbortController();
        const last: string[] = [];
        const killed = trainGptAsync(cfg, initialWeights(cfg), sequences, {
          ...short,
          checkpointEvery: 7,
          signal: ac.signal,
          onStep: (step) => step === 16 && ac.abort(new Error('killed')),
          onCheckpoint: async (s) => void last.push((await writePretrainCheckpoint(io, cfg, s)).sha256),
        });
        await assert.rejects(killed, /killed/);
        assert.deepEqual(last, saved.slice(0, 2), 'the killed run wrote the same checkpoint bytes');
        const resume = await readPretrainCheckpoint(io, cfg, { sha256: last[1], schema: 'model.pretrain-checkpoint@1' });
        assert.equal(resume.step, 14);
        const again: string[] = [];
        const resumed = await trainGptAsync(cfg, initialWeights(cfg), sequences, { ...short, resume, checkpointEvery: 7, onCheckpoint: async (s) => void again.push((await writePretrainCheckpoint(io, cfg, s)).sha256) });
        assert.deepEqual(again, saved.slice(2), 'the resumed run wrote the uninterrupted run\'s later checkpoint');
        assert.deepEqual(resumed.losses, full.losses);
        for (const [name, x] of full.weights) assert.deepEqual(Buffer.from(resumed.weights.get(name)!.buffer), Buffer.from(x.buffer), name);
        // resuming from the last step returns its weights at once
        const done = trainGpt(cfg, initialWeights(cfg), sequences, { ...short, steps: 14, resume });
        assert.deepEqual(done.losses, full.losses.slice(0, 14));
        assert.throws(() => trainGpt(cfg, initialWeights(cfg), sequences, { ...short, steps: 10, resume }), /resume\.step must be an integer in 0…10/);
        assert.throws(() => trainGpt(cfg, initialWeights(cfg), sequences.slice(1), { ...short, resume }), /order must be a permutation of 0…10/);
      } finally {
        dir.cleanup();
      }
    });
  });
});

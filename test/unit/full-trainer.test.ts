import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { GptConfig } from '../../lib/model/gpt';
import { gptForward } from '../../lib/model/gpt-train';
import { gptWeightSpecs, GptWeights } from '../../lib/model/gpt-weights';
import { readBuiltWeights } from '../../lib/model/built-weights';
import { buildModelDir } from '../../lib/model/model-dir';
import { Policy } from '../../lib/model/policy';
import { BuiltinTokenizer } from '../../lib/model/tokenizers';
import { fullGradients, fullTrainStep, SequenceItem } from '../../lib/train/full-trainer';
import { freshCheckpoint, freshFullCheckpoint, fullCheckpointFromTable, fullCheckpointToTable } from '../../lib/train/checkpoint';
import { updatePolicy } from '../../lib/icrlvr/train';
import type { ScoredRow } from '../../lib/icrlvr/records';
import { parseConfig } from '../../schemas/config';
import { DlabInputError } from '../../lib/errors';
import { DEFAULT_POLICY_LOSS } from '../../lib/rl/loss';
import { DEFAULT_ADAMW } from '../../lib/rl/adamw';
import { Rng } from '../../lib/rng';
import { tempDir } from '../helpers/tmp';
import { jittered } from '../helpers/decoder';

const tiny: GptConfig = { vocab: 12, dModel: 8, nLayer: 2, nHead: 2, dFf: 16, maxPos: 16, seed: 3 };


const f64 = (w: GptWeights) => new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));

/** log softmax(logits[row])[y] */
function logpAt(logits: Float64Array, row: number, V: number, y: number): number {
  let m = -Infinity;
  for (let v = 0; v < V; v++) m = Math.max(m, logits[row * V + v]);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[row * V + v] - m);
  return logits[row * V + y] - m - Math.log(s);
}

describe('whole-model RL trainer (lib/train/full-trainer, trainable "full")', function () {
  this.timeout(60_000);

  for (const [tied, headBias] of [[true, false], [false, true]]) {
    it(`the RL objective's gradient (clipped token-mean + NLL + KL) equals central finite differences in every weight tensor (${tied ? 'tied' : 'untied + head bias'}): rel. err < 1e-5`, async () => {
      const cfg = { ...tiny, tied, headBias };
      const w = f64(jittered(cfg, 0.3, 4));
      const ref = f64(jittered(cfg, 0.3, 5));
      const items: SequenceItem[] = [
        { context: [1, 5, 7], target: [2, 9, 11, 3] },
        { context: [4], target: [4, 0, 10] },
        { context: [6, 2, 2, 8, 1], target: [7] },
      ];
      const targets = Int32Array.from(items.flatMap((it) => it.target));
      // logπ_old a little off logπ_new, so every ratio is inside the clip range (the objective is smooth there)
      const logpNow: number[] = [];
      for (const it of items) {
        const lg = gptForward(cfg, w, [...it.context, ...it.target]).logits;
        it.target.forEach((y, k) => logpNow.push(logpAt(lg, it.context.length - 1 + k, cfg.vocab, y)));
      }
      const rng = new Rng(9, 3);
      const t = {
        targets,
        logpOld: Float64Array.from(logpNow, (l) => l + 0.05 * (rng.next() - 0.5)),
        advantage: Float64Array.from([1.2, 1.2, 1.2, 1.2, -0.7, -0.7, -0.7, 0.4]),
        nllMask: Uint8Array.from([1, 1, 1, 1, 0, 0, 0, 1]),
      };
      const objective = { kind: 'rl' as const, loss: { ...DEFAULT_POLICY_LOSS, klCoef: 0.3 }, ref };
      const { grads, stats } = await fullGradients(cfg, w, items, t, objective);
      assert.equal(stats.clipFraction, 0);
      assert.ok(stats.klMean > 0 && stats.nllLoss > 0, JSON.stringify(stats));
      const h = 1e-5;
      let worst = 0;
      let checked = 0;
      for (const s of gptWeightSpecs(cfg)) {
        const a = w.get(s.name)!;
        const g = grads.get(s.name)!;
        let big = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
        for (const i of [big, rng.int(a.length), rng.int(a.length)]) {
          const keep = a[i];
          a[i] = keep + h;
          const up = (await fullGradients(cfg, w, items, t, objective)).stats.loss;
          a[i] = keep - h;
          const down = (await fullGradients(cfg, w, items, t, objective)).stats.loss;
          a[i] = keep;
          const fd = (up - down) / (2 * h);
          const abs = Math.abs(fd - g[i]);
          const rel = abs / Math.max(Math.abs(fd), Math.abs(g[i]), 1e-30);
          // g = ∂loss/∂z is rounded to float32 once (as the head trainer's): ~1e-7 relative
          assert.ok(rel < 1e-5 || abs < 1e-8, `${s.name}[${i}]: analytic ${g[i]}, finite difference ${fd}`);
          if (Math.max(Math.abs(fd), Math.abs(g[i])) > 1e-6) worst = Math.max(worst, rel);
          checked++;
        }
        if (!s.name.endsWith('attn.k.bias')) assert.ok(Math.abs(g[big]) > 1e-6, `${s.name}: gradient is zero everywhere`);
      }
      console.log(`      ${checked} entries checked, max relative error ${worst.toExponential(2)}`);
    });
  }

  it('raises the log-probability of a positively rewarded response and lowers a negative one (three steps; every weight array moves)', async () => {
    const cfg = { ...tiny, vocab: 12 };
    const ckpt = freshFullCheckpoint(cfg, jittered(cfg, 0.1, 7));
    const before = new Map([...ckpt.weights].map(([k, v]) => [k, v.slice()]));
    const items: SequenceItem[] = [
      { context: [1, 2, 3], target: [4, 5] },
      { context: [1, 2, 3], target: [6, 7] },
    ];
    const logp = () =>
      items.map((it) => {
        const lg = gptForward(cfg, ckpt.weights, [...it.context, ...it.target]).logits;
        return it.target.reduce((s, y, k) => s + logpAt(lg, it.context.length - 1 + k, cfg.vocab, y), 0);
      });
    const [good0, bad0] = logp();
    const targets = Int32Array.from(items.flatMap((it) => it.target));
    const logpOld = Float64Array.from(items.flatMap((it) => {
      const lg = gptForward(cfg, ckpt.weights, [...it.context, ...it.target]).logits;
      return it.target.map((y, k) => logpAt(lg, it.context.length - 1 + k, cfg.vocab, y));
    }));
    const t = { targets, logpOld, advantage: Float64Array.from([1, 1, -1, -1]), nllMask: new Uint8Array(4) };
    for (let i = 0; i < 3; i++) await fullTrainStep(ckpt, items, t, { kind: 'rl', loss: { ...DEFAULT_POLICY_LOSS, nllCoef: 0 } }, { ...DEFAULT_ADAMW, lr: 1e-2, weightDecay: 0 });
    const [good1, bad1] = logp();
    console.log(`      log π(good): ${good0.toFixed(3)} → ${good1.toFixed(3)}; log π(bad): ${bad0.toFixed(3)} → ${bad1.toFixed(3)}`);
    assert.ok(good1 > good0 + 0.05 && bad1 < bad0 - 0.05);
    assert.equal(ckpt.opt.step, 3);
    for (const s of gptWeightSpecs(cfg)) {
      if (s.name === 'wpe' || s.name.endsWith('attn.k.bias')) continue; // positions 5, 6 untouched rows aside, every array moves
      const a = ckpt.weights.get(s.name)!;
      const b = before.get(s.name)!;
      assert.ok(a.some((x, i) => x !== b[i]), `${s.name} did not move`);
    }
  });

  it('a checkpoint round-trips through its table exactly; readBuiltWeights recovers a built directory\'s weights and refuses other models', async () => {
    const tok = new BuiltinTokenizer({});
    const build = { vocab: tok.vocabSize, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 24, seed: 4, tied: false, headBias: true };
    const w = jittered(build, 0.05, 11);
    const ckpt = freshFullCheckpoint(build, w);
    ckpt.opt.m[3][2] = 0.25;
    const back = fullCheckpointFromTable(build, fullCheckpointToTable(ckpt), 0, 'test');
    for (const [name, a] of ckpt.weights) assert.deepEqual(Buffer.from(back.weights.get(name)!.buffer), Buffer.from(a.buffer), name);
    assert.equal(back.opt.m[3][2], 0.25);

    const tmp = tempDir('dlab-full-');
    try {
      const dir = join(tmp.path, 'm');
      await buildModelDir(build, dir, { weights: w, how: { test: true } });
      const read = await readBuiltWeights(dir, build);
      assert.deepEqual([...read.keys()], gptWeightSpecs(build).map((s) => s.name));
      for (const [name, a] of w) assert.deepEqual(Buffer.from(read.get(name)!.buffer, read.get(name)!.byteOffset, read.get(name)!.byteLength), Buffer.from(a.buffer), name);
      await assert.rejects(readBuiltWeights(dir, { ...build, dFf: 64 }), /h\.0\.mlp\.c_fc\.weight has 512 values, expected 1024/);
      const json = JSON.parse(await fs.readFile(join(dir, 'model.json'), 'utf8'));
      await fs.writeFile(join(dir, 'model.json'), JSON.stringify({ ...json, source: { kind: 'prepared' } }));
      await assert.rejects(readBuiltWeights(dir, build), /not a model built by dlab .* imported models train their head/);
    } finally {
      tmp.cleanup();
    }
  });

  it('the RL update of a whole-model checkpoint (updatePolicy): KL to the whole-model reference, every weight moves; a head reference is refused naming trainable', async () => {
    const build = { vocab: 104, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 48, seed: 6 };
    const w = jittered(build, 0.05, 13);
    const tmp = tempDir('dlab-full-');
    try {
      const dir = join(tmp.path, 'm');
      await buildModelDir(build, dir, { weights: w, how: {} });
      const policy = await Policy.load(dir);
      const prompts = ['3+4=', '12+9=', '7+7='];
      const gens = await policy.generate(prompts, { maxTokens: 6, temperature: 1, topK: 0, topP: 1, seed: 2 });
      const rows = gens.map((g, i) => ({ prompt: prompts[i], tokens: g.tokens, logprobs: g.logprobs, advantage: [1, -0.5, -0.5][i], reward: i === 0 ? 1 : 0 })) as unknown as ScoredRow[];
      const cfg = parseConfig('icrlvr', { mode: 'rlvr', seed: 1, model: { build }, task: { type: 'arithmetic', digits: 1, trainQuestions: 4, heldOutQuestions: 2, demoPool: 2 }, steps: 1, questionsPerStep: 1, klCoef: 0.5, epochs: 2, lr: 1e-3, trainable: 'full' });
      const ref = freshFullCheckpoint(build, w);
      const ckpt = freshFullCheckpoint(build, w);
      const stats = await updatePolicy(policy, ckpt, rows, cfg, ref);
      assert.equal(stats.responses, 3);
      assert.equal(ckpt.opt.step, 2, 'μ = 2 optimizer steps');
      assert.ok(stats.klMean! > 0, `the second pass is off the reference: KL ${stats.klMean}`);
      assert.ok(gptWeightSpecs(build).every((s) => s.name.endsWith('attn.k.bias') || ckpt.weights.get(s.name)!.some((x, i) => x !== w.get(s.name)![i])), 'every weight array moved');
      await assert.rejects(updatePolicy(policy, freshFullCheckpoint(build, w), rows, cfg, freshCheckpoint(policy.head)), (err: Error) => err instanceof DlabInputError && err.where === 'trainable');
    } finally {
      tmp.cleanup();
    }
  });

  it('the TypeScript forward pass gives a rollout\'s recorded log-probabilities (same context ids and positions as generation): |Δ| < 1e-5', async () => {
    const build = { vocab: 104, dModel: 32, nLayer: 2, nHead: 4, dFf: 64, maxPos: 64, seed: 6 };
    const w = jittered(build, 0.05, 12);
    const tmp = tempDir('dlab-full-');
    try {
      const dir = join(tmp.path, 'm');
      await buildModelDir(build, dir, { weights: w, how: {} });
      const policy = await Policy.load(dir);
      const prompts = ['Q: 3+4=\nA:', 'Q: 12+9=\nA:', 'x'];
      const gens = await policy.generate(prompts, { maxTokens: 10, temperature: 1, topK: 0, topP: 1, seed: 5 });
      let worst = 0;
      gens.forEach((g, i) => {
        const context = policy.encodePrompt(prompts[i]);
        const lg = gptForward(build, w, [...context, ...g.tokens]).logits;
        g.tokens.forEach((y, k) => (worst = Math.max(worst, Math.abs(logpAt(lg, context.length - 1 + k, build.vocab, y) - g.logprobs[k]))));
      });
      console.log(`      max |log π_TS − log π_rollout| = ${worst.toExponential(2)} over ${gens.reduce((n, g) => n + g.tokens.length, 0)} tokens`);
      assert.ok(worst < 1e-5, String(worst));
    } finally {
      tmp.cleanup();
    }
  });
});

import type { GptConfig } from '../model/gpt';
import { gptBackward, gptForward, GptGrads, zeroGptGrads } from '../model/gpt-train';
import { gptNoDecay, gptWeightSpecs } from '../model/gpt-weights';
import { AdamWConfig, adamwStep } from '../rl/adamw';
import type { PolicyLossConfig } from '../rl/loss';
import { FullCheckpoint } from './checkpoint';
import { DlabInputError } from '../errors';
import { objectiveGradients, ObjectiveTokens, StepStats } from './head-trainer';

/**
 * The whole-model trainer (`trainable: "full"`): one AdamW step on every weight of the
 * project's GPT for the same objectives as the head trainer (head-trainer.ts), through the
 * TypeScript forward and backward pass of lib/model/gpt-train.ts (float64 activations).
 *
 * Item i is one unpadded sequence s = context ++ target (positions 0…L−1, as the decoder
 * runs a prompt and its sampled response); target token k of item i is predicted at position
 * |context| − 1 + k. With z the logits of all target tokens stacked [N, V]:
 *   g = ∂loss/∂z                           (objectiveGradients: clipped token-mean + NLL + KL, or SFT)
 *   ∂loss/∂θ = Σ_i backward_i(g rows of i)  (gptBackward, every weight θ)
 *   θ ← AdamW(θ, ∂loss/∂θ)                 (no decay on 1-D arrays: biases and LayerNorm)
 * The KL term's reference distribution is the reference weights' forward pass on the same
 * sequences. Deterministic: fixed item order, float64 sums in a fixed order.
 */
export interface SequenceItem {
  context: number[];
  target: number[];
}

/** Weights by name: float32 as trained and exported, or float64 (e.g. for finite differences). */
type Weights = Map<string, Float32Array | Float64Array>;

export type FullObjective = { kind: 'sft' } | { kind: 'rl'; loss: PolicyLossConfig; ref?: Weights };

/** One optimizer step on `ckpt` (in place): fullGradients, then AdamW on every weight. */
export async function fullTrainStep(ckpt: FullCheckpoint, items: SequenceItem[], t: ObjectiveTokens, objective: FullObjective, adamw: AdamWConfig): Promise<StepStats> {
  const { grads, stats } = await fullGradients(ckpt.cfg, ckpt.weights, items, t, objective);
  const specs = gptWeightSpecs(ckpt.cfg);
  const params = specs.map((s) => ckpt.weights.get(s.name)!);
  const grads32 = specs.map((s) => Float32Array.from(grads.get(s.name)!));
  const { gradNorm, lr } = adamwStep(params, grads32, ckpt.opt, adamw, { noDecay: gptNoDecay(ckpt.cfg) });
  return { ...stats, gradNorm, lr, tokens: t.targets.length };
}

/**
 * The objective of `items` under `weights` and its gradient by every weight (float64, by
 * name). Yields to the event loop every `yieldEvery` sequences, so a worker's heartbeats go out.
 */
export async function fullGradients(
  cfg: GptConfig,
  weights: Weights,
  items: SequenceItem[],
  t: ObjectiveTokens,
  objective: FullObjective,
  hooks: { yieldEvery?: number } = {},
): Promise<{ grads: GptGrads; stats: Omit<StepStats, 'gradNorm' | 'lr' | 'tokens'> }> {
  const V = cfg.vocab;
  const N = t.targets.length;
  const count = items.reduce((n, it) => n + it.target.length, 0);
  if (count !== N) throw new DlabInputError(`whole-model update: the responses hold ${count} target tokens, their objective ${N}`);
  const seqs = items.map((it) => {
    if (it.context.length < 1) throw new DlabInputError('whole-model update: a response without a prompt (every sequence needs a context of at least one token)');
    return [...it.context, ...it.target];
  });
  const every = hooks.yieldEvery ?? 8;
  const pause = (i: number) => ((i + 1) % every === 0 ? new Promise((r) => setImmediate(r)) : undefined);
  // forward: the target rows of every item's logits
  const forwards = [];
  const logits = new Float64Array(N * V);
  const refLogits = objective.kind === 'rl' && objective.loss.klCoef > 0 && objective.ref ? new Float64Array(N * V) : undefined;
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const f = gptForward(cfg, weights, seqs[i]);
    const first = items[i].context.length - 1;
    const rows = items[i].target.length;
    logits.set(f.logits.subarray(first * V, (first + rows) * V), at * V);
    if (refLogits) refLogits.set(gptForward(cfg, (objective as { ref: Weights }).ref, seqs[i]).logits.subarray(first * V, (first + rows) * V), at * V);
    for (let k = 0; k < rows; k++) if (seqs[i][first + 1 + k] !== t.targets[at + k]) throw new DlabInputError(`whole-model update: response ${i} token ${k} is ${seqs[i][first + 1 + k]}, its objective's ${t.targets[at + k]}`);
    forwards.push(f);
    at += rows;
    await pause(i);
  }
  const { g, ...stats } = objectiveGradients(logits, t, objective, V, refLogits);
  // backward: each item's g rows at its target positions, zeros elsewhere
  const grads = zeroGptGrads(cfg);
  at = 0;
  for (let i = 0; i < items.length; i++) {
    const L = seqs[i].length;
    const first = items[i].context.length - 1;
    const rows = items[i].target.length;
    const dlogits = new Float64Array(L * V);
    for (let e = 0; e < rows * V; e++) dlogits[first * V + e] = g[at * V + e];
    gptBackward(cfg, weights, seqs[i], forwards[i], dlogits, grads);
    forwards[i] = undefined as never; // its caches are no longer needed
    at += rows;
    await pause(i);
  }
  return { grads, stats };
}

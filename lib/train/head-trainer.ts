import { headLogits } from '../model/head';
import { OrtHeadGradient } from '../model/head-gradient';
import type { Policy } from '../model/policy';
import { AdamWConfig, adamwStep } from '../rl/adamw';
import { PolicyLossConfig, logitGradients, policyObjective, tokenLogProbs } from '../rl/loss';
import { Checkpoint } from './checkpoint';

/**
 * The one head trainer, shared by the RL update and the supervised warm start (and the
 * GORACS fine-tuning): one AdamW step on the head W, b of a frozen backbone.
 *
 *   h_t      = backbone(context, target_<t)            (computed once: the backbone is frozen)
 *   z_t      = W h_t + b,   logπ_t = log softmax(z_t)[y_t]
 *   loss     = 'sft':  −(1/N) Σ_t logπ_t
 *              'rl':   token-mean clipped objective + λ_nll NLL (+ β KL to the reference head)
 *   g_t      = ∂loss/∂z_t = dLogp_t (e_{y_t} − p_t) (+ KL term)   [N, V]
 *   ∂loss/∂W = Σ_t g_t h_tᵀ (ONNX Runtime MatMul),  ∂loss/∂b = Σ_t g_t
 */
export interface TrainTokens {
  /** h_t for every target token, [N, d] */
  hidden: Float32Array;
  /** y_t, [N] */
  targets: Int32Array;
  /** RL only: log π_old(y_t) from the rollout, the response's advantage, NLL mask (correct responses) */
  logpOld?: Float64Array;
  advantage?: Float64Array;
  nllMask?: Uint8Array;
}

export type Objective = { kind: 'sft' } | { kind: 'rl'; loss: PolicyLossConfig; ref?: Checkpoint['head'] };

export interface StepStats {
  loss: number;
  pgLoss: number;
  nllLoss: number;
  klMean: number;
  clipFraction: number;
  gradNorm: number;
  lr: number;
  tokens: number;
}

/** Gathers hidden states and targets for (context, target) items through the policy's backbone. */
export async function collectTokens(policy: Policy, items: { context: number[]; target: number[] }[], batchSize = 16): Promise<TrainTokens> {
  const { hidden } = await policy.score(items, { batchSize, withHidden: true });
  const targets = new Int32Array(items.reduce((n, it) => n + it.target.length, 0));
  let at = 0;
  for (const it of items) for (const y of it.target) targets[at++] = y;
  return { hidden: hidden!, targets };
}

/** The tokens' part of a training step: targets and, for the RL objective, logπ_old, advantages and the NLL mask. */
export type ObjectiveTokens = Pick<TrainTokens, 'targets' | 'logpOld' | 'advantage' | 'nllMask'>;

/**
 * The objective at logits z [N, V] (one row per target token) and its gradient g = ∂loss/∂z
 * [N, V] (float32): shared by the head trainer below and the whole-model trainer
 * (full-trainer.ts), which differ only in what they back-propagate g into. `refLogits` [N, V]:
 * the reference policy's logits, for the KL term (RL with klCoef > 0).
 */
export function objectiveGradients(
  logits: Float32Array | Float64Array,
  t: ObjectiveTokens,
  objective: { kind: 'sft' } | { kind: 'rl'; loss: PolicyLossConfig },
  V: number,
  refLogits?: Float32Array | Float64Array,
): { g: Float32Array; loss: number; pgLoss: number; nllLoss: number; klMean: number; clipFraction: number } {
  const N = t.targets.length;
  const logpNew = tokenLogProbs(logits, t.targets, V);
  let dLogp: Float64Array;
  let loss: number;
  let pgLoss = 0;
  let nllLoss = 0;
  let clipFraction = 0;
  if (objective.kind === 'sft') {
    dLogp = new Float64Array(N).fill(-1 / N);
    loss = 0;
    for (let i = 0; i < N; i++) loss -= logpNew[i] / N;
    nllLoss = loss;
  } else {
    if (!t.logpOld || !t.advantage || !t.nllMask) throw new Error('trainStep: the rl objective needs logpOld, advantage and nllMask');
    const r = policyObjective({ logpNew, logpOld: t.logpOld, advantage: t.advantage, nllMask: t.nllMask }, objective.loss);
    dLogp = r.dLogp;
    loss = r.loss;
    pgLoss = r.pgLoss;
    nllLoss = r.nllLoss;
    clipFraction = r.clipFraction;
  }
  const g = new Float32Array(N * V);
  let klMean = 0;
  if (objective.kind === 'rl' && objective.loss.klCoef > 0 && refLogits) {
    klMean = logitGradients(logits, t.targets, dLogp, V, g, { refLogits, coef: objective.loss.klCoef, tokens: N }).klMean;
    loss += objective.loss.klCoef * klMean;
  } else {
    logitGradients(logits, t.targets, dLogp, V, g);
  }
  return { g, loss, pgLoss, nllLoss, klMean, clipFraction };
}

/** One optimizer step on `ckpt` (in place) for the given tokens and objective. */
export async function trainStep(ckpt: Checkpoint, t: TrainTokens, objective: Objective, adamw: AdamWConfig): Promise<StepStats> {
  const { head } = ckpt;
  const N = t.targets.length;
  const V = head.vocab;
  const logits = await headLogits(head, t.hidden, N);
  const refLogits = objective.kind === 'rl' && objective.loss.klCoef > 0 && objective.ref ? await headLogits(objective.ref, t.hidden, N) : undefined;
  const { g, ...stats } = objectiveGradients(logits, t, objective, V, refLogits);
  const gradient = await OrtHeadGradient.create();
  const dW = await gradient.run(g, t.hidden, N, V, head.dModel);
  const db = new Float32Array(V);
  for (let i = 0; i < N; i++) for (let v = 0; v < V; v++) db[v] += g[i * V + v];
  const { gradNorm, lr } = adamwStep([head.W, head.b], [dW, db], ckpt.opt, adamw, { noDecay: [false, true] });
  return { ...stats, gradNorm, lr, tokens: N };
}

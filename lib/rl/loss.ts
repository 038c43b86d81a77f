import { logSoftmaxAt, logSoftmaxRow } from '../model/log-softmax';

/**
 * The policy-update objective — docs/icrlvr.md, "Step 4 — update" (DAPO/verl `token-mean`).
 *
 * Token layout: the N response tokens of a batch, concatenated over responses; arrays
 * indexed by t = 0..N−1. Logits are row-major [N, V]. Every sum runs in float64.
 */

/** Names as in the recipe: ε_low, ε_high, dual-clip c, λ_nll, KL coefficient. */
export interface PolicyLossConfig {
  /** ε_low: ρ is clipped below at 1 − clipLow */
  clipLow: number;
  /** ε_high: ρ is clipped above at 1 + clipHigh ("clip-higher") */
  clipHigh: number;
  /** c: for A < 0 the token loss is capped at −A·c (dual clip) */
  dualClip: number;
  /** λ_nll: weight of the mean NLL of correct responses' tokens; 0 disables */
  nllCoef: number;
  /** KL(π_θ ‖ π_ref) coefficient; used by the caller as `logitGradients(..., {coef: klCoef})` */
  klCoef: number;
}

export const DEFAULT_POLICY_LOSS: PolicyLossConfig = { clipLow: 0.2, clipHigh: 0.28, dualClip: 10, nllCoef: 0.1, klCoef: 0 };

/**
 * Clipped surrogate of one token (PPO with clip-higher and dual clip):
 *   ρ = exp(logpNew − logpOld)
 *   ℓ = max(−A ρ, −A clip(ρ, 1 − clipLow, 1 + clipHigh));   for A < 0: ℓ = min(ℓ, −A c)
 * dLogp = ∂ℓ/∂logpNew = −A ρ where the unclipped branch is active (ties go to it), 0 where
 * a clipped constant −A(1±ε) or the dual-clip constant −A c is active; `clipped` tells the
 * latter (counted by `clipFraction`). A = 0 gives exactly 0 (not −0), unclipped.
 */
export function clippedTokenLoss(
  logpNew: number,
  logpOld: number,
  A: number,
  cfg: PolicyLossConfig = DEFAULT_POLICY_LOSS,
): { loss: number; dLogp: number; clipped: boolean } {
  if (A === 0) return { loss: 0, dLogp: 0, clipped: false };
  const rho = Math.exp(logpNew - logpOld);
  const unclipped = -A * rho;
  const clippedRho = Math.min(1 + cfg.clipHigh, Math.max(1 - cfg.clipLow, rho));
  const clippedLoss = -A * clippedRho;
  if (A < 0) {
    const cap = -A * cfg.dualClip;
    // ℓ = min(max(unclipped, clippedLoss), cap)
    if (unclipped >= clippedLoss) {
      if (unclipped > cap) return { loss: cap, dLogp: 0, clipped: true };
      return { loss: unclipped, dLogp: unclipped, clipped: false };
    }
    return { loss: Math.min(clippedLoss, cap), dLogp: 0, clipped: true };
  }
  if (unclipped >= clippedLoss) return { loss: unclipped, dLogp: unclipped, clipped: false };
  return { loss: clippedLoss, dLogp: 0, clipped: true };
}

/** Per-token inputs of `policyObjective`, all of length N. */
export interface PolicyTokens {
  /** log π_θ(o_t | prompt, o_<t) under the current policy */
  logpNew: Float64Array;
  /** the same under the sampling policy π_old (recorded at rollout) */
  logpOld: Float64Array;
  /** the response's advantage, repeated on each of its tokens (see `perToken`) */
  advantage: Float64Array;
  /** 1 on tokens of correct responses (reward 1): the NLL term's tokens */
  nllMask: Uint8Array;
}

/**
 * token-mean objective over all N response tokens of the batch:
 *   pgLoss  = (1/N) Σ_t ℓ_t                                   (ℓ_t from `clippedTokenLoss`)
 *   nllLoss = λ_nll · (1/M) Σ_{t: mask_t=1} (−logpNew_t)        (0 when M = 0)
 *   loss    = pgLoss + nllLoss
 *   dLogp_t = ∂loss/∂logpNew_t = dℓ_t/N − λ_nll·mask_t/M        Float64Array(N)
 * The KL term needs full distributions: pass `{coef: cfg.klCoef, tokens: N}` to
 * `logitGradients`, which adds its gradient and returns its value.
 * clipFraction = fraction of tokens where a clipped or dual-clip constant is active.
 * N = 0 gives zeros.
 */
export function policyObjective(
  t: PolicyTokens,
  cfg: PolicyLossConfig = DEFAULT_POLICY_LOSS,
): { loss: number; pgLoss: number; nllLoss: number; dLogp: Float64Array; clipFraction: number; tokens: number } {
  const N = t.logpNew.length;
  for (const [name, arr] of [['logpOld', t.logpOld], ['advantage', t.advantage], ['nllMask', t.nllMask]] as const) {
    if (arr.length !== N) throw new RangeError(`policyObjective: ${name} must have one entry per token (N = ${N}), found ${arr.length}`);
  }
  const dLogp = new Float64Array(N);
  if (N === 0) return { loss: 0, pgLoss: 0, nllLoss: 0, dLogp, clipFraction: 0, tokens: 0 };
  let pgSum = 0;
  let clippedCount = 0;
  let nllSum = 0;
  let M = 0;
  for (let i = 0; i < N; i++) {
    const r = clippedTokenLoss(t.logpNew[i], t.logpOld[i], t.advantage[i], cfg);
    pgSum += r.loss;
    dLogp[i] = r.dLogp / N;
    if (r.clipped) clippedCount++;
    if (t.nllMask[i] !== 0) {
      nllSum -= t.logpNew[i];
      M++;
    }
  }
  const pgLoss = pgSum / N;
  let nllLoss = 0;
  if (M > 0 && cfg.nllCoef !== 0) {
    nllLoss = (cfg.nllCoef * nllSum) / M;
    const dNll = -cfg.nllCoef / M;
    for (let i = 0; i < N; i++) if (t.nllMask[i] !== 0) dLogp[i] += dNll;
  }
  return { loss: pgLoss + nllLoss, pgLoss, nllLoss, dLogp, clipFraction: clippedCount / N, tokens: N };
}

/**
 * Gradient of the loss w.r.t. the logits, row by row (softmax in float64):
 *   g_t = dLogp_t · (e_{y_t} − p_t),   p_t = softmax(z_t)
 *       + (coef/tokens) · p_t ⊙ (log p_t − log q_t − KL_t)     when `kl` is given,
 *   KL_t = KL(p_t ‖ q_t) = Σ_v p_v (log p_v − log q_v),  q_t = softmax(refLogits_t),
 * i.e. the loss gains (coef/tokens) Σ_t KL_t, exact over the vocabulary.
 *   logits, kl.refLogits  [N, V];  targets Int32Array(N), 0 ≤ y < V;  dLogp Float64Array(N)
 *   out                   [N, V], overwritten with g (float32 or float64)
 * `tokens` is the batch's token count (so chunks of one batch can be called separately).
 * Returns klMean = (1/N) Σ_t KL_t over these N rows and klSum = Σ_t KL_t (0 without kl).
 * Feed `out` to `headGradient` (lib/model/head-gradient.ts): dW = gᵀ h.
 */
export function logitGradients(
  logits: Float32Array | Float64Array,
  targets: Int32Array,
  dLogp: Float64Array,
  V: number,
  out: Float32Array | Float64Array,
  kl?: { refLogits: Float32Array | Float64Array; coef: number; tokens: number },
): { klMean: number; klSum: number } {
  const N = checkRows('logitGradients', logits, targets, V);
  if (dLogp.length !== N) throw new RangeError(`logitGradients: dLogp must have N = ${N} entries, found ${dLogp.length}`);
  if (out.length !== N * V) throw new RangeError(`logitGradients: out must hold N·V = ${N}·${V} = ${N * V} values, found ${out.length}`);
  if (kl !== undefined) {
    if (kl.refLogits.length !== N * V) throw new RangeError(`logitGradients: kl.refLogits must hold N·V = ${N * V} values, found ${kl.refLogits.length}`);
    if (!(kl.tokens > 0)) throw new RangeError(`logitGradients: kl.tokens must be > 0, found ${kl.tokens}`);
  }
  const logp = new Float64Array(V);
  const p = new Float64Array(V);
  const logq = new Float64Array(V);
  const klScale = kl === undefined ? 0 : kl.coef / kl.tokens;
  let klSum = 0;
  for (let t = 0; t < N; t++) {
    const row = t * V;
    const y = targets[t];
    const d = dLogp[t];
    logSoftmaxRow(logits, row, V, logp);
    for (let v = 0; v < V; v++) p[v] = Math.exp(logp[v]);
    let klt = 0;
    if (kl !== undefined) {
      logSoftmaxRow(kl.refLogits, row, V, logq);
      for (let v = 0; v < V; v++) klt += p[v] * (logp[v] - logq[v]);
      klSum += klt;
    }
    // one float64 expression per element, one rounding into `out`
    if (klScale !== 0) {
      for (let v = 0; v < V; v++) out[row + v] = (v === y ? d : 0) - d * p[v] + klScale * p[v] * (logp[v] - logq[v] - klt);
    } else {
      for (let v = 0; v < V; v++) out[row + v] = (v === y ? d : 0) - d * p[v];
    }
  }
  return { klMean: N === 0 ? 0 : klSum / N, klSum };
}

/**
 * log softmax(z_t)[y_t] per token.
 *   logits [N, V] row-major, targets Int32Array(N) → Float64Array(N)
 */
export function tokenLogProbs(logits: Float32Array | Float64Array, targets: Int32Array, V: number): Float64Array {
  const N = checkRows('tokenLogProbs', logits, targets, V);
  const out = new Float64Array(N);
  for (let t = 0; t < N; t++) out[t] = logSoftmaxAt(logits, t * V, V, targets[t]);
  return out;
}

function checkRows(fn: string, logits: Float32Array | Float64Array, targets: Int32Array, V: number): number {
  if (!Number.isInteger(V) || V < 1) throw new RangeError(`${fn}: V must be a positive integer, found ${V}`);
  const N = targets.length;
  if (logits.length !== N * V) throw new RangeError(`${fn}: logits must hold N·V = ${N}·${V} = ${N * V} values (one row per target), found ${logits.length}`);
  for (let t = 0; t < N; t++) {
    if (!(targets[t] >= 0 && targets[t] < V)) throw new RangeError(`${fn}: targets[${t}] must be in [0, ${V}), found ${targets[t]}`);
  }
  return N;
}

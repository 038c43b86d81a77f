/**
 * AdamW (Loshchilov & Hutter 2019) with PyTorch `torch.optim.AdamW` semantics, global
 * grad-norm clipping (`torch.nn.utils.clip_grad_norm_`) and linear warm-up —
 * docs/icrlvr.md, "Step 4 — update".
 *
 * Parameters are a list of Float32Array (e.g. [W (V·d), b (V)]); moments are stored in
 * float32, every per-element update is computed in float64.
 */

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** decoupled weight decay λ: p ← p − lr_t·λ·p (skipped for arrays marked `noDecay`) */
  weightDecay: number;
  /** max global L2 norm of the gradient over all arrays; 0 = no clipping */
  gradClip: number;
  /** lr_t = lr · min(1, (step+1)/warmupSteps) for the step-th update (0-based); 0 = off */
  warmupSteps: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, gradClip: 1.0, warmupSteps: 0 };

/** `step` = updates done so far; m, v: first/second moments, one array per parameter array. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** Zero moments shaped like `params`, step 0. */
export function initAdamW(params: Float32Array[]): AdamWState {
  return { step: 0, m: params.map((p) => new Float32Array(p.length)), v: params.map((p) => new Float32Array(p.length)) };
}

/**
 * One AdamW update, in place on `params` and `state` (`grads` are read, not modified):
 *   ‖g‖ = sqrt(Σ_arrays Σ_i g_i²);  s = min(1, gradClip/(‖g‖ + 1e-6)) when gradClip > 0, else 1
 *   t = step + 1;  lr_t = lr · min(1, t/warmupSteps) (warmupSteps > 0) else lr
 *   p ← p − lr_t·λ·p                                  (decoupled decay; not where noDecay[k])
 *   m ← β1 m + (1−β1) s g;   v ← β2 v + (1−β2) (s g)²
 *   p ← p − lr_t · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 * Weight decay applies to EVERY array in `params` unless `opts.noDecay[k]` is true for
 * array k — pass `noDecay: [false, true]` for [W, b] to leave the bias undecayed (the
 * usual choice; PyTorch decays whatever the param group holds).
 * Returns the pre-clip norm ‖g‖, the norm after clipping s‖g‖, and lr_t.
 */
export function adamwStep(
  params: Float32Array[],
  grads: Float32Array[],
  state: AdamWState,
  cfg: AdamWConfig = DEFAULT_ADAMW,
  opts: { noDecay?: boolean[] } = {},
): { gradNorm: number; clippedNorm: number; lr: number } {
  if (grads.length !== params.length || state.m.length !== params.length || state.v.length !== params.length) {
    throw new RangeError(
      `adamwStep: params, grads, state.m and state.v must list the same arrays, found ${params.length}, ${grads.length}, ${state.m.length}, ${state.v.length}`,
    );
  }
  if (opts.noDecay !== undefined && opts.noDecay.length !== params.length) {
    throw new RangeError(`adamwStep: noDecay must have one flag per parameter array (${params.length}), found ${opts.noDecay.length}`);
  }
  let sq = 0;
  for (let k = 0; k < params.length; k++) {
    const n = params[k].length;
    if (grads[k].length !== n || state.m[k].length !== n || state.v[k].length !== n) {
      throw new RangeError(
        `adamwStep: array ${k} has ${n} parameters but grad/m/v have ${grads[k].length}/${state.m[k].length}/${state.v[k].length}`,
      );
    }
    const g = grads[k];
    for (let i = 0; i < n; i++) sq += g[i] * g[i];
  }
  const gradNorm = Math.sqrt(sq);
  if (!Number.isFinite(gradNorm)) throw new RangeError(`adamwStep: gradient norm is not finite (${gradNorm})`);
  const scale = cfg.gradClip > 0 ? Math.min(1, cfg.gradClip / (gradNorm + 1e-6)) : 1;

  const t = state.step + 1;
  const lr = cfg.warmupSteps > 0 ? cfg.lr * Math.min(1, t / cfg.warmupSteps) : cfg.lr;
  const bc1 = 1 - cfg.beta1 ** t;
  const sqrtBc2 = Math.sqrt(1 - cfg.beta2 ** t);
  const stepSize = lr / bc1;
  const b1 = cfg.beta1;
  const b2 = cfg.beta2;
  for (let k = 0; k < params.length; k++) {
    const p = params[k];
    const g = grads[k];
    const m = state.m[k];
    const v = state.v[k];
    const decay = opts.noDecay?.[k] === true ? 1 : 1 - lr * cfg.weightDecay;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * scale;
      const mi = b1 * m[i] + (1 - b1) * gi;
      const vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + cfg.eps);
    }
  }
  state.step = t;
  return { gradNorm, clippedNorm: gradNorm * scale, lr };
}

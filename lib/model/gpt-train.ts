import { Rng, RngState } from '../rng';
import { AdamWState, adamwStep, DEFAULT_ADAMW, initAdamW } from '../rl/adamw';
import { checkGptConfig, GptConfig } from './gpt';
import { checkGptWeights, cloneWeights, gptNoDecay, gptWeightSpecs, GptWeights } from './gpt-weights';
import { logSumExp, softmaxRow } from './log-softmax';

/**
 * Pretraining of the whole GPT of gpt.ts on the CPU: forward, backward and AdamW over
 * typed arrays, with gpt.ts's numerics (LayerNorm ε = 1e-5, scores · 1/√headDim,
 * causal softmax, exact-erf GELU), so trained weights export through
 * buildDecoder(cfg, weights) unchanged. Activations and gradients are float64.
 *
 * One sequence of L tokens (positions 0…L−1, no padding), d = dModel, F = dFf, V = vocab:
 *   x⁰ = wte[tokens] + wpe[0…L−1]                         [L, d]
 *   xᵐ = xˡ + attn(LN₁(xˡ)) · W_o + b_o;  xˡ⁺¹ = xᵐ + gelu(LN₂(xᵐ) · W₁ + b₁) · W₂ + b₂
 *   logits = LN_f(x^nLayer) · W_head (+ b_head)           [L, V], W_head = wteᵀ when tied
 * Loss over a batch = mean over masked targets of −log softmax(logits[j])[tokens[j+1]],
 * where token j+1 is a target iff lossMask[j+1] = 1 (lossMask[0] is ignored).
 */

/** A training sequence: token ids and a 0/1 flag per token, 1 = predict this token. */
export interface LmSequence {
  tokens: number[];
  lossMask: number[];
}

/** Gradients by weight name, same lengths as the weights. */
export type GptGrads = Map<string, Float64Array>;

type Vec = Float32Array | Float64Array;

const LN_EPS = 1e-5;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf(x) in float64, absolute error < 1e-13: Maclaurin series
 * erf x = 2/√π Σₙ (−1)ⁿ x²ⁿ⁺¹ / (n!(2n+1)) for |x| < 3, else 1 − erfc x with the continued
 * fraction erfc x = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))) (60 terms).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** y[n, out] = x[n, in] · W[in, out] + b */
function linearForward(x: Float64Array, W: Vec, b: Vec, n: number, inDim: number, outDim: number): Float64Array {
  const y = new Float64Array(n * outDim);
  for (let r = 0; r < n; r++) {
    const yo = r * outDim;
    for (let o = 0; o < outDim; o++) y[yo + o] = b[o];
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i];
      if (xi === 0) continue;
      const wo = i * outDim;
      for (let o = 0; o < outDim; o++) y[yo + o] += xi * W[wo + o];
    }
  }
  return y;
}

/** dW += xᵀ·dy, db += Σ_rows dy; returns dx = dy · Wᵀ [n, in]. */
function linearBackward(x: Float64Array, W: Vec, dy: Float64Array, n: number, inDim: number, outDim: number, dW: Float64Array, db: Float64Array): Float64Array {
  const dx = new Float64Array(n * inDim);
  for (let r = 0; r < n; r++) {
    const yo = r * outDim;
    for (let o = 0; o < outDim; o++) db[o] += dy[yo + o];
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i];
      const wo = i * outDim;
      let s = 0;
      for (let o = 0; o < outDim; o++) {
        s += dy[yo + o] * W[wo + o];
        dW[wo + o] += xi * dy[yo + o];
      }
      dx[r * inDim + i] = s;
    }
  }
  return dx;
}

interface LnOut {
  y: Float64Array;
  xhat: Float64Array;
  rstd: Float64Array;
}

/** y = γ ⊙ (x − mean)/√(var + ε) + β per row of x [n, d] (biased variance). */
function layerNormForward(x: Float64Array, g: Vec, b: Vec, n: number, d: number): LnOut {
  const y = new Float64Array(n * d);
  const xhat = new Float64Array(n * d);
  const rstd = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let mean = 0;
    for (let c = 0; c < d; c++) mean += x[o + c];
    mean /= d;
    let v = 0;
    for (let c = 0; c < d; c++) v += (x[o + c] - mean) ** 2;
    const rs = 1 / Math.sqrt(v / d + LN_EPS);
    rstd[r] = rs;
    for (let c = 0; c < d; c++) {
      const h = (x[o + c] - mean) * rs;
      xhat[o + c] = h;
      y[o + c] = h * g[c] + b[c];
    }
  }
  return { y, xhat, rstd };
}

/** dγ += Σ dy ⊙ x̂, dβ += Σ dy; dx += rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)), dx̂ = dy ⊙ γ. */
function layerNormBackward(dy: Float64Array, g: Vec, ln: LnOut, n: number, d: number, dx: Float64Array, dg: Float64Array, db: Float64Array): void {
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let m1 = 0;
    let m2 = 0;
    for (let c = 0; c < d; c++) {
      const dh = dy[o + c] * g[c];
      m1 += dh;
      m2 += dh * ln.xhat[o + c];
      dg[c] += dy[o + c] * ln.xhat[o + c];
      db[c] += dy[o + c];
    }
    m1 /= d;
    m2 /= d;
    const rs = ln.rstd[r];
    for (let c = 0; c < d; c++) dx[o + c] += rs * (dy[o + c] * g[c] - m1 - ln.xhat[o + c] * m2);
  }
}

/** What one block's backward pass needs. */
interface BlockCache {
  xIn: Float64Array;
  ln1: LnOut;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** attention probabilities [H, L, L], 0 above the diagonal */
  p: Float64Array;
  /** heads merged back: [L, d] */
  y: Float64Array;
  xMid: Float64Array;
  ln2: LnOut;
  /** MLP pre-activation and gelu output [L, F] */
  u: Float64Array;
  gu: Float64Array;
}

/** One sequence's forward pass: the logits and what its backward pass needs (opaque outside this file). */
export interface Forward {
  blocks: BlockCache[];
  xLast: Float64Array;
  lnf: LnOut;
  /** [L, V] */
  logits: Float64Array;
}

function checkSequence(cfg: GptConfig, tokens: number[], where: string): void {
  if (tokens.length < 1 || tokens.length > cfg.maxPos) throw new RangeError(`${where}: length must be 1…maxPos (${cfg.maxPos}), found ${tokens.length}`);
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j];
    if (!Number.isInteger(t) || t < 0 || t >= cfg.vocab) throw new RangeError(`${where}: token ${j} must be an id in 0…${cfg.vocab - 1}, found ${t}`);
  }
}

/** One sequence's sizes: L tokens, d = dModel, F = dFf, V, H heads of hd = d/H, attention scale 1/√hd. */
function sizes(cfg: GptConfig, L: number) {
  const hd = cfg.dModel / cfg.nHead;
  return { L, d: cfg.dModel, F: cfg.dFf, V: cfg.vocab, H: cfg.nHead, hd, scale: 1 / Math.sqrt(hd) };
}

function forward(cfg: GptConfig, w: Map<string, Vec>, tokens: number[]): Forward {
  const { L, d, F, V, H, hd, scale } = sizes(cfg, tokens.length);
  const P = (name: string) => w.get(name)!;
  const wte = P('wte');
  const wpe = P('wpe');
  let x = new Float64Array(L * d);
  for (let j = 0; j < L; j++) for (let c = 0; c < d; c++) x[j * d + c] = wte[tokens[j] * d + c] + wpe[j * d + c];
  const blocks: BlockCache[] = [];
  for (let i = 0; i < cfg.nLayer; i++) {
    const pre = `h.${i}.`;
    const ln1 = layerNormForward(x, P(pre + 'ln_1.weight'), P(pre + 'ln_1.bias'), L, d);
    const q = linearForward(ln1.y, P(pre + 'attn.q.weight'), P(pre + 'attn.q.bias'), L, d, d);
    const k = linearForward(ln1.y, P(pre + 'attn.k.weight'), P(pre + 'attn.k.bias'), L, d, d);
    const v = linearForward(ln1.y, P(pre + 'attn.v.weight'), P(pre + 'attn.v.bias'), L, d, d);
    const p = new Float64Array(H * L * L);
    const y = new Float64Array(L * d);
    for (let h = 0; h < H; h++) {
      const c0 = h * hd;
      for (let a = 0; a < L; a++) {
        const row = (h * L + a) * L;
        for (let b = 0; b <= a; b++) {
          let s = 0;
          for (let c = 0; c < hd; c++) s += q[a * d + c0 + c] * k[b * d + c0 + c];
          p[row + b] = s * scale;
        }
        softmaxRow(p, row, a + 1, p, row); // causal: keys 0 … a
        for (let b = 0; b <= a; b++) {
          const pb = p[row + b];
          for (let c = 0; c < hd; c++) y[a * d + c0 + c] += pb * v[b * d + c0 + c];
        }
      }
    }
    const o = linearForward(y, P(pre + 'attn.c_proj.weight'), P(pre + 'attn.c_proj.bias'), L, d, d);
    const xMid = new Float64Array(L * d);
    for (let e = 0; e < L * d; e++) xMid[e] = x[e] + o[e];
    const ln2 = layerNormForward(xMid, P(pre + 'ln_2.weight'), P(pre + 'ln_2.bias'), L, d);
    const u = linearForward(ln2.y, P(pre + 'mlp.c_fc.weight'), P(pre + 'mlp.c_fc.bias'), L, d, F);
    const gu = new Float64Array(L * F);
    for (let e = 0; e < L * F; e++) gu[e] = 0.5 * u[e] * (1 + erf(u[e] * Math.SQRT1_2));
    const m = linearForward(gu, P(pre + 'mlp.c_proj.weight'), P(pre + 'mlp.c_proj.bias'), L, F, d);
    const xOut = new Float64Array(L * d);
    for (let e = 0; e < L * d; e++) xOut[e] = xMid[e] + m[e];
    blocks.push({ xIn: x, ln1, q, k, v, p, y, xMid, ln2, u, gu });
    x = xOut;
  }
  const lnf = layerNormForward(x, P('ln_f.weight'), P('ln_f.bias'), L, d);
  let logits: Float64Array;
  if (cfg.tied === false) {
    logits = linearForward(lnf.y, P('lm_head.weight'), cfg.headBias ? P('lm_head.bias') : new Float64Array(V), L, d, V);
  } else {
    logits = new Float64Array(L * V);
    const bias = cfg.headBias ? P('lm_head.bias') : undefined;
    for (let j = 0; j < L; j++) {
      for (let t = 0; t < V; t++) {
        let s = bias ? bias[t] : 0;
        for (let c = 0; c < d; c++) s += lnf.y[j * d + c] * wte[t * d + c];
        logits[j * V + t] = s;
      }
    }
  }
  return { blocks, xLast: x, lnf, logits };
}

/** Logits [L, V] of one unpadded sequence (positions 0…L−1), as the decoder graph computes them. */
export function gptLogits(cfg: GptConfig, weights: Map<string, Vec>, tokens: number[]): Float64Array {
  checkGptConfig(cfg);
  checkSequence(cfg, tokens, 'gptLogits: tokens');
  return forward(cfg, weights, tokens).logits;
}

/**
 * The forward pass of one unpadded sequence, kept for `gptBackward`: for losses other than
 * the next-token loss (e.g. the RL objective), which supply their own ∂loss/∂logits.
 * Memory ≈ 8 bytes × nLayer × L × (6d + 2F + H·L) for the caches.
 */
export function gptForward(cfg: GptConfig, weights: Map<string, Vec>, tokens: number[]): Forward {
  checkGptConfig(cfg);
  checkSequence(cfg, tokens, 'gptForward: tokens');
  return forward(cfg, weights, tokens);
}

/** Zero gradients by weight name (gptWeightSpecs order), float64. */
export function zeroGptGrads(cfg: GptConfig): GptGrads {
  return new Map(gptWeightSpecs(cfg).map((s) => [s.name, new Float64Array(s.shape.reduce((p, q) => p * q, 1))]));
}

/** Accumulates into `grads` the gradient of a loss whose derivative by the logits of `f` (gptForward of `tokens`) is dlogits [L, V]. */
export function gptBackward(cfg: GptConfig, weights: Map<string, Vec>, tokens: number[], f: Forward, dlogits: Float64Array, grads: GptGrads): void {
  if (dlogits.length !== tokens.length * cfg.vocab) throw new RangeError(`gptBackward: dlogits must hold L·V = ${tokens.length}·${cfg.vocab} values, found ${dlogits.length}`);
  backward(cfg, weights, tokens, f, dlogits, grads);
}

/** Backward of one sequence from dlogits [L, V]; accumulates into `grads`. */
function backward(cfg: GptConfig, w: Map<string, Vec>, tokens: number[], f: Forward, dlogits: Float64Array, grads: GptGrads): void {
  const { L, d, F, V, H, hd, scale } = sizes(cfg, tokens.length);
  const P = (name: string) => w.get(name)!;
  const G = (name: string) => grads.get(name)!;
  const wte = P('wte');
  const dwte = G('wte');
  let dhf: Float64Array;
  if (cfg.tied === false) {
    dhf = linearBackward(f.lnf.y, P('lm_head.weight'), dlogits, L, d, V, G('lm_head.weight'), cfg.headBias ? G('lm_head.bias') : new Float64Array(V));
  } else {
    dhf = new Float64Array(L * d);
    const db = cfg.headBias ? G('lm_head.bias') : undefined;
    for (let j = 0; j < L; j++) {
      for (let t = 0; t < V; t++) {
        const g = dlogits[j * V + t];
        if (g === 0) continue;
        if (db) db[t] += g;
        for (let c = 0; c < d; c++) {
          dhf[j * d + c] += g * wte[t * d + c];
          dwte[t * d + c] += g * f.lnf.y[j * d + c];
        }
      }
    }
  }
  let dx = new Float64Array(L * d);
  layerNormBackward(dhf, P('ln_f.weight'), f.lnf, L, d, dx, G('ln_f.weight'), G('ln_f.bias'));
  for (let i = cfg.nLayer - 1; i >= 0; i--) {
    const pre = `h.${i}.`;
    const c = f.blocks[i];
    // MLP: xOut = xMid + gelu(u) W₂ + b₂, u = LN₂(xMid) W₁ + b₁;  gelu'(u) = Φ(u) + u φ(u)
    const dgu = linearBackward(c.gu, P(pre + 'mlp.c_proj.weight'), dx, L, F, d, G(pre + 'mlp.c_proj.weight'), G(pre + 'mlp.c_proj.bias'));
    for (let e = 0; e < L * F; e++) {
      const u = c.u[e];
      dgu[e] *= 0.5 * (1 + erf(u * Math.SQRT1_2)) + u * INV_SQRT_2PI * Math.exp(-0.5 * u * u);
    }
    const dh2 = linearBackward(c.ln2.y, P(pre + 'mlp.c_fc.weight'), dgu, L, d, F, G(pre + 'mlp.c_fc.weight'), G(pre + 'mlp.c_fc.bias'));
    const dxMid = dx.slice();
    layerNormBackward(dh2, P(pre + 'ln_2.weight'), c.ln2, L, d, dxMid, G(pre + 'ln_2.weight'), G(pre + 'ln_2.bias'));
    // attention: xMid = xIn + y W_o + b_o
    const dy = linearBackward(c.y, P(pre + 'attn.c_proj.weight'), dxMid, L, d, d, G(pre + 'attn.c_proj.weight'), G(pre + 'attn.c_proj.bias'));
    const dq = new Float64Array(L * d);
    const dk = new Float64Array(L * d);
    const dv = new Float64Array(L * d);
    const dp = new Float64Array(L);
    for (let h = 0; h < H; h++) {
      const c0 = h * hd;
      for (let a = 0; a < L; a++) {
        const row = (h * L + a) * L;
        // dP_ab = dy_a · v_b;  dS_ab = P_ab (dP_ab − Σ_b' P_ab' dP_ab')
        let dot = 0;
        for (let b = 0; b <= a; b++) {
          let s = 0;
          for (let e = 0; e < hd; e++) {
            s += dy[a * d + c0 + e] * c.v[b * d + c0 + e];
            dv[b * d + c0 + e] += c.p[row + b] * dy[a * d + c0 + e];
          }
          dp[b] = s;
          dot += c.p[row + b] * s;
        }
        for (let b = 0; b <= a; b++) {
          const ds = c.p[row + b] * (dp[b] - dot) * scale;
          if (ds === 0) continue;
          for (let e = 0; e < hd; e++) {
            dq[a * d + c0 + e] += ds * c.k[b * d + c0 + e];
            dk[b * d + c0 + e] += ds * c.q[a * d + c0 + e];
          }
        }
      }
    }
    const dh1 = linearBackward(c.ln1.y, P(pre + 'attn.q.weight'), dq, L, d, d, G(pre + 'attn.q.weight'), G(pre + 'attn.q.bias'));
    const dh1k = linearBackward(c.ln1.y, P(pre + 'attn.k.weight'), dk, L, d, d, G(pre + 'attn.k.weight'), G(pre + 'attn.k.bias'));
    const dh1v = linearBackward(c.ln1.y, P(pre + 'attn.v.weight'), dv, L, d, d, G(pre + 'attn.v.weight'), G(pre + 'attn.v.bias'));
    for (let e = 0; e < L * d; e++) dh1[e] += dh1k[e] + dh1v[e];
    const dxIn = dxMid.slice();
    layerNormBackward(dh1, P(pre + 'ln_1.weight'), c.ln1, L, d, dxIn, G(pre + 'ln_1.weight'), G(pre + 'ln_1.bias'));
    dx = dxIn;
  }
  const dwpe = G('wpe');
  for (let j = 0; j < L; j++) {
    for (let e = 0; e < d; e++) {
      dwte[tokens[j] * d + e] += dx[j * d + e];
      dwpe[j * d + e] += dx[j * d + e];
    }
  }
}

/**
 * Loss and gradients of a batch: loss = (1/N) Σ_seq Σ_{j: lossMask[j+1]=1} −log p(tokens[j+1] | tokens[0…j]),
 * N = number of masked targets in the batch (must be ≥ 1); grads[name] = ∂loss/∂weights[name].
 * `weights` may be float32 (as exported) or float64 (e.g. for finite differences).
 */
export function gptLossAndGrads(cfg: GptConfig, weights: Map<string, Vec>, batch: LmSequence[]): { loss: number; targets: number; grads: GptGrads } {
  checkGptConfig(cfg);
  let N = 0;
  batch.forEach((s, b) => {
    checkSequence(cfg, s.tokens, `gptLossAndGrads: sequence ${b}`);
    if (s.lossMask.length !== s.tokens.length) throw new RangeError(`gptLossAndGrads: sequence ${b}: lossMask has ${s.lossMask.length} flags for ${s.tokens.length} tokens`);
    for (let j = 1; j < s.tokens.length; j++) if (s.lossMask[j]) N++;
  });
  if (N === 0) throw new RangeError('gptLossAndGrads: the batch has no masked target tokens (lossMask[j] = 1 for some j ≥ 1)');
  const grads: GptGrads = new Map(gptWeightSpecs(cfg).map((s) => [s.name, new Float64Array(weights.get(s.name)!.length)]));
  const V = cfg.vocab;
  let loss = 0;
  for (const s of batch) {
    const L = s.tokens.length;
    const f = forward(cfg, weights, s.tokens);
    const dlogits = new Float64Array(L * V);
    for (let j = 0; j + 1 < L; j++) {
      if (!s.lossMask[j + 1]) continue;
      const o = j * V;
      const target = s.tokens[j + 1];
      // loss_j = lse − z_target;  dloss/dz = (softmax(z) − e_target) / N
      loss += logSumExp(softmaxRow(f.logits, o, V, dlogits, o)) - f.logits[o + target];
      for (let t = 0; t < V; t++) dlogits[o + t] /= N;
      dlogits[o + target] -= 1 / N;
    }
    backward(cfg, weights, s.tokens, f, dlogits, grads);
  }
  return { loss: loss / N, targets: N, grads };
}

export interface TrainGptOptions {
  steps: number;
  /** sequences per step, drawn without replacement from a seeded shuffle, reshuffled each epoch */
  batchSize: number;
  lr: number;
  /** decoupled AdamW decay on matrices (wte, wpe, linear and head weights); not on biases or LayerNorm */
  weightDecay: number;
  seed: number;
  /** global gradient-norm clip (default 1.0; 0 = off) */
  gradClip?: number;
  /** linear lr warm-up steps (default 0) */
  warmupSteps?: number;
  /** continue from a saved state of the same run (same options, corpus and initial weights) instead of step 0 */
  resume?: PretrainState;
}

/** Saved batch sampler: its RNG, the current epoch's order of sequence indices, and the next position in it. */
export interface SamplerState {
  rng: RngState;
  order: number[];
  cursor: number;
}

/**
 * The pretraining batch sampler: each step takes the next min(batchSize, n) indices of `order`;
 * at the end of `order` it is shuffled again in place (Fisher–Yates from the previous epoch's
 * order, not from 0…n−1), so the draw depends on the order as well as the RNG: both are saved.
 */
export class BatchSampler {
  private constructor(
    private readonly rng: Rng,
    private readonly order: Int32Array,
    private cursor: number,
  ) {}

  /** A fresh sampler over n sequences: identity order, cursor at its end (the first draw shuffles). */
  static fresh(n: number, seed: number): BatchSampler {
    return new BatchSampler(new Rng(seed, 0x707472), Int32Array.from({ length: n }, (_, i) => i), n); // 'ptr'
  }

  static restore(n: number, s: SamplerState): BatchSampler {
    const seen = new Uint8Array(n);
    const perm = Array.isArray(s?.order) && s.order.length === n && s.order.every((i) => Number.isInteger(i) && i >= 0 && i < n && !seen[i] && (seen[i] = 1));
    if (!perm) throw new RangeError(`BatchSampler.restore: order must be a permutation of 0…${n - 1}`);
    if (!Number.isInteger(s.cursor) || s.cursor < 0 || s.cursor > n) throw new RangeError(`BatchSampler.restore: cursor must be an integer in 0…${n}, found ${s.cursor}`);
    return new BatchSampler(Rng.restore(s.rng), Int32Array.from(s.order), s.cursor);
  }

  next(batchSize: number): number[] {
    const batch: number[] = [];
    while (batch.length < Math.min(batchSize, this.order.length)) {
      if (this.cursor === this.order.length) {
        this.rng.shuffle(this.order);
        this.cursor = 0;
      }
      batch.push(this.order[this.cursor++]);
    }
    return batch;
  }

  save(): SamplerState {
    return { rng: this.rng.save(), order: Array.from(this.order), cursor: this.cursor };
  }
}

/**
 * Everything step `step` of pretraining continues from: the weights after `step` optimizer
 * steps, their AdamW moments (one m and v per weight array, gptWeightSpecs order; opt.step =
 * step), the sampler and the losses of steps 0…step−1. Resuming from it gives the same bytes as
 * never stopping: the step is a function of exactly these (all float32 or exact integers).
 */
export interface PretrainState {
  step: number;
  weights: GptWeights;
  opt: AdamWState;
  sampler: SamplerState;
  losses: number[];
}

/**
 * AdamW pretraining (lib/rl/adamw.ts, β = (0.9, 0.999), ε = 1e-8) of every weight on
 * the masked next-token loss. Returns new weights (the input is not modified) and the
 * batch loss before each step. Deterministic: same inputs and seed ⇒ same bytes.
 */
export function trainGpt(cfg: GptConfig, weights: GptWeights, sequences: LmSequence[], opts: TrainGptOptions): { weights: GptWeights; losses: number[] } {
  const run = trainGptSteps(cfg, weights, sequences, opts);
  for (let r = run.next(); ; r = run.next()) if (r.done) return r.value;
}

export interface TrainGptHooks {
  onStep?: (step: number, loss: number) => void;
  signal?: AbortSignal;
  /** called with the state after every `checkpointEvery` steps (not after the last), awaited before the next step */
  onCheckpoint?: (state: PretrainState) => Promise<void>;
  checkpointEvery?: number;
}

/**
 * `trainGpt` as an async loop that yields to the event loop after every step (so a worker's
 * heartbeats go out), reports each step's loss and saves checkpoints; stops with the signal's
 * reason when aborted.
 */
export async function trainGptAsync(cfg: GptConfig, weights: GptWeights, sequences: LmSequence[], opts: TrainGptOptions & TrainGptHooks): Promise<{ weights: GptWeights; losses: number[] }> {
  const every = opts.checkpointEvery ?? 0;
  if (opts.onCheckpoint && (!Number.isInteger(every) || every < 1)) throw new RangeError(`trainGptAsync: checkpointEvery must be a positive integer, found ${opts.checkpointEvery}`);
  const run = trainGptSteps(cfg, weights, sequences, opts);
  for (let r = run.next(); ; r = run.next()) {
    if (r.done) return r.value;
    const { step, loss, save } = r.value;
    opts.onStep?.(step, loss);
    if (opts.onCheckpoint && (step + 1) % every === 0 && step + 1 < opts.steps) await opts.onCheckpoint(save());
    await new Promise((resolve) => setImmediate(resolve));
    opts.signal?.throwIfAborted();
  }
}

/** The training loop of trainGpt, one yield per optimizer step; `save()` copies the state after that step. */
function* trainGptSteps(
  cfg: GptConfig,
  weights: GptWeights,
  sequences: LmSequence[],
  opts: TrainGptOptions,
): Generator<{ step: number; loss: number; save: () => PretrainState }, { weights: GptWeights; losses: number[] }> {
  checkGptConfig(cfg);
  checkGptWeights(cfg, weights);
  if (sequences.length === 0) throw new RangeError('trainGpt: no training sequences');
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`trainGpt: steps must be a non-negative integer, found ${opts.steps}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`trainGpt: batchSize must be a positive integer, found ${opts.batchSize}`);
  const specs = gptWeightSpecs(cfg);
  const from = opts.resume;
  if (from) checkResume(cfg, from, opts.steps);
  const w = cloneWeights(from ? from.weights : weights);
  const params = specs.map((s) => w.get(s.name)!);
  const noDecay = gptNoDecay(cfg);
  const state: AdamWState = from ? { step: from.opt.step, m: from.opt.m.map((a) => a.slice()), v: from.opt.v.map((a) => a.slice()) } : initAdamW(params);
  const adam = { ...DEFAULT_ADAMW, lr: opts.lr, weightDecay: opts.weightDecay, gradClip: opts.gradClip ?? 1.0, warmupSteps: opts.warmupSteps ?? 0 };
  const sampler = from ? BatchSampler.restore(sequences.length, from.sampler) : BatchSampler.fresh(sequences.length, opts.seed);
  const losses: number[] = from ? from.losses.slice() : [];
  const grads32 = params.map((p) => new Float32Array(p.length));
  for (let step = from ? from.step : 0; step < opts.steps; step++) {
    const batch = sampler.next(opts.batchSize).map((i) => sequences[i]);
    const { loss, grads } = gptLossAndGrads(cfg, w, batch);
    losses.push(loss);
    specs.forEach((s, k) => grads32[k].set(grads.get(s.name)!));
    adamwStep(params, grads32, state, adam, { noDecay });
    const save = (): PretrainState => ({
      step: step + 1,
      weights: cloneWeights(w),
      opt: { step: state.step, m: state.m.map((a) => a.slice()), v: state.v.map((a) => a.slice()) },
      sampler: sampler.save(),
      losses: losses.slice(),
    });
    yield { step, loss, save };
  }
  return { weights: w, losses };
}

function checkResume(cfg: GptConfig, s: PretrainState, steps: number): void {
  const specs = gptWeightSpecs(cfg);
  if (!Number.isInteger(s.step) || s.step < 0 || s.step > steps) throw new RangeError(`trainGpt: resume.step must be an integer in 0…${steps}, found ${s.step}`);
  if (s.opt.step !== s.step || s.losses.length !== s.step) throw new RangeError(`trainGpt: resume state of step ${s.step} has optimizer step ${s.opt.step} and ${s.losses.length} losses`);
  checkGptWeights(cfg, s.weights);
  if (s.opt.m.length !== specs.length || s.opt.v.length !== specs.length) throw new RangeError(`trainGpt: resume.opt must hold ${specs.length} moment arrays`);
  specs.forEach((spec, k) => {
    const n = s.weights.get(spec.name)!.length;
    if (s.opt.m[k].length !== n || s.opt.v[k].length !== n) throw new RangeError(`trainGpt: resume.opt moments of ${spec.name} must have ${n} values`);
  });
}

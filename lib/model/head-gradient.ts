import { InferenceSession, Tensor } from 'onnxruntime-node';
import { FLOAT, GraphBuilder, intsAttr } from './onnx-graph';
import { createSession, intraOpThreads, sharedSession } from './session-cache';

/**
 * Gradients of the output head `z_t = W h_t + b` (W [V, d], b [V]) — see
 * docs/icrlvr.md ("Step 4 — update") and docs/goracs.md ("Stage 1 — gradient embedding": per-sample norms).
 *
 * With `g_t = ∂loss/∂z_t` for tokens t = 0..T−1:
 *   dW = Σ_t g_t h_tᵀ = gᵀ h      g [T, V], h [T, d] → dW [V, d]
 *   db = Σ_t g_t                   → db [V]
 * All arrays are row-major Float32Array; the typed-array kernels sum in float64.
 *
 * Which to use (scripts/bench-head-gradient.ts; 2 shared cores, so figures are rough):
 * `OrtHeadGradient` (MLAS SGEMM, SIMD) runs at ~40–150 GFLOP/s against ~4.3 GFLOP/s for
 * the typed-array kernel, and wins from ~10⁵ flops (2·T·V·d) up — every batch and also
 * one 32-token sample at V=512, d=256. `headGradient` wins below that (ORT's ~50 µs call
 * overhead), is synchronous, needs no session, sums in float64 (max relative error
 * 5e-8 vs 3e-7 for ORT at T=4096) and also returns db: use it for tiny shapes, in tests,
 * and where an await does not fit.
 */

/** dW [V, d] and db [V] of one or more batches. */
export interface HeadGradient {
  dW: Float32Array;
  db: Float32Array;
}

/** How a per-sample gradient is normalised over its |t| tokens: mean (÷|t|) or sum. */
export type GradientScale = 'mean' | 'sum';

/** Tokens per packed block: the panels (KC·4 float64 of g and of h) stay in L1. */
const KC = 256;

/**
 * dW += gᵀ h and db += Σ_t g_t, i.e. dW[v, j] += Σ_t g[t, v] · h[t, j].
 *   g [T, V], h [T, d]; out.dW [V, d] and out.db [V] are accumulated into when given
 *   (so batches can be summed), allocated zeroed otherwise.
 * Goto-style kernel: per block of KC tokens, g and h are packed into float64 panels of 4
 * columns ([⌈V/4⌉][KC][4], [⌈d/4⌉][KC][4], zero-padded); a 4×4 register tile of dW runs
 * over the block's tokens with every load contiguous. Register sums are float64 (free in
 * JS); with more than one block the blocks are summed in a float64 copy of dW, so out
 * receives exactly one float32 rounding per call.
 */
export function headGradient(
  g: Float32Array,
  h: Float32Array,
  T: number,
  V: number,
  d: number,
  out: { dW?: Float32Array; db?: Float32Array } = {},
): HeadGradient {
  checkRows('headGradient', 'g', g, T, V);
  checkRows('headGradient', 'h', h, T, d);
  const dW = out.dW ?? new Float32Array(V * d);
  const db = out.db ?? new Float32Array(V);
  if (dW.length !== V * d) throw new RangeError(`headGradient: out.dW must hold V·d = ${V}·${d} = ${V * d} floats, found ${dW.length}`);
  if (db.length !== V) throw new RangeError(`headGradient: out.db must hold V = ${V} floats, found ${db.length}`);
  accumulateGtH(g, h, T, V, d, dW);
  const sum = new Float64Array(V);
  for (let t = 0; t < T; t++) {
    const r = t * V;
    for (let v = 0; v < V; v++) sum[v] += g[r + v];
  }
  for (let v = 0; v < V; v++) db[v] += sum[v];
  return { dW, db };
}

/** dW [V, d] += gᵀ h over T tokens (the kernel behind `headGradient`). */
function accumulateGtH(g: Float32Array, h: Float32Array, T: number, V: number, d: number, dW: Float32Array): void {
  if (T === 0 || V === 0 || d === 0) return;
  const vPanels = Math.ceil(V / 4);
  const dPanels = Math.ceil(d / 4);
  const kcMax = Math.min(KC, T);
  const gp = new Float64Array(vPanels * kcMax * 4);
  const hp = new Float64Array(dPanels * kcMax * 4);
  const acc = T > KC ? new Float64Array(V * d) : null;
  const edge = new Float64Array(16);
  for (let t0 = 0; t0 < T; t0 += KC) {
    const kc = Math.min(KC, T - t0);
    packPanels(g, t0, kc, V, gp);
    packPanels(h, t0, kc, d, hp);
    for (let pv = 0; pv < vPanels; pv++) {
      const ga = pv * kc * 4;
      const v0 = pv * 4;
      const rows = Math.min(4, V - v0);
      for (let pj = 0; pj < dPanels; pj++) {
        const hb = pj * kc * 4;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let t = 0; t < kc; t++) {
          const q = ga + 4 * t;
          const r = hb + 4 * t;
          const a0 = gp[q], a1 = gp[q + 1], a2 = gp[q + 2], a3 = gp[q + 3];
          const b0 = hp[r], b1 = hp[r + 1], b2 = hp[r + 2], b3 = hp[r + 3];
          c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
          c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
          c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
          c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        }
        const j0 = pj * 4;
        const cols = Math.min(4, d - j0);
        const target: Float32Array | Float64Array = acc ?? dW;
        const o = v0 * d + j0;
        if (rows === 4 && cols === 4) {
          target[o] += c00; target[o + 1] += c01; target[o + 2] += c02; target[o + 3] += c03;
          const o1 = o + d;
          target[o1] += c10; target[o1 + 1] += c11; target[o1 + 2] += c12; target[o1 + 3] += c13;
          const o2 = o1 + d;
          target[o2] += c20; target[o2 + 1] += c21; target[o2 + 2] += c22; target[o2 + 3] += c23;
          const o3 = o2 + d;
          target[o3] += c30; target[o3 + 1] += c31; target[o3 + 2] += c32; target[o3 + 3] += c33;
        } else {
          // edge tile: the padded rows/columns hold zeros; store only the real ones
          edge[0] = c00; edge[1] = c01; edge[2] = c02; edge[3] = c03;
          edge[4] = c10; edge[5] = c11; edge[6] = c12; edge[7] = c13;
          edge[8] = c20; edge[9] = c21; edge[10] = c22; edge[11] = c23;
          edge[12] = c30; edge[13] = c31; edge[14] = c32; edge[15] = c33;
          for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) target[o + i * d + j] += edge[4 * i + j];
        }
      }
    }
  }
  if (acc) for (let e = 0; e < acc.length; e++) dW[e] += acc[e];
}

/** Rows t0..t0+kc−1 of x [·, n] → panels [⌈n/4⌉][kc][4] (float64, zero-padded past column n). */
function packPanels(x: Float32Array, t0: number, kc: number, n: number, panels: Float64Array): void {
  const full = n >> 2;
  for (let p = 0; p < full; p++) {
    let q = p * kc * 4;
    let s = t0 * n + 4 * p;
    for (let t = 0; t < kc; t++, q += 4, s += n) {
      panels[q] = x[s];
      panels[q + 1] = x[s + 1];
      panels[q + 2] = x[s + 2];
      panels[q + 3] = x[s + 3];
    }
  }
  const rest = n - 4 * full;
  if (rest > 0) {
    let q = full * kc * 4;
    let s = t0 * n + 4 * full;
    for (let t = 0; t < kc; t++, q += 4, s += n) {
      for (let c = 0; c < 4; c++) panels[q + c] = c < rest ? x[s + c] : 0;
    }
  }
}

/**
 * The graph behind `OrtHeadGradient`: dW = MatMul(Transpose(g), h),
 * g [T, V], h [T, d] → dW [V, d], all three dims dynamic. (ORT's optimiser folds the
 * Transpose into the GEMM as transA.)
 */
export function headGradientGraph(): Uint8Array {
  const b = new GraphBuilder('dlab_head_gradient');
  const g = b.input('g', FLOAT, ['T', 'V']);
  const h = b.input('h', FLOAT, ['T', 'd']);
  b.output('dW', FLOAT, ['V', 'd']);
  b.op('MatMul', [b.op('Transpose', [g], [intsAttr('perm', [1, 0])]), h], undefined, 'dW');
  return b.toBytes();
}

/**
 * dW = gᵀ h on ONNX Runtime (CPU, MLAS): g [T, V], h [T, d] → dW [V, d].
 * One InferenceSession per process and thread count, shared by every caller.
 * Intra-op threads: the process's (session-cache.ts intraOpThreads), as `headLogits` uses,
 * unless `intraOpNumThreads` says otherwise.
 * Float32 accumulation inside the GEMM; see the module comment for when to prefer it.
 */
export class OrtHeadGradient {
  private constructor(private readonly session: InferenceSession) {}

  static async create(opts: { intraOpNumThreads?: number } = {}): Promise<OrtHeadGradient> {
    const threads = opts.intraOpNumThreads ?? intraOpThreads();
    const session = await sharedSession(`dlab-head-gradient:threads=${threads}`, () =>
      createSession(headGradientGraph(), threads),
    );
    return new OrtHeadGradient(session);
  }

  /** dW [V, d] = gᵀ h; with `out` given, out += gᵀ h and out is returned. */
  async run(g: Float32Array, h: Float32Array, T: number, V: number, d: number, out?: Float32Array): Promise<Float32Array> {
    checkRows('OrtHeadGradient.run', 'g', g, T, V);
    checkRows('OrtHeadGradient.run', 'h', h, T, d);
    if (out && out.length !== V * d) throw new RangeError(`OrtHeadGradient.run: out must hold V·d = ${V * d} floats, found ${out.length}`);
    if (T === 0) return out ?? new Float32Array(V * d);
    const result = await this.session.run({ g: new Tensor('float32', g, [T, V]), h: new Tensor('float32', h, [T, d]) });
    const dW = result.dW.data as Float32Array;
    if (!out) return dW;
    for (let e = 0; e < out.length; e++) out[e] += dW[e];
    return out;
  }
}

/**
 * Squared Frobenius norm of Σ_t a_t h_tᵀ by the Gram identity, never forming the V×d matrix:
 *   ‖Σ_t a_t h_tᵀ‖²_F = Σ_{t,s} (a_t·a_s)(h_t·h_s)      a [T, V], h [T, d]
 * (the caller divides by |t|² for the mean-token gradient of docs/goracs.md, "Stage 1 — gradient embedding").
 * O(T²(V+d)) against O(T·V·d) for forming the matrix: cheaper while T < 2Vd/(V+d)
 * (341 tokens at V=512, d=256). Summed in float64 over 4×4 tiles of token pairs,
 * upper-triangular tiles only (off-diagonal tiles count twice).
 */
export function gramNormSquared(a: Float32Array, h: Float32Array, T: number, V: number, d: number): number {
  checkRows('gramNormSquared', 'a', a, T, V);
  checkRows('gramNormSquared', 'h', h, T, d);
  return gramRows(a, h, 0, T, V, d, new Float64Array(16), new Float64Array(16));
}

/**
 * ‖G_i‖ for every sample, G_i = s_i Σ_{t ∈ i} a_t h_tᵀ, by the Gram identity.
 *   a [N, V], h [N, d] (N tokens of all samples, row-major); sample i owns rows
 *   offsets[i] .. offsets[i+1]−1 (offsets [n+1], non-decreasing, offsets[n] = N);
 *   s_i = 1/|t_i| for 'mean', 1 for 'sum'. Returns Float64Array [n]; an empty sample has norm 0.
 */
export function perSampleGradNorms(
  a: Float32Array,
  h: Float32Array,
  offsets: Int32Array,
  V: number,
  d: number,
  scale: GradientScale,
): Float64Array {
  const n = checkOffsets('perSampleGradNorms', offsets);
  const N = offsets[n];
  checkRows('perSampleGradNorms', 'a', a, N, V);
  checkRows('perSampleGradNorms', 'h', h, N, d);
  const norms = new Float64Array(n);
  const tileA = new Float64Array(16);
  const tileH = new Float64Array(16);
  for (let i = 0; i < n; i++) {
    const T = offsets[i + 1] - offsets[i];
    if (T === 0) continue;
    const sq = gramRows(a, h, offsets[i], T, V, d, tileA, tileH);
    norms[i] = Math.sqrt(Math.max(sq, 0)) / (scale === 'mean' ? T : 1);
  }
  return norms;
}

/** Σ_{t,s} (a_t·a_s)(h_t·h_s) over rows row0..row0+T−1; tileA, tileH are 16-float scratch. */
function gramRows(a: Float32Array, h: Float32Array, row0: number, T: number, V: number, d: number, tileA: Float64Array, tileH: Float64Array): number {
  let total = 0;
  const last = row0 + T - 1;
  for (let tb = row0; tb <= last; tb += 4) {
    // rows past the end are clamped to the last row and masked out below
    const r0 = tb, r1 = Math.min(tb + 1, last), r2 = Math.min(tb + 2, last), r3 = Math.min(tb + 3, last);
    const nr = Math.min(4, last - tb + 1);
    for (let sb = tb; sb <= last; sb += 4) {
      const s0 = sb, s1 = Math.min(sb + 1, last), s2 = Math.min(sb + 2, last), s3 = Math.min(sb + 3, last);
      const ns = Math.min(4, last - sb + 1);
      dotTile4x4(a, r0 * V, r1 * V, r2 * V, r3 * V, a, s0 * V, s1 * V, s2 * V, s3 * V, V, tileA);
      dotTile4x4(h, r0 * d, r1 * d, r2 * d, r3 * d, h, s0 * d, s1 * d, s2 * d, s3 * d, d, tileH);
      let sum = 0;
      for (let i = 0; i < nr; i++) for (let j = 0; j < ns; j++) sum += tileA[4 * i + j] * tileH[4 * i + j];
      total += sb === tb ? sum : 2 * sum;
    }
  }
  return total;
}

/**
 * 4×4 tile of row dot products, C[i, j] = Σ_{k<K} x[xi + k] · y[yj + k], for row starts
 * x0..x3 of x and y0..y3 of y; C → c [16] row-major, summed in float64 registers.
 * Shared by the Gram norm and the gradient projection.
 */
export function dotTile4x4(
  x: Float32Array, x0: number, x1: number, x2: number, x3: number,
  y: Float32Array, y0: number, y1: number, y2: number, y3: number,
  K: number, c: Float64Array,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let k = 0; k < K; k++) {
    const p0 = x[x0 + k], p1 = x[x1 + k], p2 = x[x2 + k], p3 = x[x3 + k];
    const q0 = y[y0 + k], q1 = y[y1 + k], q2 = y[y2 + k], q3 = y[y3 + k];
    c00 += p0 * q0; c01 += p0 * q1; c02 += p0 * q2; c03 += p0 * q3;
    c10 += p1 * q0; c11 += p1 * q1; c12 += p1 * q2; c13 += p1 * q3;
    c20 += p2 * q0; c21 += p2 * q1; c22 += p2 * q2; c23 += p2 * q3;
    c30 += p3 * q0; c31 += p3 * q1; c32 += p3 * q2; c33 += p3 * q3;
  }
  c[0] = c00; c[1] = c01; c[2] = c02; c[3] = c03;
  c[4] = c10; c[5] = c11; c[6] = c12; c[7] = c13;
  c[8] = c20; c[9] = c21; c[10] = c22; c[11] = c23;
  c[12] = c30; c[13] = c31; c[14] = c32; c[15] = c33;
}

/** Throws unless x holds exactly rows × cols floats. */
export function checkRows(fn: string, name: string, x: Float32Array, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${fn}: ${name} dims must be non-negative integers, found ${rows} × ${cols}`);
  }
  if (x.length !== rows * cols) throw new RangeError(`${fn}: ${name} must hold ${rows} × ${cols} = ${rows * cols} floats, found ${x.length}`);
}

/** Number of samples n in offsets [n+1]; throws unless offsets starts at 0 and never decreases. */
export function checkOffsets(fn: string, offsets: Int32Array): number {
  if (offsets.length < 1 || offsets[0] !== 0) throw new RangeError(`${fn}: offsets must start with 0, found ${offsets.length ? offsets[0] : 'an empty array'}`);
  for (let i = 1; i < offsets.length; i++) {
    if (offsets[i] < offsets[i - 1]) throw new RangeError(`${fn}: offsets must not decrease, found offsets[${i - 1}] = ${offsets[i - 1]} > offsets[${i}] = ${offsets[i]}`);
  }
  return offsets.length - 1;
}

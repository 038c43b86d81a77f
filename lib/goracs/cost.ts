import { DlabInputError } from '../errors';

export interface CostScale {
  maxDist: number;
  maxGrad: number;
  min: number;
  max: number;
}

export interface CostMatrix {
  cost: Float64Array;
  scale: CostScale;
}

/**
 * The GORACS cost matrix between the training pool T and the validation set V.
 *
 *   d_ij = ‖e_i − e'_j‖₂ / max_{i,j} ‖e_i − e'_j‖₂          (0 when all distances are 0)
 *   ĝ_i  = g_i / max_i g_i                                   (0 when all norms are 0)
 *   C_ij = minmax(d_ij − λ ĝ_i) = (x_ij − min x) / (max x − min x)   over the whole matrix
 *                                                            (all 0 when max x = min x)
 * "Stay close to the target distribution, prefer samples with large gradients."
 *
 * Arguments
 *   eT      Float32Array(nT·k), row-major representations of the pool samples
 *   eV      Float32Array(nV·k), row-major representations of the validation samples
 *   k       embedding width (nT = eT.length / k, nV = eV.length / k)
 *   g       Float64Array(nT), gradient norms ‖G_i‖ ≥ 0
 *   lambda  λ ≥ 0, weight of the gradient term (spec defaults: 0.1 generation, 0.5 binary)
 * Returns
 *   cost    Float64Array(nT·nV), row-major C[i·nV + j] in [0, 1]
 *   scale   maxDist = max ‖e_i − e'_j‖, maxGrad = max g, and min, max of x = d − λĝ
 *           before the rescaling (C = (x − min) / (max − min)) — the "cost summary".
 * Throws DlabInputError for NaN/±Infinity in eT, eV or g (naming row and dimension), a
 * negative g, k not dividing the lengths, an empty pool or validation set, g of the wrong
 * length, λ not finite or negative.
 *
 * Distances use ‖a‖² + ‖b‖² − 2 a·b in float64 (clamped at 0 before the square root), with
 * the dot products in a register-blocked kernel (4 pool rows × 2 validation rows per pass
 * over k, validation rows in blocks that stay in cache). Every dot product sums t = 0…k−1 in
 * order from 0, so C does not depend on the blocking. Measured: 15000 × 5000 × 64 in
 * about 3 s on one core.
 */
export function costMatrix(eT: Float32Array, eV: Float32Array, k: number, g: Float64Array, lambda: number): CostMatrix {
  return buildCost('costMatrix', ['eT', 'eV'], eT, eV, k, g, lambda);
}

/**
 * The `gradient` variant of the cost: exactly `costMatrix` with the distances taken between
 * projected gradients instead of representations,
 *   d_ij = ‖p_i − p'_j‖₂ / max d,  C_ij = minmax(d_ij − λ ĝ_i).
 *   pT  Float32Array(nT·k) projected pool gradients, pV Float32Array(nV·k) projected
 *   validation gradients, k the projection width; g, lambda, the result as in costMatrix.
 */
export function gradientCost(pT: Float32Array, pV: Float32Array, k: number, g: Float64Array, lambda: number): CostMatrix {
  return buildCost('gradientCost', ['pT', 'pV'], pT, pV, k, g, lambda);
}

/** Argument handling shared by both costs; the kernels are below. */
function buildCost(
  fn: string,
  names: [string, string],
  eT: Float32Array,
  eV: Float32Array,
  k: number,
  g: Float64Array,
  lambda: number,
): CostMatrix {
  if (!Number.isInteger(k) || k < 1) throw new DlabInputError(`${fn}: k must be an integer >= 1, found ${k}`);
  const nT = rowsOf(fn, names[0], eT, k);
  const nV = rowsOf(fn, names[1], eV, k);
  if (nT === 0) throw new DlabInputError(`${fn}: ${names[0]} is empty, expected at least one pool row of width ${k}`);
  if (nV === 0) throw new DlabInputError(`${fn}: ${names[1]} is empty, expected a non-empty validation set (rows of width ${k})`);
  if (g.length !== nT) throw new DlabInputError(`${fn}: g has length ${g.length}, expected nT = ${nT} (one gradient norm per pool row)`);
  if (!Number.isFinite(lambda) || lambda < 0) throw new DlabInputError(`${fn}: lambda must be a finite number >= 0, found ${lambda}`);
  checkFinite(fn, names[0], eT, k);
  checkFinite(fn, names[1], eV, k);
  let maxGrad = 0;
  for (let i = 0; i < nT; i++) {
    const x = g[i];
    if (!Number.isFinite(x) || x < 0) throw new DlabInputError(`${fn}: g[${i}] is ${x}, expected a finite gradient norm >= 0`);
    if (x > maxGrad) maxGrad = x;
  }

  const cost = new Float64Array(nT * nV);
  const rowMin = new Float64Array(nT);
  const rowMax = new Float64Array(nT);
  const maxDist = pairwiseDistances(toFloat64(eT), toFloat64(eV), nT, nV, k, cost, rowMin, rowMax);
  const { min, max } = rescale(cost, nT, nV, g, maxGrad, lambda, maxDist, rowMin, rowMax);
  return { cost, scale: { maxDist, maxGrad, min, max } };
}

function rowsOf(fn: string, name: string, e: Float32Array, k: number): number {
  if (e.length % k !== 0) {
    throw new DlabInputError(`${fn}: ${name} has length ${e.length}, expected a multiple of k = ${k} (rows × k)`);
  }
  return e.length / k;
}

function checkFinite(fn: string, name: string, e: Float32Array, k: number): void {
  for (let p = 0; p < e.length; p++) {
    if (!Number.isFinite(e[p])) {
      const row = Math.floor(p / k);
      throw new DlabInputError(`${fn}: ${name}[${p}] (row ${row}, dim ${p - row * k}) is ${e[p]}, expected a finite number`);
    }
  }
}

function toFloat64(x: Float32Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let p = 0; p < x.length; p++) y[p] = x[p];
  return y;
}

/** Validation rows per cache block: 128 rows × 64 dims × 8 B = 64 KiB. */
const COL_BLOCK = 128;

/**
 * Kernel: out[i·nV + j] = ‖a_i − b_j‖₂ = sqrt(max(0, ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j)).
 * Also records rowMin[i], rowMax[i] of row i; returns the maximum distance.
 */
function pairwiseDistances(
  A: Float64Array,
  B: Float64Array,
  nT: number,
  nV: number,
  k: number,
  out: Float64Array,
  rowMin: Float64Array,
  rowMax: Float64Array,
): number {
  const nA = squaredNorms(A, nT, k);
  const nB = squaredNorms(B, nV, k);
  const iFull = nT - (nT % 4);
  for (let j0 = 0; j0 < nV; j0 += COL_BLOCK) {
    const j1 = Math.min(nV, j0 + COL_BLOCK);
    const jPairs = j1 - ((j1 - j0) % 2);
    for (let i = 0; i < iFull; i += 4) {
      const a0 = i * k;
      const a1 = a0 + k;
      const a2 = a1 + k;
      const a3 = a2 + k;
      let j = j0;
      for (; j < jPairs; j += 2) {
        const b0 = j * k;
        const b1 = b0 + k;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let t = 0; t < k; t++) {
          const y0 = B[b0 + t];
          const y1 = B[b1 + t];
          let x = A[a0 + t];
          s00 += x * y0;
          s01 += x * y1;
          x = A[a1 + t];
          s10 += x * y0;
          s11 += x * y1;
          x = A[a2 + t];
          s20 += x * y0;
          s21 += x * y1;
          x = A[a3 + t];
          s30 += x * y0;
          s31 += x * y1;
        }
        const o = i * nV + j;
        out[o] = s00;
        out[o + 1] = s01;
        out[o + nV] = s10;
        out[o + nV + 1] = s11;
        out[o + 2 * nV] = s20;
        out[o + 2 * nV + 1] = s21;
        out[o + 3 * nV] = s30;
        out[o + 3 * nV + 1] = s31;
      }
      for (; j < j1; j++) for (let r = 0; r < 4; r++) out[(i + r) * nV + j] = dot(A, (i + r) * k, B, j * k, k);
    }
    for (let i = iFull; i < nT; i++) for (let j = j0; j < j1; j++) out[i * nV + j] = dot(A, i * k, B, j * k, k);
  }

  let maxDist = 0;
  for (let i = 0; i < nT; i++) {
    const base = i * nV;
    const ai = nA[i];
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < nV; j++) {
      const sq = ai + nB[j] - 2 * out[base + j];
      const d = sq > 0 ? Math.sqrt(sq) : 0;
      out[base + j] = d;
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
    rowMin[i] = lo;
    rowMax[i] = hi;
    if (hi > maxDist) maxDist = hi;
  }
  return maxDist;
}

function dot(A: Float64Array, a: number, B: Float64Array, b: number, k: number): number {
  let s = 0;
  for (let t = 0; t < k; t++) s += A[a + t] * B[b + t];
  return s;
}

function squaredNorms(X: Float64Array, rows: number, k: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = dot(X, i * k, X, i * k, k);
  return out;
}

/**
 * Kernel: distances in `cost` → C = (x − min x) / (max x − min x), x_ij = d_ij / maxDist − λ ĝ_i.
 * The global min and max of x come from the per-row extremes of d (x is increasing in d
 * within a row), evaluated with the same expression as the elements, so the minimising
 * entry maps to exactly 0 and the maximising one to exactly 1.
 */
function rescale(
  cost: Float64Array,
  nT: number,
  nV: number,
  g: Float64Array,
  maxGrad: number,
  lambda: number,
  maxDist: number,
  rowMin: Float64Array,
  rowMax: Float64Array,
): { min: number; max: number } {
  const invD = maxDist > 0 ? 1 / maxDist : 0;
  const shift = new Float64Array(nT); // λ ĝ_i
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < nT; i++) {
    shift[i] = maxGrad > 0 ? lambda * (g[i] / maxGrad) : 0;
    const lo = rowMin[i] * invD - shift[i];
    const hi = rowMax[i] * invD - shift[i];
    if (lo < min) min = lo;
    if (hi > max) max = hi;
  }
  const range = max - min;
  if (!(range > 0)) {
    cost.fill(0);
    return { min, max };
  }
  for (let i = 0; i < nT; i++) {
    const base = i * nV;
    const s = shift[i];
    for (let j = 0; j < nV; j++) cost[base + j] = (cost[base + j] * invD - s - min) / range;
  }
  return { min, max };
}

/** Checks a cost matrix argument of the GORACS functions: Float64Array(nT·nV), finite. */
export function checkCost(fn: string, cost: Float64Array, nT: number, nV: number): void {
  if (!Number.isInteger(nT) || nT < 1) throw new DlabInputError(`${fn}: nT must be an integer >= 1, found ${nT}`);
  if (!Number.isInteger(nV) || nV < 1) {
    throw new DlabInputError(`${fn}: nV must be an integer >= 1 (a non-empty validation set), found ${nV}`);
  }
  if (!(cost instanceof Float64Array)) throw new DlabInputError(`${fn}: cost must be a Float64Array (row-major nT×nV)`);
  if (cost.length !== nT * nV) {
    throw new DlabInputError(`${fn}: cost has length ${cost.length}, expected nT·nV = ${nT}·${nV} = ${nT * nV}`);
  }
  for (let e = 0; e < cost.length; e++) {
    if (!Number.isFinite(cost[e])) {
      const i = Math.floor(e / nV);
      throw new DlabInputError(`${fn}: cost[${e}] (row ${i}, column ${e - i * nV}) is ${cost[e]}, expected a finite number`);
    }
  }
}

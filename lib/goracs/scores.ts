import { DlabInputError } from '../errors';
import { checkCost } from './cost';
import { checkRows } from './poo';

/**
 * Which order statistic of (C_ij − f_j) over j is the dual value ŷ_i of dualScores:
 *   'rth-largest'   the R-th largest, as the reference code (`topk(largest=True)[-1]`): the default
 *   'rth-smallest'  the R-th smallest, the maximiser of D_i(y) below (row i taking its R
 *                   cheapest columns)
 */
export const DUAL_SCORE_RANKS = ['rth-largest', 'rth-smallest'] as const;
export type DualScoreRank = (typeof DUAL_SCORE_RANKS)[number];

/**
 * GORACS refinement scores from the POO duals [reference: `ITRA.pruning`, "estimate_MI_scores"]:
 *
 *   f_j = min_{k∈S} (C_kj − u_k)                              (j ∈ V)
 *   R   = ⌈|V| / |S|⌉
 *   ŷ_i = the R-th largest of (C_ij − f_j) over j              (i ∈ T, multiplicities counted)
 *         [rank 'rth-smallest': the R-th smallest instead]
 *   F_i = (1/|V|) Σ_j min(C_ij − ŷ_i − f_j, 0) + ŷ_i / |S|
 *
 * Refinement removes selected rows with high F and adds unselected rows with low F.
 *
 * Arguments
 *   cost      Float64Array(nT·nV), row-major C
 *   selected  Int32Array(|S|), distinct pool rows S
 *   u         Float64Array(|S|), row duals of POO(S) in the order of `selected` (poo().u)
 *   rank      which order statistic ŷ_i is (DualScoreRank), default 'rth-largest'
 * Returns F, Float64Array(nT), for every pool row (selected or not).
 * Under the dual shift (u + t, v − t) every F_i moves by t/|S|, so rankings do not depend
 * on how the duals are normalised.
 * Throws DlabInputError for a bad cost or selection, u of the wrong length or non-finite.
 *
 * Relation to the reference code (codes/select/ITRA.py):
 * - f. `compute_f_matrix` builds a per-entry matrix f_ij meant to hold, for a selected row i
 *   that is the unique minimiser of column j, the second minimum over S (a leave-one-out f
 *   for the row being removed). The mask that would switch those entries is written with
 *   `mask[S, :][:, cols][sel] = False`; chained advanced indexing returns copies, so the
 *   write never reaches `mask` and every entry is the plain minimum. We do not implement
 *   that second-minimum branch: the spec's formula has none, and leaving it out gives the
 *   numbers the reference actually computes. This is our one deviation from the reference
 *   source (dead code omitted), not from its results.
 * - ŷ. By default the R-th *largest*, as the spec and the reference (`topk(largest=True)[-1]`)
 *   have it, although it looks wrong: F_i is, up to a constant, the dual objective of the
 *   problem with row i added at dual value y, D_i(y) = y/|S| + (1/|V|) Σ_j min(f_j, C_ij − y),
 *   a concave function of y whose maximiser has |{j : C_ij − f_j < y}| ≈ |V|/|S| = R, i.e.
 *   y near the R-th *smallest* (C_ij − f_j) — row i taking its R cheapest columns. At the
 *   R-th largest, min(·, 0) is active on all but R − 1 columns. Switching changes which
 *   candidates are tried (and so the selections), so the R-th smallest is an option
 *   (rank 'rth-smallest', config `dualScore`), not the default.
 * - Arithmetic as the reference orders it, (C_ij − ŷ_i) − f_j, but in float64 (the
 *   reference scores a float32 copy of C on the GPU); the mean sums j = 0 … nV−1.
 */
export function dualScores(cost: Float64Array, nT: number, nV: number, selected: Int32Array, u: Float64Array, rank: DualScoreRank = 'rth-largest'): Float64Array {
  checkCost('dualScores', cost, nT, nV);
  checkRows('dualScores', 'selected', selected, nT);
  if (u.length !== selected.length) {
    throw new DlabInputError(`dualScores: u has length ${u.length}, expected |selected| = ${selected.length} (one dual per selected row)`);
  }
  for (let k = 0; k < u.length; k++) {
    if (!Number.isFinite(u[k])) throw new DlabInputError(`dualScores: u[${k}] is ${u[k]}, expected a finite dual`);
  }
  if (!DUAL_SCORE_RANKS.includes(rank)) throw new DlabInputError(`dualScores: rank ${JSON.stringify(rank)}, expected one of ${DUAL_SCORE_RANKS.join(', ')}`);
  return dualScoresKernel(cost, nT, nV, selected, u, rank);
}

/** Kernel of dualScores (arguments already checked). */
export function dualScoresKernel(cost: Float64Array, nT: number, nV: number, selected: Int32Array, u: Float64Array, rank: DualScoreRank = 'rth-largest'): Float64Array {
  const nS = selected.length;
  const f = new Float64Array(nV).fill(Infinity);
  for (let k = 0; k < nS; k++) {
    const base = selected[k] * nV;
    const uk = u[k];
    for (let j = 0; j < nV; j++) {
      const c = cost[base + j] - uk;
      if (c < f[j]) f[j] = c;
    }
  }
  const R = Math.ceil(nV / nS);
  const F = new Float64Array(nT);
  if (rank === 'rth-smallest') {
    // R-th smallest of x = −(R-th largest of −x)
    const neg = new Float64Array(nV);
    const buf = new Float64Array(R <= SMALL_R ? R : 0);
    for (let i = 0; i < nT; i++) {
      const base = i * nV;
      for (let j = 0; j < nV; j++) neg[j] = -(cost[base + j] - f[j]);
      const y = -(R <= SMALL_R ? rthLargestSmall(neg, R, buf) : rthLargestSelect(neg, R));
      F[i] = rowScore(cost, base, nV, nS, f, y);
    }
    return F;
  }
  const x = new Float64Array(R <= SMALL_R ? 0 : nV);
  const top = new Float64Array(R <= SMALL_R ? R : 0);
  const last = R - 1;
  for (let i = 0; i < nT; i++) {
    const base = i * nV;
    let y: number;
    if (R <= SMALL_R) {
      // rthLargestSmall inlined over x_j = C_ij − f_j (one pass, no copy): the same value
      top.fill(-Infinity);
      for (let j = 0; j < nV; j++) {
        const v = cost[base + j] - f[j];
        if (v <= top[last]) continue;
        let p = last;
        while (p > 0 && top[p - 1] < v) {
          top[p] = top[p - 1];
          p--;
        }
        top[p] = v;
      }
      y = top[last];
    } else {
      for (let j = 0; j < nV; j++) x[j] = cost[base + j] - f[j];
      y = rthLargestSelect(x, R);
    }
    F[i] = rowScore(cost, base, nV, nS, f, y);
  }
  return F;
}

/** F_i = (1/|V|) Σ_j min((C_ij − y) − f_j, 0) + y/|S| for the row starting at `base`. */
function rowScore(cost: Float64Array, base: number, nV: number, nS: number, f: Float64Array, y: number): number {
  let s = 0;
  for (let j = 0; j < nV; j++) {
    const d = cost[base + j] - y - f[j];
    if (d < 0) s += d;
  }
  return s / nV + y / nS;
}

/** Below this R the R-th largest is kept in a sorted buffer; above it, quickselect. */
const SMALL_R = 32;

/** R-th largest of x (multiplicities counted) via a descending buffer `top` of length R. */
export function rthLargestSmall(x: Float64Array, R: number, top: Float64Array): number {
  top.fill(-Infinity);
  const last = R - 1;
  for (let j = 0; j < x.length; j++) {
    const v = x[j];
    if (v <= top[last]) continue;
    let p = last;
    while (p > 0 && top[p - 1] < v) {
      top[p] = top[p - 1];
      p--;
    }
    top[p] = v;
  }
  return top[last];
}

/**
 * R-th largest of x = the (n − R)-th smallest (0-based), by quickselect with a
 * median-of-three pivot and three-way partitioning (equal keys cannot cause quadratic
 * work). Works on a copy; the value does not depend on the algorithm.
 */
export function rthLargestSelect(x: Float64Array, R: number): number {
  const a = x.slice();
  const target = a.length - R;
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const p = median3(a[lo], a[mid], a[hi]);
    // Dutch flag: [lo, lt) < p, [lt, i) = p, (gt, hi] > p
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i];
      if (v < p) {
        a[i] = a[lt];
        a[lt] = v;
        lt++;
        i++;
      } else if (v > p) {
        a[i] = a[gt];
        a[gt] = v;
        gt--;
      } else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return p;
  }
  return a[target];
}

function median3(a: number, b: number, c: number): number {
  if (a < b) return b < c ? b : a < c ? c : a;
  return a < c ? a : b < c ? c : b;
}

import { DlabInputError } from '../errors';
import { emd, EmdStatus } from '../ot';
import { checkCost } from './cost';

export interface PooResult {
  value: number;
  u: Float64Array;
  v: Float64Array;
  iterations: number;
  status: EmdStatus;
}

export interface PooOptions {
  maxIterations?: number;
}

/**
 * The Proxy Optimisation Objective of a subset S of the pool:
 *
 *   POO(S) = min_P ⟨P, C[S, :]⟩   s.t.  P 1 = 1/|S|,  Pᵀ 1 = 1/|V|,  P ≥ 0
 *          = max_{u,v} (1/|S|) Σ_k u_k + (1/|V|) Σ_j v_j   s.t.  u_k + v_j ≤ C_{S_k, j}
 *
 * solved exactly by `emd` (network simplex) on the gathered |S|×nV submatrix.
 *
 * Arguments
 *   cost   Float64Array(nT·nV), row-major C (e.g. from costMatrix)
 *   rows   Int32Array(|S|), distinct pool rows; the submatrix keeps this order
 *   opts.maxIterations  pivot cap passed to emd (default emd's, 10 000 000)
 * Returns
 *   value       POO(S)
 *   u           Float64Array(|S|), row duals in the order of `rows`
 *   v           Float64Array(nV), column duals
 *   iterations  simplex pivots; status as emd's ('optimal' unless the cap was hit)
 * Dual normalisation: duals are defined up to (u + t, v − t). We centre them as POT's
 * `emd2` does by default (`center_ot_dual`, what the reference's `compute_ot` received):
 *   t = (⟨b, v⟩ − ⟨a, u⟩) / (Σa + Σb), so that ⟨a, u⟩ = ⟨b, v⟩ = POO/2.
 * (GORACS's scores F only shift by a constant under t, so the choice does not change a
 * selection; centring makes F comparable to the reference's numbers.)
 * Throws DlabInputError for a cost of the wrong length or with non-finite entries, an empty
 * S, a row outside [0, nT), a repeated row.
 */
export function poo(cost: Float64Array, nT: number, nV: number, rows: Int32Array, opts: PooOptions = {}): PooResult {
  checkCost('poo', cost, nT, nV);
  checkRows('poo', 'rows', rows, nT);
  return solveGathered(gatherRows(cost, nV, rows), rows.length, nV, opts.maxIterations);
}

/** Throws unless `rows` is a non-empty Int32Array of distinct indices in [0, nT). */
export function checkRows(fn: string, name: string, rows: Int32Array, nT: number): void {
  if (!(rows instanceof Int32Array)) throw new DlabInputError(`${fn}: ${name} must be an Int32Array of pool row indices`);
  if (rows.length === 0) throw new DlabInputError(`${fn}: ${name} is empty, expected at least one selected pool row`);
  const seen = new Uint8Array(nT);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    if (!(r >= 0 && r < nT)) throw new DlabInputError(`${fn}: ${name}[${k}] = ${r}, expected a pool row in [0, ${nT})`);
    if (seen[r]) throw new DlabInputError(`${fn}: ${name}[${k}] = ${r} appears twice, expected distinct rows`);
    seen[r] = 1;
  }
}

/** C[rows, :] as a new row-major Float64Array(|rows|·nV). */
export function gatherRows(cost: Float64Array, nV: number, rows: Int32Array): Float64Array {
  const sub = new Float64Array(rows.length * nV);
  for (let k = 0; k < rows.length; k++) sub.set(cost.subarray(rows[k] * nV, rows[k] * nV + nV), k * nV);
  return sub;
}

/** Kernel: exact uniform-to-uniform OT on an nS×nV submatrix, duals centred as described above. */
export function solveGathered(sub: Float64Array, nS: number, nV: number, maxIterations?: number): PooResult {
  const a = new Float64Array(nS).fill(1 / nS);
  const b = new Float64Array(nV).fill(1 / nV);
  const r = emd(a, b, sub, nS, nV, maxIterations === undefined ? {} : { maxIterations });
  let au = 0;
  let bv = 0;
  for (let k = 0; k < nS; k++) au += a[k] * r.u[k];
  for (let j = 0; j < nV; j++) bv += b[j] * r.v[j];
  const t = (bv - au) / 2; // Σa + Σb = 2
  for (let k = 0; k < nS; k++) r.u[k] += t;
  for (let j = 0; j < nV; j++) r.v[j] -= t;
  return { value: r.cost, u: r.u, v: r.v, iterations: r.iterations, status: r.status };
}

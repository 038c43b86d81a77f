/**
 * Exact optimal transport (earth mover's distance) between two histograms.
 *
 *   cost = min_P ⟨P, C⟩ = Σ_ij C_ij P_ij   s.t.  P 1 = a,  Pᵀ 1 = b,  P ≥ 0
 *        = max_{u,v} ⟨a, u⟩ + ⟨b, v⟩       s.t.  u_i + v_j ≤ C_ij          (LP duality)
 *
 * Shapes and dtypes (all float64):
 *   a     Float64Array(nRows), finite weights ≥ 0
 *   b     Float64Array(nCols), finite weights ≥ 0, Σb = Σa within 1e-9 relative
 *         (b is rescaled by Σa/Σb before solving, so the plan's column sums are b·Σa/Σb)
 *   cost  Float64Array(nRows·nCols), row-major C[i·nCols + j], finite (may be negative)
 * Throws an Error naming the argument (and index) for NaN/±Infinity/negative weights,
 * non-finite costs, wrong lengths, or unequal masses (the message gives both sums).
 *
 * Returns
 *   cost        ⟨P, C⟩
 *   plan        Float64Array(nRows·nCols), row-major optimal P; a basic solution, so at
 *               most nRows + nCols − 1 entries are non-zero. Weights that balance only
 *               up to rounding (1000 × 1/1000 vs 5000 × 1/5000) leave entries of order
 *               1e-19 that carry the last ulps; they are part of the exact solution.
 *   u, v        Float64Array(nRows), Float64Array(nCols): optimal duals. At 'optimal':
 *               u_i + v_j ≤ C_ij + 2e-12·(max|C| + range C) (dual feasibility),
 *               ⟨a, u⟩ + ⟨b, v⟩ = cost up to rounding      (strong duality),
 *               P_ij > 0 ⇒ u_i + v_j = C_ij                 (complementary slackness).
 *               Normalisation: the duals are defined up to u + t, v − t; we fix t so that
 *               u is 0 at the first row with a_i > 0 (u_0 = 0 when a is all zero). Duals
 *               of zero-weight rows/columns are some feasible values, not unique.
 *   iterations  number of simplex pivots
 *   status      'optimal'; 'max_iterations' when the pivot cap was hit first (then plan is
 *               the current basis: mass still parked on the artificial root is missing from
 *               its marginals, and u, v are not dual feasible); 'infeasible' if the solver
 *               ended with mass on the artificial root (cannot happen for valid balanced
 *               input; kept as a guard).
 *
 * Algorithm: primal network simplex on the bipartite transport network with a big-M
 * artificial root basis, block search pivoting and strongly feasible trees — see
 * `network-simplex.ts` (own implementation). It is the method of POT's `emd`/`emd2` (Bonneel, van de
 * Panne, Paris & Heidrich 2011, "Displacement interpolation using Lagrangian mass
 * transport", ACM TOG 30(6), which used LEMON's network simplex); polynomial-time
 * variants of the method are due to Orlin 1997 ("A polynomial time primal network
 * simplex algorithm for minimum cost flows", Math. Programming 78).
 */
import { checkTransportInputs, MASS_RELATIVE_TOLERANCE } from './transport-inputs';
import { transportNetworkSimplex } from './network-simplex';

export type EmdStatus = 'optimal' | 'max_iterations' | 'infeasible';

export interface EmdOptions {
  /** Cap on simplex pivots (default 10 000 000). */
  maxIterations?: number;
}

export interface EmdResult {
  cost: number;
  u: Float64Array;
  v: Float64Array;
  plan: Float64Array;
  iterations: number;
  status: EmdStatus;
}

export const EMD_DEFAULT_MAX_ITERATIONS = 10_000_000;

export function emd(
  a: Float64Array,
  b: Float64Array,
  cost: Float64Array,
  nRows: number,
  nCols: number,
  opts: EmdOptions = {},
): EmdResult {
  const { sumA, sumB } = checkTransportInputs('emd', a, b, cost, nRows, nCols);
  const maxIterations = opts.maxIterations ?? EMD_DEFAULT_MAX_ITERATIONS;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 0)) {
    throw new Error(`emd: opts.maxIterations must be an integer >= 0, got ${maxIterations}`);
  }

  let demand = b;
  if (sumA !== sumB && sumB > 0) {
    const scale = sumA / sumB;
    demand = new Float64Array(nCols);
    for (let j = 0; j < nCols; j++) demand[j] = b[j] * scale;
  }

  const solved = transportNetworkSimplex(a, demand, cost, nRows, nCols, maxIterations);
  const { plan, potentials, artificialFlow } = solved;

  let total = 0;
  for (let e = 0; e < plan.length; e++) {
    const p = plan[e];
    if (p !== 0) total += p * cost[e];
  }

  const u = potentials.slice(0, nRows);
  const v = new Float64Array(nCols);
  for (let j = 0; j < nCols; j++) v[j] = -potentials[nRows + j];
  let anchor = 0;
  while (anchor < nRows - 1 && !(a[anchor] > 0)) anchor++;
  const shift = u[anchor];
  for (let i = 0; i < nRows; i++) u[i] -= shift;
  for (let j = 0; j < nCols; j++) v[j] += shift;

  let status: EmdStatus = solved.status;
  if (status === 'optimal') {
    let parked = 0;
    for (let k = 0; k < artificialFlow.length; k++) parked += artificialFlow[k];
    if (parked > MASS_RELATIVE_TOLERANCE * sumA) status = 'infeasible';
  }

  return { cost: total, u, v, plan, iterations: solved.iterations, status };
}

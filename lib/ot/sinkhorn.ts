/**
 * Entropic optimal transport by Sinkhorn iterations in the log domain (Cuturi 2013,
 * "Sinkhorn distances"; log-domain stabilisation as in Schmitzer 2019 and Peyré & Cuturi
 * 2019, "Computational Optimal Transport", §4.4).
 *
 *   P_ε = argmin_P ⟨P, C⟩ − ε H(P)   s.t.  P 1 = a,  Pᵀ 1 = b,  P ≥ 0,
 *   H(P) = −Σ_ij P_ij (log P_ij − 1);  the solution is  P_ij = exp((f_i + g_j − C_ij) / ε)
 *
 * with the dual potentials f, g found by alternating exact marginal fits, each a
 * log-sum-exp with the maximum factored out (no exp of large arguments, so small ε works):
 *
 *   g_j ← ε log b_j − ε log Σ_i exp((f_i − C_ij) / ε)      (column sums = b)
 *   f_i ← ε log a_i − ε log Σ_j exp((g_j − C_ij) / ε)      (row sums = a)
 *
 * Shapes and dtypes (float64): a Float64Array(nRows), b Float64Array(nCols), finite ≥ 0
 * with equal sums (1e-9 relative; b is rescaled to Σa); cost Float64Array(nRows·nCols)
 * row-major, finite. opts.reg = ε > 0 (absolute, in cost units); opts.maxIterations
 * (default 10 000; one iteration = one g and one f update); opts.tolerance (default 1e-9):
 * stop when ‖P 1 − a‖₁ ≤ tolerance·Σa before the f update.
 *
 * Returns plan P (row-major, nRows·nCols), cost ⟨P, C⟩ (the transport cost of the
 * entropic plan, not the regularised objective), f (nRows) and g (nCols) — −Infinity
 * where the weight is 0 — iterations, and converged. On convergence both marginals of
 * the returned plan are within tolerance·Σa in L1 (rows exactly up to rounding).
 * As ε → 0, ⟨P_ε, C⟩ → the exact OT cost (see emd.ts); the error is O(ε log(nRows·nCols)).
 */
import { checkTransportInputs } from './transport-inputs';

export interface SinkhornOptions {
  reg: number;
  maxIterations?: number;
  tolerance?: number;
}

export interface SinkhornResult {
  plan: Float64Array;
  cost: number;
  f: Float64Array;
  g: Float64Array;
  iterations: number;
  converged: boolean;
}

export function sinkhorn(
  a: Float64Array,
  b: Float64Array,
  cost: Float64Array,
  nRows: number,
  nCols: number,
  opts: SinkhornOptions,
): SinkhornResult {
  const { sumA, sumB } = checkTransportInputs('sinkhorn', a, b, cost, nRows, nCols);
  const reg = opts.reg;
  const maxIterations = opts.maxIterations ?? 10_000;
  const tolerance = opts.tolerance ?? 1e-9;
  if (!(Number.isFinite(reg) && reg > 0)) throw new Error(`sinkhorn: opts.reg must be finite and > 0, got ${reg}`);
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new Error(`sinkhorn: opts.maxIterations must be an integer >= 1, got ${maxIterations}`);
  }
  if (!(tolerance > 0)) throw new Error(`sinkhorn: opts.tolerance must be > 0, got ${tolerance}`);

  const plan = new Float64Array(nRows * nCols);
  const f = new Float64Array(nRows);
  const g = new Float64Array(nCols);
  if (sumA === 0) {
    f.fill(-Infinity);
    g.fill(-Infinity);
    return { plan, cost: 0, f, g, iterations: 0, converged: true };
  }

  const scaleB = sumA / sumB;
  const logA = new Float64Array(nRows);
  const logB = new Float64Array(nCols);
  for (let i = 0; i < nRows; i++) logA[i] = Math.log(a[i]);
  for (let j = 0; j < nCols; j++) logB[j] = Math.log(b[j] * scaleB);
  const invReg = 1 / reg;
  const colMax = new Float64Array(nCols);
  const colSum = new Float64Array(nCols);

  /** g_j ← ε log b_j − ε LSE_i((f_i − C_ij)/ε), streamed row by row. */
  function updateG(): void {
    colMax.fill(-Infinity);
    colSum.fill(0);
    for (let i = 0; i < nRows; i++) {
      const fi = f[i];
      if (fi === -Infinity) continue;
      for (let j = 0, e = i * nCols; j < nCols; j++, e++) {
        const x = fi - cost[e];
        if (x > colMax[j]) colMax[j] = x;
      }
    }
    for (let i = 0; i < nRows; i++) {
      const fi = f[i];
      if (fi === -Infinity) continue;
      for (let j = 0, e = i * nCols; j < nCols; j++, e++) {
        colSum[j] += Math.exp((fi - cost[e] - colMax[j]) * invReg);
      }
    }
    for (let j = 0; j < nCols; j++) {
      g[j] = logB[j] === -Infinity ? -Infinity : reg * logB[j] - colMax[j] - reg * Math.log(colSum[j]);
    }
  }

  /** f_i ← ε log a_i − ε LSE_j((g_j − C_ij)/ε); returns ‖P 1 − a‖₁ of the plan before. */
  function updateF(): number {
    let err = 0;
    for (let i = 0; i < nRows; i++) {
      if (logA[i] === -Infinity) {
        f[i] = -Infinity;
        continue;
      }
      const row = i * nCols;
      let mx = -Infinity;
      for (let j = 0; j < nCols; j++) {
        const x = g[j] - cost[row + j];
        if (x > mx) mx = x;
      }
      let s = 0;
      for (let j = 0; j < nCols; j++) s += Math.exp((g[j] - cost[row + j] - mx) * invReg);
      const fNew = reg * logA[i] - mx - reg * Math.log(s);
      // row sum before the update = a_i exp((f_i − fNew)/ε)
      err += a[i] * Math.abs(Math.exp((f[i] - fNew) * invReg) - 1);
      f[i] = fNew;
    }
    return err;
  }

  for (let i = 0; i < nRows; i++) if (logA[i] === -Infinity) f[i] = -Infinity;
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    updateG();
    const err = updateF();
    iterations++;
    if (err <= tolerance * sumA) {
      converged = true;
      break;
    }
  }

  let total = 0;
  for (let i = 0; i < nRows; i++) {
    const fi = f[i];
    if (fi === -Infinity) continue;
    for (let j = 0, e = i * nCols; j < nCols; j++, e++) {
      const p = Math.exp((fi + g[j] - cost[e]) * invReg);
      plan[e] = p;
      total += p * cost[e];
    }
  }
  return { plan, cost: total, f, g, iterations, converged };
}

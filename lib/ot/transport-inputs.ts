/**
 * Argument checks shared by the OT solvers: histograms a (nRows) and b (nCols) of finite
 * weights ≥ 0, a finite row-major cost matrix of length nRows·nCols.
 */

/** Relative tolerance on |Σa − Σb| / max(Σa, Σb) accepted as balanced. */
export const MASS_RELATIVE_TOLERANCE = 1e-9;

export interface TransportMasses {
  sumA: number;
  sumB: number;
}

/** Throws an Error naming the argument (and index) that is wrong; returns the two masses. */
export function checkTransportInputs(
  solver: string,
  a: Float64Array,
  b: Float64Array,
  cost: Float64Array,
  nRows: number,
  nCols: number,
): TransportMasses {
  if (!Number.isInteger(nRows) || nRows < 1) {
    throw new Error(`${solver}: nRows must be an integer >= 1, got ${nRows}`);
  }
  if (!Number.isInteger(nCols) || nCols < 1) {
    throw new Error(`${solver}: nCols must be an integer >= 1, got ${nCols}`);
  }
  if (a.length !== nRows) throw new Error(`${solver}: a has length ${a.length}, expected nRows = ${nRows}`);
  if (b.length !== nCols) throw new Error(`${solver}: b has length ${b.length}, expected nCols = ${nCols}`);
  if (cost.length !== nRows * nCols) {
    throw new Error(
      `${solver}: cost has length ${cost.length}, expected nRows*nCols = ${nRows}*${nCols} = ${nRows * nCols}`,
    );
  }
  const sumA = checkWeights(solver, 'a', a);
  const sumB = checkWeights(solver, 'b', b);
  for (let e = 0; e < cost.length; e++) {
    const c = cost[e];
    if (!Number.isFinite(c)) {
      const i = Math.floor(e / nCols);
      throw new Error(`${solver}: cost[${e}] (row ${i}, column ${e - i * nCols}) is ${c}, expected a finite number`);
    }
  }
  if (Math.abs(sumA - sumB) > MASS_RELATIVE_TOLERANCE * Math.max(sumA, sumB)) {
    throw new Error(
      `${solver}: sum(a) = ${sumA} differs from sum(b) = ${sumB}; ` +
        `the histograms must carry equal mass (relative tolerance ${MASS_RELATIVE_TOLERANCE})`,
    );
  }
  return { sumA, sumB };
}

/** Checks each weight and returns their sum, compensated (Neumaier) so that the mass is exact
 * to an ulp — a plain running sum of 5000 × 1/5000 is off by ~1e-13, which would otherwise
 * show up as unshipped mass. */
function checkWeights(solver: string, name: string, w: Float64Array): number {
  let sum = 0;
  let compensation = 0;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    if (!Number.isFinite(x) || x < 0) {
      throw new Error(`${solver}: ${name}[${i}] is ${x}, expected a finite weight >= 0`);
    }
    const t = sum + x;
    compensation += sum >= x ? sum - t + x : x - t + sum;
    sum = t;
  }
  return sum + compensation;
}

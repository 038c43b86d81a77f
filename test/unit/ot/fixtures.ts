/**
 * Test fixtures for the OT solvers: a seeded PRNG (mulberry32, so tests never touch
 * Math.random) and random transport instances built from it.
 */

/** mulberry32: uniform floats in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniformWeights(n: number): Float64Array {
  return new Float64Array(n).fill(1 / n);
}

/** Random positive weights summing to `mass`. */
export function randomWeights(n: number, rand: () => number, mass = 1): Float64Array {
  const w = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    w[i] = 0.05 + rand();
    s += w[i];
  }
  for (let i = 0; i < n; i++) w[i] *= mass / s;
  return w;
}

export function randomCost(nRows: number, nCols: number, rand: () => number): Float64Array {
  const c = new Float64Array(nRows * nCols);
  for (let e = 0; e < c.length; e++) c[e] = rand();
  return c;
}

/** Integer costs in {0, …, levels−1}: many ties, many degenerate bases. */
export function integerCost(nRows: number, nCols: number, levels: number, rand: () => number): Float64Array {
  const c = new Float64Array(nRows * nCols);
  for (let e = 0; e < c.length; e++) c[e] = Math.floor(rand() * levels);
  return c;
}

export function rowSums(plan: Float64Array, nRows: number, nCols: number): Float64Array {
  const s = new Float64Array(nRows);
  for (let i = 0; i < nRows; i++) for (let j = 0; j < nCols; j++) s[i] += plan[i * nCols + j];
  return s;
}

export function colSums(plan: Float64Array, nRows: number, nCols: number): Float64Array {
  const s = new Float64Array(nCols);
  for (let i = 0; i < nRows; i++) for (let j = 0; j < nCols; j++) s[j] += plan[i * nCols + j];
  return s;
}

export function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0;
  for (let k = 0; k < x.length; k++) d = Math.max(d, Math.abs(x[k] - y[k]));
  return d;
}

/**
 * Softmax and log-softmax of one row of logits, in float64.
 *
 *   m   = max_v z_v,   s = Σ_v exp(z_v − m),   lse = m + log s
 *   softmax(z)_v     = exp(z_v − m) / s
 *   log softmax(z)_v = z_v − lse                       (a whole row: `logSoftmaxRow`)
 *                    = (z_v − m) − log s               (one entry: `logSoftmaxAt`)
 *
 * Shapes: z is row-major [N, V] (float32 or float64); a row is the V values z[off] …
 * z[off + V − 1], off = t·V for row t. Every value is read as a float64 and every sum runs
 * in float64 over v = 0 … V−1 in order, so a row's result depends on that row alone. The
 * two log forms are the same number rounded in two orders; each function names its order.
 */

export type Logits = Float32Array | Float64Array;

/** m and s of one row: its max, and Σ_v exp(z_v − m). */
export interface SoftmaxStats {
  max: number;
  sum: number;
}

/** m = max_v z[off + v] and s = Σ_v exp(z[off + v] − m), v = 0 … V−1. */
function softmaxStats(z: Logits, off: number, V: number): SoftmaxStats {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (z[off + v] > max) max = z[off + v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(z[off + v] - max);
  return { max, sum };
}

/** lse = m + log s, the row's log Σ_v exp(z_v). */
export function logSumExp(s: SoftmaxStats): number {
  return s.max + Math.log(s.sum);
}

/** log softmax(z)_y = (z_y − m) − log s for one entry y (0 ≤ y < V) of the row at `off`. */
export function logSoftmaxAt(z: Logits, off: number, V: number, y: number): number {
  const { max, sum } = softmaxStats(z, off, V);
  return z[off + y] - max - Math.log(sum);
}

/** out[v] = z[off + v] − lse for the whole row; out Float64Array(≥ V). */
export function logSoftmaxRow(z: Logits, off: number, V: number, out: Float64Array): void {
  const lse = logSumExp(softmaxStats(z, off, V));
  for (let v = 0; v < V; v++) out[v] = z[off + v] - lse;
}

/**
 * out[outOff + v] = exp(z[off + v] − m) / s (one rounding into `out`, float32 or float64);
 * returns the row's m and s. `out` may be `z` itself with outOff = off (in place).
 */
export function softmaxRow(z: Logits, off: number, V: number, out: Logits, outOff: number): SoftmaxStats {
  const s = softmaxStats(z, off, V);
  for (let v = 0; v < V; v++) out[outOff + v] = Math.exp(z[off + v] - s.max) / s.sum;
  return s;
}

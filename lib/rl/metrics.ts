/**
 * Evaluation metrics — docs/icrlvr.md, "Step 6 — metrics": avg@k and unbiased pass@k
 * (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").
 */

/**
 * Unbiased pass@k from n samples of which c are correct:
 *   pass@k = 1 − C(n−c, k) / C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)
 * (product form: no large binomials). 1 when n − c < k; 0 when c = 0.
 * Requires integers 0 ≤ c ≤ n, 1 ≤ k ≤ n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || c < 0 || c > n || k < 1 || k > n) {
    throw new RangeError(`passAtK: need integers 0 ≤ c ≤ n and 1 ≤ k ≤ n, found n=${n} c=${c} k=${k}`);
  }
  if (n - c < k) return 1;
  let fail = 1;
  for (let i = n - c + 1; i <= n; i++) fail *= 1 - k / i;
  return 1 - fail;
}

/**
 * Mean pass@k over questions, each with n samples.
 *   correctCounts: c per question (ArrayLike of integers) → number (NaN when empty)
 */
export function meanPassAtK(correctCounts: ArrayLike<number>, n: number, k: number): number {
  if (correctCounts.length === 0) return NaN;
  let s = 0;
  for (let q = 0; q < correctCounts.length; q++) s += passAtK(n, correctCounts[q], k);
  return s / correctCounts.length;
}

/**
 * Fraction correct: (1/n) Σ_i correct_i, correct_i ∈ {0, 1}. avg@k is this over all
 * k samples of all questions. NaN when empty.
 */
export function accuracy(correct: ArrayLike<number>): number {
  if (correct.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < correct.length; i++) s += correct[i];
  return s / correct.length;
}

/**
 * Mean of values[i] over the i with mask[i] === equals (e.g. mean EG of correct rollouts:
 * meanWhere(eg, reward, 1); of incorrect: meanWhere(eg, reward, 0)). NaN when none.
 */
export function meanWhere(values: ArrayLike<number>, mask: ArrayLike<number>, equals: number): number {
  if (values.length !== mask.length) throw new RangeError(`meanWhere: values (${values.length}) and mask (${mask.length}) must have equal length`);
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (mask[i] === equals) {
      s += values[i];
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

import { DlabInputError } from '../errors';
import type { Rng } from '../rng';

/**
 * Evaluation of next-item recommendation and of binary (CTR-style) prediction (GORACS
 * docs/goracs.md, "Stage 4 — evaluation"): rank of the true item among sampled negatives ⇒ HR@k, NDCG@k; AUC.
 */

/**
 * `count` distinct items drawn uniformly from {0, …, items−1} \ {next}, in draw order.
 * A partial Fisher–Yates shuffle over the items−1 candidates, kept sparse (a Map of moved
 * positions), so O(count) time and memory whatever `items` is.
 *   next ∈ [0, items), 0 ≤ count ≤ items − 1; rng the project Rng. Returns Int32Array(count).
 */
export function sampleNegatives(next: number, items: number, count: number, rng: Rng): Int32Array {
  if (!Number.isInteger(items) || items < 1) throw new DlabInputError(`sampleNegatives: items must be an integer >= 1, found ${items}`);
  if (!Number.isInteger(next) || next < 0 || next >= items) {
    throw new DlabInputError(`sampleNegatives: next must be an item in [0, ${items}), found ${next}`);
  }
  if (!Number.isInteger(count) || count < 0 || count > items - 1) {
    throw new DlabInputError(`sampleNegatives: count must be an integer in [0, ${items - 1}] (items other than the true one), found ${count}`);
  }
  const m = items - 1; // candidates 0…m−1 stand for the items other than `next`
  const moved = new Map<number, number>();
  const out = new Int32Array(count);
  for (let t = 0; t < count; t++) {
    const r = t + rng.int(m - t);
    const atR = moved.get(r) ?? r;
    moved.set(r, moved.get(t) ?? t);
    out[t] = atR >= next ? atR + 1 : atR;
  }
  return out;
}

export interface RankMetrics {
  /** 1-based rank of the true item */
  rank: number;
  /** HR@k = 1 if rank ≤ k */
  hr: Record<number, 0 | 1>;
  /** NDCG@k = 1 / log2(rank + 1) if rank ≤ k, else 0 (one relevant item, so IDCG = 1) */
  ndcg: Record<number, number>;
}

/**
 * Ranking metrics of one test case.
 *   scores  Float64Array(1 + negatives): scores[0] the true item, the rest its negatives
 *   ks      cut-offs, integers ≥ 1 (e.g. [5, 10])
 * rank = 1 + |{j ≥ 1 : scores[j] ≥ scores[0]}| — a negative scoring the same as the true
 * item counts as ranked above it (ties count as worse), so constant scores give the worst
 * rank rather than the best. Throws DlabInputError for an empty or non-finite score.
 */
export function rankMetrics(scores: Float64Array, ks: number[]): RankMetrics {
  if (scores.length === 0) throw new DlabInputError('rankMetrics: scores is empty, expected the true item at index 0 and its negatives');
  for (let j = 0; j < scores.length; j++) {
    if (!Number.isFinite(scores[j])) throw new DlabInputError(`rankMetrics: scores[${j}] is ${scores[j]}, expected a finite score`);
  }
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new DlabInputError(`rankMetrics: cut-off k must be an integer >= 1, found ${k}`);
  const s0 = scores[0];
  let rank = 1;
  for (let j = 1; j < scores.length; j++) if (scores[j] >= s0) rank++;
  const hr: Record<number, 0 | 1> = {};
  const ndcg: Record<number, number> = {};
  for (const k of ks) {
    hr[k] = rank <= k ? 1 : 0;
    ndcg[k] = rank <= k ? 1 / Math.log2(rank + 1) : 0;
  }
  return { rank, hr, ndcg };
}

/**
 * Area under the ROC curve = P(score of a random positive > score of a random negative),
 * ties counting ½ (Mann–Whitney U with mid-ranks): AUC = (Σ_{pos} rank − P(P+1)/2) / (P·N).
 *   scores Float64Array(n) finite; labels Uint8Array(n) of 0/1 with P ≥ 1 positives and N ≥ 1 negatives.
 */
export function auc(scores: Float64Array, labels: Uint8Array): number {
  const n = scores.length;
  if (labels.length !== n) throw new DlabInputError(`auc: labels has length ${labels.length}, expected ${n} (one per score)`);
  let P = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new DlabInputError(`auc: scores[${i}] is ${scores[i]}, expected a finite score`);
    if (labels[i] !== 0 && labels[i] !== 1) throw new DlabInputError(`auc: labels[${i}] is ${labels[i]}, expected 0 or 1`);
    P += labels[i];
  }
  const N = n - P;
  if (P === 0 || N === 0) throw new DlabInputError(`auc: needs at least one positive and one negative label, found ${P} positives and ${N} negatives`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  for (let lo = 0; lo < n; ) {
    let hi = lo + 1;
    while (hi < n && scores[order[hi]] === scores[order[lo]]) hi++;
    const midRank = (lo + 1 + hi) / 2; // mean of the 1-based ranks lo+1 … hi
    for (let t = lo; t < hi; t++) if (labels[order[t]] === 1) rankSum += midRank;
    lo = hi;
  }
  return (rankSum - (P * (P + 1)) / 2) / (P * N);
}

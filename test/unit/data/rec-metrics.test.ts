import { strict as assert } from 'node:assert';
import { auc, rankMetrics, sampleNegatives } from '../../../lib/data/rec-synth';
import { DlabInputError } from '../../../lib/errors';
import { Rng } from '../../../lib/rng';

describe('rec metrics: sampled negatives, HR@k / NDCG@k, AUC', () => {
  it('sampleNegatives: 99 distinct items in range, never the true one; deterministic in the rng', () => {
    for (let trial = 0; trial < 20; trial++) {
      const next = trial * 7;
      const neg = sampleNegatives(next, 200, 99, new Rng(trial));
      assert.equal(neg.length, 99);
      assert.equal(new Set(neg).size, 99);
      assert.ok(neg.every((i) => i >= 0 && i < 200 && i !== next));
      assert.deepEqual(sampleNegatives(next, 200, 99, new Rng(trial)), neg);
    }
  });

  it('sampleNegatives with count = items − 1 returns every other item', () => {
    const neg = sampleNegatives(3, 10, 9, new Rng(1));
    assert.deepEqual(Array.from(neg).sort((a, b) => a - b), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  });

  it('sampleNegatives is uniform: each of 9 candidates drawn ≈ 1/3 of the time when drawing 3', () => {
    const counts = new Array(10).fill(0);
    const rng = new Rng(2);
    for (let t = 0; t < 9000; t++) for (const i of sampleNegatives(0, 10, 3, rng)) counts[i]++;
    assert.equal(counts[0], 0);
    for (let i = 1; i < 10; i++) assert.ok(Math.abs(counts[i] - 3000) < 200, `item ${i}: ${counts[i]}`);
  });

  it('rank 1 → HR@5 = HR@10 = 1, NDCG = 1', () => {
    const r = rankMetrics(new Float64Array([0.9, 0.5, 0.1, 0.3]), [5, 10]);
    assert.deepEqual(r, { rank: 1, hr: { 5: 1, 10: 1 }, ndcg: { 5: 1, 10: 1 } });
  });

  it('rank 3 → NDCG@5 = 1/log2(4) = 0.5; HR@2 = 0, NDCG@2 = 0', () => {
    const r = rankMetrics(new Float64Array([0.5, 0.9, 0.1, 0.7]), [2, 5]);
    assert.deepEqual(r, { rank: 3, hr: { 2: 0, 5: 1 }, ndcg: { 2: 0, 5: 0.5 } });
  });

  it('ties count as worse: true item tied with two negatives is ranked 3rd; constant scores rank last', () => {
    assert.equal(rankMetrics(new Float64Array([0.5, 0.5, 0.5, 0.1]), [5]).rank, 3);
    assert.equal(rankMetrics(new Float64Array(100).fill(1), [10]).rank, 100);
  });

  it('auc: scores [0.1, 0.4, 0.35, 0.8], labels [0, 0, 1, 1] → 3 of 4 pairs ordered = 0.75', () => {
    assert.equal(auc(new Float64Array([0.1, 0.4, 0.35, 0.8]), new Uint8Array([0, 0, 1, 1])), 0.75);
  });

  it('auc: ties count ½ — all scores equal → 0.5; one tied pair of 4 → (3 + ½)/4', () => {
    assert.equal(auc(new Float64Array([2, 2, 2]), new Uint8Array([1, 0, 0])), 0.5);
    assert.equal(auc(new Float64Array([0.1, 0.4, 0.4, 0.8]), new Uint8Array([0, 0, 1, 1])), 0.875);
  });

  describe('bad input', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['more negatives than other items', () => sampleNegatives(0, 50, 50, new Rng(1)), /count must be an integer in \[0, 49\]/],
      ['true item out of range', () => sampleNegatives(50, 50, 5, new Rng(1)), /next must be an item in \[0, 50\)/],
      ['NaN score', () => rankMetrics(new Float64Array([0.5, NaN]), [5]), /scores\[1\] is NaN/],
      ['k = 0', () => rankMetrics(new Float64Array([1, 0]), [0]), /cut-off k must be an integer >= 1/],
      ['auc without negatives', () => auc(new Float64Array([1, 2]), new Uint8Array([1, 1])), /found 2 positives and 0 negatives/],
      ['auc label 2', () => auc(new Float64Array([1, 2]), new Uint8Array([1, 2])), /labels\[1\] is 2/],
      ['auc length mismatch', () => auc(new Float64Array([1, 2]), new Uint8Array([1])), /labels has length 1, expected 2/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

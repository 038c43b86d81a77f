import { strict as assert } from 'node:assert';
import { aucInterval, meanInterval, pairedDifference, quantile } from '../../../lib/stats/bootstrap';
import { auc } from '../../../lib/data/rec-metrics';
import { DlabInputError } from '../../../lib/errors';
import { Rng } from '../../../lib/rng';

const normals = (n: number, seed: number) => {
  const rng = new Rng(seed, 1);
  return Array.from({ length: n }, () => rng.normal());
};

describe('stats/bootstrap: percentile bootstrap intervals', () => {
  it('quantile interpolates linearly at position p·(B − 1)', () => {
    const s = Float64Array.of(0, 1, 2, 3);
    assert.equal(quantile(s, 0), 0);
    assert.equal(quantile(s, 0.5), 1.5);
    assert.equal(quantile(s, 1), 3);
    assert.ok(Math.abs(quantile(s, 0.25) - 0.75) < 1e-15);
  });

  it('meanInterval: deterministic given the seed, another seed moves only the interval', () => {
    const x = normals(30, 3);
    const a = meanInterval(x, { seed: 1, resamples: 2000 });
    assert.deepEqual(meanInterval(x, { seed: 1, resamples: 2000 }), a);
    const b = meanInterval(x, { seed: 2, resamples: 2000 });
    assert.equal(b.mean, a.mean);
    assert.notEqual(b.lo, a.lo);
    assert.equal(a.n, 30);
    assert.ok(a.lo < a.mean && a.mean < a.hi);
  });

  it('meanInterval: constant values and a single value give lo = hi = mean', () => {
    assert.deepEqual(meanInterval([0.25, 0.25, 0.25], { seed: 0, resamples: 100 }), { mean: 0.25, lo: 0.25, hi: 0.25, n: 3 });
    assert.deepEqual(meanInterval([7], { seed: 0, resamples: 100 }), { mean: 7, lo: 7, hi: 7, n: 1 });
  });

  it('meanInterval: 400 N(0, 1) values — the 95 % interval is about ±1.96/√400 = ±0.098 around the mean', () => {
    const r = meanInterval(normals(400, 5), { seed: 9 });
    const half = (r.hi - r.lo) / 2;
    assert.ok(Math.abs(half - 0.098) < 0.015, `half-width ${half}`);
    assert.ok(Math.abs((r.lo + r.hi) / 2 - r.mean) < 0.01);
    const r80 = meanInterval(normals(400, 5), { seed: 9, level: 0.8 });
    assert.ok(r80.hi - r80.lo < r.hi - r.lo, 'a lower level gives a narrower interval');
  });

  it('pairedDifference: a shared per-unit effect cancels in the pairs (interval around the true 0.5, far narrower than unpaired)', () => {
    const shared = normals(20, 11).map((z) => 3 * z);
    const noise = normals(20, 12).map((z) => 0.05 * z);
    const b = shared;
    const a = shared.map((s, k) => s + 0.5 + noise[k]);
    const d = pairedDifference(a, b, { seed: 4 });
    assert.ok(d.lo > 0.45 && d.hi < 0.55, `[${d.lo}, ${d.hi}]`);
    assert.equal(d.n, 20);
    const ma = meanInterval(a, { seed: 4 });
    assert.ok(ma.hi - ma.lo > 10 * (d.hi - d.lo));
    assert.ok(Math.abs(d.mean - (ma.mean - meanInterval(b, { seed: 4 }).mean)) < 1e-12);
  });

  it('aucInterval: the Mann–Whitney AUC with ties counted ½, and its interval', () => {
    // positives 3, 2; negatives 1, 2: pairs (3,1) 1, (3,2) 1, (2,1) 1, (2,2) ½ → 3.5/4
    const r = aucInterval([3, 2, 1, 2], [1, 1, 0, 0], { seed: 0, resamples: 500 });
    assert.equal(r.mean, 0.875);
    assert.ok(r.lo <= r.mean && r.mean <= r.hi && r.hi <= 1);
    const perfect = aucInterval([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], { seed: 0, resamples: 200 });
    assert.deepEqual([perfect.mean, perfect.lo, perfect.hi], [1, 1, 1]);
    const tied = aucInterval([1, 1, 1, 1], [1, 0, 1, 0], { seed: 0, resamples: 200 });
    assert.deepEqual([tied.mean, tied.lo, tied.hi], [0.5, 0.5, 0.5]);
  });

  it('aucInterval: 600 rows of separated normals — interval about the point AUC, deterministic; units group rows', () => {
    const rng = new Rng(21, 2);
    const labels = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scores = labels.map((l) => rng.normal() + (l ? 1 : 0));
    const r = aucInterval(scores, labels, { seed: 3, resamples: 1000 });
    assert.equal(r.mean, auc(Float64Array.from(scores), Uint8Array.from(labels)));
    assert.ok(r.mean > 0.7 && r.mean < 0.8, `AUC ${r.mean}`);
    assert.ok(r.lo < r.mean && r.mean < r.hi && r.hi - r.lo < 0.12 && r.hi - r.lo > 0.03, `[${r.lo}, ${r.hi}]`);
    assert.deepEqual(aucInterval(scores, labels, { seed: 3, resamples: 1000 }), r);
    // 6 rows per unit: 100 units, same point AUC
    const units = labels.map((_, i) => Math.floor(i / 6));
    const g = aucInterval(scores, labels, { seed: 3, resamples: 1000, units });
    assert.equal(g.n, 100);
    assert.equal(g.mean, r.mean);
  });

  describe('bad input', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['no values', () => meanInterval([], { seed: 0 }), /no values/],
      ['NaN value', () => meanInterval([1, NaN], { seed: 0 }), /value 1 is NaN/],
      ['non-integer seed', () => meanInterval([1], { seed: 0.5 }), /seed must be an integer/],
      ['0 resamples', () => meanInterval([1], { seed: 0, resamples: 0 }), /resamples must be an integer >= 1/],
      ['level 1', () => meanInterval([1], { seed: 0, level: 1 }), /level must be in \(0, 1\)/],
      ['unpaired lengths', () => pairedDifference([1, 2], [1], { seed: 0 }), /a has 2 values and b 1/],
      ['one class only', () => aucInterval([1, 2], [1, 1], { seed: 0 }), /at least one positive and one negative/],
      ['label 2', () => aucInterval([1, 2], [1, 2], { seed: 0 }), /labels\[1\] is 2/],
      ['units of the wrong length', () => aucInterval([1, 2], [1, 0], { seed: 0, units: [0] }), /units has length 1, expected 2/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

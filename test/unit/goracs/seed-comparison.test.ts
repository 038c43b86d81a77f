import { strict as assert } from 'node:assert';
import { seedComparison, UnitScore } from '../../../lib/goracs/seed-comparison';
import { meanInterval, pairedDifference } from '../../../lib/stats/bootstrap';

describe('goracs seedComparison: arms and paired differences over (data seed, fine-tuning seed) units', () => {
  // arm b = a − 0.1 on every unit but one, where it is a − 0.4; arm c has one unit fewer
  const scores: UnitScore[] = [];
  for (const d of [1, 2, 3])
    for (const s of [0, 1]) {
      const x = 0.3 + 0.01 * d + 0.001 * s;
      scores.push({ arm: 'a', dataSeed: d, fineTuneSeed: s, values: { hr10: x } });
      scores.push({ arm: 'b', dataSeed: d, fineTuneSeed: s, values: { hr10: x - (d === 3 && s === 1 ? 0.4 : 0.1) } });
      if (!(d === 1 && s === 0)) scores.push({ arm: 'c', dataSeed: d, fineTuneSeed: s, values: { hr10: x - 0.2 } });
    }
  const opts = { seed: 5, resamples: 500 };
  const r = seedComparison(scores, ['a', 'b'], [['a', 'b'], ['a', 'c']], ['hr10'], opts);

  it('arm means are meanInterval over the arm\'s units; differences are pairedDifference over the shared units', () => {
    const a = scores.filter((x) => x.arm === 'a').map((x) => x.values.hr10);
    assert.deepEqual(r.arms[0], { arm: 'a', metric: 'hr10', ...meanInterval(a, opts) });
    const b = scores.filter((x) => x.arm === 'b').map((x) => x.values.hr10);
    const ab = r.differences[0];
    assert.deepEqual({ mean: ab.mean, lo: ab.lo, hi: ab.hi, n: ab.n }, pairedDifference(a, b, opts));
    assert.ok(Math.abs(ab.mean - 0.15) < 1e-12);
    const ac = r.differences[1];
    assert.equal(ac.n, 5, 'the unit arm c lacks is left out');
    assert.ok(Math.abs(ac.mean - 0.2) < 1e-12 && Math.abs(ac.lo - 0.2) < 1e-12 && Math.abs(ac.hi - 0.2) < 1e-12);
  });

  it('per data seed: the mean over its fine-tuning seeds; over data seeds: meanInterval of those', () => {
    const ab = r.differences[0];
    assert.deepEqual(ab.perDataSeed.map((p) => p.dataSeed), [1, 2, 3]);
    const want = [0.1, 0.1, 0.25];
    ab.perDataSeed.forEach((p, k) => assert.ok(Math.abs(p.mean - want[k]) < 1e-12, `data seed ${p.dataSeed}: ${p.mean}`));
    assert.deepEqual(ab.overDataSeeds, meanInterval(ab.perDataSeed.map((p) => p.mean), opts));
    assert.equal(ab.overDataSeeds.n, 3);
  });

  it('a repeated unit, an arm without units and arms without a shared unit are refused', () => {
    assert.throws(() => seedComparison([...scores, scores[0]], ['a'], [], ['hr10'], opts), /arm a has unit d1.s0 twice/);
    assert.throws(() => seedComparison(scores, ['z'], [], ['hr10'], opts), /arm z has no units/);
    const other: UnitScore[] = [{ arm: 'p', dataSeed: 1, fineTuneSeed: 0, values: { hr10: 1 } }, { arm: 'q', dataSeed: 2, fineTuneSeed: 0, values: { hr10: 1 } }];
    assert.throws(() => seedComparison(other, [], [['p', 'q']], ['hr10'], opts), /share no unit/);
  });
});

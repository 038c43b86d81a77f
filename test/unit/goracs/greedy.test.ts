import { strict as assert } from 'node:assert';
import { greedyStart } from '../../../lib/goracs/greedy';
import { DlabInputError } from '../../../lib/errors';
import { Instance, levelInstance, plantedInstance } from './fixtures';

/** The spec's rule written plainly (eager, O(n·nT·nV)): the reference for the lazy kernel. */
function eagerGreedy({ cost, nT, nV }: Instance, n: number): { rows: number[]; weights: number[] } {
  const rowSum = (i: number) => cost.slice(i * nV, i * nV + nV).reduce((s, x) => s + x, 0);
  let first = 0;
  for (let i = 1; i < nT; i++) if (rowSum(i) < rowSum(first)) first = i;
  const S = [first];
  const weightsOf = () => {
    const count = new Array(S.length).fill(0);
    for (let j = 0; j < nV; j++) {
      let best = 0;
      for (let k = 1; k < S.length; k++) if (cost[S[k] * nV + j] < cost[S[best] * nV + j]) best = k;
      count[best]++;
    }
    return count.map((c) => c / nV);
  };
  for (;;) {
    const w = weightsOf();
    const done = () => ({ rows: S.filter((_, k) => w[k] > 0), weights: w.filter((x) => x > 0) });
    if (w.filter((x) => x > 0).length >= n) return done();
    const m = Array.from({ length: nV }, (_, j) => Math.min(...S.map((k) => cost[k * nV + j])));
    let e = -1;
    let best = Infinity;
    for (let i = 0; i < nT; i++) {
      if (S.includes(i)) continue;
      let s = 0;
      for (let j = 0; j < nV; j++) s += Math.min(m[j], cost[i * nV + j]);
      if (s < best) [best, e] = [s, i];
    }
    if (e < 0 || best === m.reduce((s, x) => s + x, 0)) return done(); // stalled: no row lowers any m_j
    S.push(e);
  }
}

describe('goracs greedyStart: facility location until n rows have positive weight', () => {
  // r0 = [.3 .3 .3 .3] has the smallest row sum (1.2) and is picked first;
  // gains Σ(m − C)⁺: r1 .4, r2 .4, r3 .3 → r1 (tie → lower index), m = [.1 .1 .3 .3];
  // then r2 .4 vs r3 .1 → r2, m = [.1 .1 .1 .1]: r0 owns no column any more (2 positive rows);
  // then r3 (gain .1) takes column 0 from r1 → 3 positive rows: r1 {1}, r2 {2, 3}, r3 {0}.
  const hand: Instance = {
    nT: 4,
    nV: 4,
    cost: new Float64Array([0.3, 0.3, 0.3, 0.3, 0.1, 0.1, 1, 1, 1, 1, 0.1, 0.1, 0, 1, 1, 1]),
  };

  it('hand example: picks r0, r1, r2, r3, drops r0 (weight 0), weights [1/4, 2/4, 1/4]', () => {
    const r = greedyStart(hand.cost, hand.nT, hand.nV, 3);
    assert.deepEqual(Array.from(r.rows), [1, 2, 3]);
    assert.deepEqual(Array.from(r.weights), [0.25, 0.5, 0.25]);
    assert.equal(r.added, 4);
    assert.equal(r.stalled, false);
  });

  it('n = 1 keeps the smallest row sum alone with weight 1', () => {
    const r = greedyStart(hand.cost, hand.nT, hand.nV, 1);
    assert.deepEqual(Array.from(r.rows), [0]);
    assert.deepEqual(Array.from(r.weights), [1]);
  });

  it('a column tied between two selected rows goes to the earlier one', () => {
    // r0 first (sum .6); r1 lowers column 1 only; column 0 is tied at .2 and stays with r0
    const cost = new Float64Array([0.2, 0.2, 0.2, 0.2, 0.1, 0.9, 1, 1, 1]);
    const r = greedyStart(cost, 3, 3, 2);
    assert.deepEqual(Array.from(r.rows), [0, 1]);
    assert.deepEqual(Array.from(r.weights), [2 / 3, 1 / 3]);
  });

  it('stalls (and says so) when no row can lower any column minimum: duplicate rows', () => {
    const cost = new Float64Array([0.2, 0.2, 0.2, 0.2, 0.5, 0.5]);
    const r = greedyStart(cost, 3, 2, 2);
    assert.deepEqual(Array.from(r.rows), [0]);
    assert.equal(r.stalled, true);
  });

  it('the lazy kernel picks exactly what the eager rule picks (costs in eighths: exact sums, many ties)', () => {
    for (const seed of [1, 2, 3, 4]) {
      const inst = levelInstance(60, 25, seed);
      for (const n of [1, 5, 12]) {
        const lazy = greedyStart(inst.cost, inst.nT, inst.nV, n);
        const eager = eagerGreedy(inst, n);
        assert.deepEqual(Array.from(lazy.rows), eager.rows, `seed ${seed}, n ${n}`);
        assert.deepEqual(Array.from(lazy.weights), eager.weights);
      }
    }
  });

  it('planted instance: 4 of the 5 planted centres plus the central row that had the smallest row sum, weights 1/5', () => {
    // the first pick (smallest Σ_j C_ij) is a pool row near the middle of the centres' circle;
    // it keeps the validation points of the last centre, so n = 5 rows have weight after 4 centres
    const inst = plantedInstance(80, 40, 5, 3);
    const r = greedyStart(inst.cost, inst.nT, inst.nV, 5);
    assert.deepEqual(Array.from(r.rows), [73, 3, 4, 2, 1]);
    assert.deepEqual(Array.from(r.weights), [0.2, 0.2, 0.2, 0.2, 0.2]);
  });

  describe('bad input', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['budget > pool', () => greedyStart(hand.cost, 4, 4, 5), /budget n = 5 exceeds the pool size nT = 4/],
      ['budget > validation size', () => greedyStart(new Float64Array(12), 6, 2, 3), /n = 3 exceeds the validation size nV = 2/],
      ['budget 0', () => greedyStart(hand.cost, 4, 4, 0), /budget n must be an integer >= 1, found 0/],
      ['cost of the wrong length', () => greedyStart(new Float64Array(15), 4, 4, 2), /cost has length 15, expected nT·nV = 4·4 = 16/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

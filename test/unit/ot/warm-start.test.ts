import { strict as assert } from 'node:assert';
import { emd } from '../../../lib/ot';
import { bigMFor, TransportSimplex } from '../../../lib/ot/network-simplex';
import { integerCost, mulberry32, randomCost, randomWeights, uniformWeights } from './fixtures';

/**
 * Warm start of the network simplex (TransportSimplex): after the costs of one row are
 * replaced, pivoting on from the previous optimal basis reaches the optimum a cold solve
 * reaches, and the duals certify it.
 */
describe('network simplex warm start after one row changes', () => {
  const kinds: [string, (n: number, m: number, r: () => number) => Float64Array][] = [
    ['uniform costs', randomCost],
    ['3-level integer costs (ties, degenerate bases)', (n, m, r) => integerCost(n, m, 3, r)],
    ['2-level integer costs', (n, m, r) => integerCost(n, m, 2, r)],
  ];
  for (const [name, makeCost] of kinds) {
    it(`${name}: 200 row replacements on 1..12 × 1..15 instances equal a cold emd within 1e-9 relative, duals feasible`, () => {
      const rand = mulberry32(name.length * 7919);
      for (let trial = 0; trial < 200; trial++) {
        const n = 1 + Math.floor(rand() * 12);
        const m = 1 + Math.floor(rand() * 15);
        const uniform = trial % 2 === 0;
        const a = uniform ? uniformWeights(n) : randomWeights(n, rand);
        const b = uniform ? uniformWeights(m) : randomWeights(m, rand);
        if (!uniform && trial % 4 === 1 && n > 1) {
          // a zero-weight row: its mass moves to row 0
          const z = 1 + Math.floor(rand() * (n - 1));
          a[0] += a[z];
          a[z] = 0;
        }
        const pool = makeCost(n + 5, m, rand); // rows n..n+4 can be swapped in
        const cost = pool.slice(0, n * m);
        const solver = new TransportSimplex(a, b, cost, n, m, bigMFor(pool));
        assert.equal(solver.solve(1e7).status, 'optimal');
        for (let swap = 0; swap < 3; swap++) {
          const k = Math.floor(rand() * n);
          const src = n + Math.floor(rand() * 5);
          cost.set(pool.subarray(src * m, src * m + m), k * m);
          assert.equal(solver.solve(1e7).status, 'optimal');
          const cold = emd(a, b, cost, n, m);
          const warm = solver.objective();
 // relative, floored at 1e-6 (mass 1, costs ≤ 2): a cold plan may carry 1e-17 of rounded mass on a cost-1 arc
          assert.ok(Math.abs(warm - cold.cost) <= 1e-9 * Math.max(Math.abs(cold.cost), 1e-6), `trial ${trial} swap ${swap}: warm ${warm}, cold ${cold.cost}`);
          const pi = solver.potentials;
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < m; j++) assert.ok(pi[i] - pi[n + j] <= cost[i * m + j] + 1e-9, `dual infeasible at (${i}, ${j})`);
          }
        }
      }
    });
  }

  it('restoring a saved basis and re-solving is bit-identical (what makes refinement replayable)', () => {
    const rand = mulberry32(5);
    const n = 20;
    const m = 60;
    const pool = randomCost(n + 10, m, rand);
    const cost = pool.slice(0, n * m);
    const solver = new TransportSimplex(uniformWeights(n), uniformWeights(m), cost, n, m, bigMFor(pool));
    solver.solve(1e7);
    const base = solver.save();
    const results: number[][] = [];
    for (let rep = 0; rep < 2; rep++) {
      const values: number[] = [];
      for (let src = n; src < n + 10; src++) {
        solver.restore(base);
        const saved = cost.slice(3 * m, 4 * m);
        cost.set(pool.subarray(src * m, src * m + m), 3 * m);
        const { iterations } = solver.solve(1e7);
        values.push(solver.objective(), iterations, ...solver.potentials);
        cost.set(saved, 3 * m);
      }
      results.push(values);
    }
    assert.deepEqual(results[0], results[1]);
  });

  it('a warm re-solve after one row of 40 × 200 changes takes fewer pivots than the cold solve (counted, not timed)', () => {
    const rand = mulberry32(9);
    const n = 40;
    const m = 200;
    const pool = randomCost(n + 1, m, rand);
    const cost = pool.slice(0, n * m);
    const solver = new TransportSimplex(uniformWeights(n), uniformWeights(m), cost, n, m, bigMFor(pool));
    const coldPivots = solver.solve(1e7).iterations;
    cost.set(pool.subarray(n * m), 7 * m);
    const warmPivots = solver.solve(1e7).iterations;
    assert.ok(warmPivots < coldPivots / 2, `warm ${warmPivots} vs cold ${coldPivots} pivots`);
  });
});

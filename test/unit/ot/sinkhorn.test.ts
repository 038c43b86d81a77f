import { strict as assert } from 'node:assert';
import { emd, sinkhorn } from '../../../lib/ot';
import { colSums, maxAbsDiff, mulberry32, randomCost, randomWeights, rowSums, uniformWeights } from './fixtures';

describe('sinkhorn (entropic OT, log domain)', () => {
  it('fits both marginals to the tolerance on a random 20x30 instance', () => {
    const rand = mulberry32(51);
    const a = randomWeights(20, rand);
    const b = randomWeights(30, rand);
    const cost = randomCost(20, 30, rand);
    const r = sinkhorn(a, b, cost, 20, 30, { reg: 0.05, tolerance: 1e-10 });
    assert.ok(r.converged);
    assert.ok(maxAbsDiff(rowSums(r.plan, 20, 30), a) < 1e-10);
    assert.ok(maxAbsDiff(colSums(r.plan, 20, 30), b) < 1e-10);
  });

  it('plan is exp((f_i + g_j - C_ij) / reg) and cost is <plan, C>', () => {
    const rand = mulberry32(52);
    const a = randomWeights(4, rand);
    const b = randomWeights(5, rand);
    const cost = randomCost(4, 5, rand);
    const r = sinkhorn(a, b, cost, 4, 5, { reg: 0.2 });
    let total = 0;
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 5; j++) {
        const e = i * 5 + j;
        assert.ok(Math.abs(r.plan[e] - Math.exp((r.f[i] + r.g[j] - cost[e]) / 0.2)) < 1e-15);
        total += r.plan[e] * cost[e];
      }
    }
    assert.ok(Math.abs(r.cost - total) < 1e-15);
  });

  it('with all-equal costs returns the independent coupling a_i b_j / mass', () => {
    const a = new Float64Array([0.2, 0.8]);
    const b = new Float64Array([0.5, 0.25, 0.25]);
    const r = sinkhorn(a, b, new Float64Array(6).fill(3), 2, 3, { reg: 0.1 });
    assert.ok(maxAbsDiff(r.plan, [0.1, 0.05, 0.05, 0.4, 0.2, 0.2]) < 1e-15);
    assert.ok(Math.abs(r.cost - 3) < 1e-14);
  });

  it('approaches the exact EMD cost as reg -> 0 (gap shrinks monotonically, < 1e-3 at reg 1e-3)', () => {
    const rand = mulberry32(53);
    const a = uniformWeights(12);
    const b = randomWeights(15, rand);
    const cost = randomCost(12, 15, rand);
    const exact = emd(a, b, cost, 12, 15).cost;
    let previousGap = Infinity;
    for (const reg of [0.1, 0.03, 0.01, 0.003, 0.001]) {
      const r = sinkhorn(a, b, cost, 12, 15, { reg, maxIterations: 100_000, tolerance: 1e-9 });
      assert.ok(r.converged, `reg ${reg} did not converge`);
      const gap = r.cost - exact;
      assert.ok(gap > -1e-9, `entropic plan beat the exact optimum at reg ${reg}: ${gap}`);
      assert.ok(gap < previousGap, `gap ${gap} at reg ${reg} did not shrink from ${previousGap}`);
      previousGap = gap;
    }
    assert.ok(previousGap < 1e-3, `gap at reg 1e-3 is ${previousGap}`);
  });

  it('gives zero-weight rows a zero plan row and f = -Infinity', () => {
    const rand = mulberry32(54);
    const a = new Float64Array([0.5, 0, 0.5]);
    const b = randomWeights(4, rand);
    const r = sinkhorn(a, b, randomCost(3, 4, rand), 3, 4, { reg: 0.1 });
    assert.equal(r.f[1], -Infinity);
    for (let j = 0; j < 4; j++) assert.equal(r.plan[4 + j], 0);
    assert.ok(maxAbsDiff(colSums(r.plan, 3, 4), b) < 1e-9);
  });

  it('reports converged = false when maxIterations is too small', () => {
    const rand = mulberry32(55);
    const a = randomWeights(10, rand);
    const b = randomWeights(10, rand);
    const r = sinkhorn(a, b, randomCost(10, 10, rand), 10, 10, { reg: 0.001, maxIterations: 2 });
    assert.equal(r.converged, false);
    assert.equal(r.iterations, 2);
  });

  it('rejects a non-positive reg and the same bad inputs as emd', () => {
    const w = uniformWeights(2);
    const cost = new Float64Array(4);
    assert.throws(() => sinkhorn(w, w, cost, 2, 2, { reg: 0 }), /reg must be finite and > 0/);
    assert.throws(() => sinkhorn(w, new Float64Array([0.5, 0.6]), cost, 2, 2, { reg: 1 }), /sum\(a\) = 1 differs/);
    assert.throws(() => sinkhorn(w, w, new Float64Array(3), 2, 2, { reg: 1 }), /cost has length 3/);
  });
});

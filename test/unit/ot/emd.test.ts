import { strict as assert } from 'node:assert';
import { emd, EmdResult } from '../../../lib/ot';
import {
  colSums,
  integerCost,
  maxAbsDiff,
  mulberry32,
  randomCost,
  randomWeights,
  rowSums,
  uniformWeights,
} from './fixtures';

const TOL = 1e-9;

/** Checks the LP optimality certificate: primal feasibility, dual feasibility, zero gap, slackness. */
function assertOptimal(r: EmdResult, a: Float64Array, b: Float64Array, cost: Float64Array, nRows: number, nCols: number) {
  assert.equal(r.status, 'optimal');
  let mass = 0;
  for (let i = 0; i < nRows; i++) mass += a[i];
  const scale = Math.max(1, mass);
  for (let e = 0; e < r.plan.length; e++) assert.ok(r.plan[e] >= 0, `plan[${e}] = ${r.plan[e]} < 0`);
  assert.ok(maxAbsDiff(rowSums(r.plan, nRows, nCols), a) <= TOL * scale, 'row sums differ from a');
  assert.ok(maxAbsDiff(colSums(r.plan, nRows, nCols), b) <= TOL * scale, 'column sums differ from b');
  let primal = 0;
  let dual = 0;
  for (let e = 0; e < r.plan.length; e++) primal += r.plan[e] * cost[e];
  for (let i = 0; i < nRows; i++) dual += a[i] * r.u[i];
  for (let j = 0; j < nCols; j++) dual += b[j] * r.v[j];
  const costScale = Math.max(1, Math.abs(primal));
  assert.ok(Math.abs(r.cost - primal) <= TOL * costScale, `cost ${r.cost} != <P, C> = ${primal}`);
  assert.ok(Math.abs(r.cost - dual) <= TOL * costScale, `duality gap: cost ${r.cost}, dual ${dual}`);
  for (let i = 0; i < nRows; i++) {
    for (let j = 0; j < nCols; j++) {
      const e = i * nCols + j;
      const slack = cost[e] - r.u[i] - r.v[j];
      assert.ok(slack >= -TOL, `dual infeasible at (${i}, ${j}): u + v - C = ${-slack}`);
      if (r.plan[e] > 0) assert.ok(slack <= TOL, `plan(${i}, ${j}) > 0 but u + v - C = ${-slack}`);
    }
  }
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let k = 0; k <= p.length; k++) out.push([...p.slice(0, k), n - 1, ...p.slice(k)]);
  }
  return out;
}

/** min over permutations σ of (1/n) Σ_i C[i, σ(i)] — the assignment problem by brute force. */
function bruteForceAssignment(cost: Float64Array, n: number): number {
  let best = Infinity;
  for (const p of permutations(n)) {
    let s = 0;
    for (let i = 0; i < n; i++) s += cost[i * n + p[i]];
    best = Math.min(best, s / n);
  }
  return best;
}

/**
 * The transport LP's optimum by enumerating its vertices: every basis of nRows+nCols−1
 * variables (one column constraint is redundant) whose solution is ≥ 0.
 */
function lpByVertexEnumeration(a: Float64Array, b: Float64Array, cost: Float64Array, nRows: number, nCols: number) {
  const nVars = nRows * nCols;
  const nEq = nRows + nCols - 1;
  const rhs = [...a, ...b.slice(0, nCols - 1)];
  const column = (e: number): number[] => {
    const i = Math.floor(e / nCols);
    const j = e % nCols;
    const col = new Array<number>(nEq).fill(0);
    col[i] = 1;
    if (j < nCols - 1) col[nRows + j] = 1;
    return col;
  };
  let best = Infinity;
  const basis: number[] = [];
  const visit = (start: number): void => {
    if (basis.length === nEq) {
      const x = solveSquare(basis.map(column), rhs);
      if (x && x.every((xi) => xi >= -1e-12)) {
        best = Math.min(best, x.reduce((s, xi, k) => s + xi * cost[basis[k]], 0));
      }
      return;
    }
    for (let e = start; e < nVars; e++) {
      basis.push(e);
      visit(e + 1);
      basis.pop();
    }
  };
  visit(0);
  return best;
}

/** Solves Σ_k x_k cols[k] = rhs by Gaussian elimination; null when singular. */
function solveSquare(cols: number[][], rhs: number[]): number[] | null {
  const n = rhs.length;
  const m = rhs.map((r, row) => [...cols.map((c) => c[row]), r]);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let r = k + 1; r < n; r++) if (Math.abs(m[r][k]) > Math.abs(m[p][k])) p = r;
    if (Math.abs(m[p][k]) < 1e-12) return null;
    [m[k], m[p]] = [m[p], m[k]];
    for (let r = 0; r < n; r++) {
      if (r === k) continue;
      const factor = m[r][k] / m[k][k];
      for (let c = k; c <= n; c++) m[r][c] -= factor * m[k][c];
    }
  }
  return m.map((row, k) => row[n] / row[k]);
}

/** Cost of the monotone (quantile) coupling of two weighted point sets on a line. */
function sortedCouplingCost(
  x: number[],
  wx: Float64Array,
  y: number[],
  wy: Float64Array,
  ground: (d: number) => number,
): number {
  const ix = x.map((_, k) => k).sort((p, q) => x[p] - x[q]);
  const iy = y.map((_, k) => k).sort((p, q) => y[p] - y[q]);
  let p = 0;
  let q = 0;
  let restX = wx[ix[0]];
  let restY = wy[iy[0]];
  let total = 0;
  while (p < ix.length && q < iy.length) {
    const t = Math.min(restX, restY);
    total += t * ground(x[ix[p]] - y[iy[q]]);
    if (restX <= restY) {
      restY -= restX;
      p++;
      restX = p < ix.length ? wx[ix[p]] : 0;
    } else {
      restX -= restY;
      q++;
      restY = q < iy.length ? wy[iy[q]] : 0;
    }
  }
  return total;
}

describe('emd (exact optimal transport by network simplex)', () => {
  describe('against independent references', () => {
    it('solves a 2x2 example by hand: a=[.6,.4], b=[.5,.5], C=[[1,2],[3,1]] -> cost 1.1, u=[0,-1], v=[1,2]', () => {
      const a = new Float64Array([0.6, 0.4]);
      const b = new Float64Array([0.5, 0.5]);
      const cost = new Float64Array([1, 2, 3, 1]);
      const r = emd(a, b, cost, 2, 2);
      // P = [[t, .6-t], [.5-t, t-.1]] costs 2.6 - 3t, minimal at t = .5
      assert.ok(Math.abs(r.cost - 1.1) < 1e-15);
      assert.ok(maxAbsDiff(r.plan, [0.5, 0.1, 0, 0.4]) < 1e-15);
      assert.ok(maxAbsDiff(r.u, [0, -1]) < 1e-15);
      assert.ok(maxAbsDiff(r.v, [1, 2]) < 1e-15);
      assertOptimal(r, a, b, cost, 2, 2);
    });

    it('equals the best permutation on n x n uniform assignment problems (n = 1..7, brute force)', () => {
      const rand = mulberry32(11);
      for (let n = 1; n <= 7; n++) {
        for (let trial = 0; trial < 4; trial++) {
          const cost = trial % 2 === 0 ? randomCost(n, n, rand) : integerCost(n, n, 3, rand);
          const w = uniformWeights(n);
          const r = emd(w, w, cost, n, n);
          assert.ok(Math.abs(r.cost - bruteForceAssignment(cost, n)) < 1e-12, `n=${n} trial=${trial}`);
          assertOptimal(r, w, w, cost, n, n);
        }
      }
    });

    it('returns a permutation plan (a vertex, entries 0 or 1/n) for 40 x 40 assignment problems with tied costs', () => {
      const rand = mulberry32(12);
      const n = 40;
      const w = uniformWeights(n);
      const cost = integerCost(n, n, 3, rand);
      const r = emd(w, w, cost, n, n);
      assertOptimal(r, w, w, cost, n, n);
      let nonZero = 0;
      for (const p of r.plan) {
        if (p > 1e-12) {
          nonZero++;
          assert.ok(Math.abs(p - 1 / n) < 1e-12, `plan entry ${p} is neither 0 nor 1/n`);
        }
      }
      assert.equal(nonZero, n);
    });

    it('equals the LP optimum found by vertex enumeration on 2x3, 3x2, 3x3 and 3x4 instances', () => {
      const rand = mulberry32(13);
      for (const [nRows, nCols] of [
        [2, 3],
        [3, 2],
        [3, 3],
        [3, 4],
      ]) {
        for (let trial = 0; trial < 5; trial++) {
          const a = randomWeights(nRows, rand);
          const b = randomWeights(nCols, rand);
          const cost = trial < 3 ? randomCost(nRows, nCols, rand) : integerCost(nRows, nCols, 2, rand);
          const r = emd(a, b, cost, nRows, nCols);
          const lp = lpByVertexEnumeration(a, b, cost, nRows, nCols);
          assert.ok(Math.abs(r.cost - lp) < 1e-12, `${nRows}x${nCols} trial ${trial}: emd ${r.cost}, LP ${lp}`);
          assertOptimal(r, a, b, cost, nRows, nCols);
        }
      }
    });

    it('on a line equals the sorted (quantile) coupling cost, for |x-y| and (x-y)^2, 9 vs 13 weighted points', () => {
      const rand = mulberry32(14);
      const grounds: [string, (d: number) => number][] = [
        ['|x-y|', (d) => Math.abs(d)],
        ['(x-y)^2', (d) => d * d],
      ];
      for (const [name, ground] of grounds) {
        for (let trial = 0; trial < 5; trial++) {
          const x = Array.from({ length: 9 }, () => 10 * rand() - 5);
          const y = Array.from({ length: 13 }, () => 10 * rand() - 3);
          const wx = randomWeights(9, rand);
          const wy = randomWeights(13, rand);
          const cost = new Float64Array(9 * 13);
          for (let i = 0; i < 9; i++) for (let j = 0; j < 13; j++) cost[i * 13 + j] = ground(x[i] - y[j]);
          const r = emd(wx, wy, cost, 9, 13);
          const closedForm = sortedCouplingCost(x, wx, y, wy, ground);
          assert.ok(Math.abs(r.cost - closedForm) < 1e-12 * Math.max(1, closedForm), `${name}: ${r.cost} vs ${closedForm}`);
        }
      }
    });

    it('on a line with equal uniform weights matches the i-th smallest x to the i-th smallest y (n = 200)', () => {
      const rand = mulberry32(15);
      const n = 200;
      const x = Array.from({ length: n }, () => rand());
      const y = Array.from({ length: n }, () => rand() + 0.3);
      const cost = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cost[i * n + j] = (x[i] - y[j]) ** 2;
      const w = uniformWeights(n);
      const r = emd(w, w, cost, n, n);
      const xs = [...x].sort((p, q) => p - q);
      const ys = [...y].sort((p, q) => p - q);
      const sorted = xs.reduce((s, xi, k) => s + (xi - ys[k]) ** 2, 0) / n;
      assert.ok(Math.abs(r.cost - sorted) < 1e-12, `${r.cost} vs ${sorted}`);
      assertOptimal(r, w, w, cost, n, n);
    });
  });

  describe('optimality certificate', () => {
    it('random 30x50 instances: marginals within 1e-9, u_i+v_j <= C_ij + 1e-9, zero duality gap, slackness', () => {
      const rand = mulberry32(21);
      for (let trial = 0; trial < 5; trial++) {
        const a = randomWeights(30, rand);
        const b = randomWeights(50, rand);
        const cost = randomCost(30, 50, rand);
        assertOptimal(emd(a, b, cost, 30, 50), a, b, cost, 30, 50);
      }
    });

    it('degenerate random instances (integer weights with zeros, 3-level costs, 1..12 x 1..12) all certify optimal', () => {
      const rand = mulberry32(22);
      for (let trial = 0; trial < 300; trial++) {
        const nRows = 1 + Math.floor(rand() * 12);
        const nCols = 1 + Math.floor(rand() * 12);
        const a = new Float64Array(nRows);
        let total = 0;
        for (let i = 0; i < nRows; i++) {
          a[i] = Math.floor(rand() * 4);
          total += a[i];
        }
        if (total === 0) {
          a[0] = 1;
          total = 1;
        }
        const b = new Float64Array(nCols);
        for (let unit = 0; unit < total; unit++) b[Math.floor(rand() * nCols)] += 1;
        const cost = integerCost(nRows, nCols, 3, rand);
        assertOptimal(emd(a, b, cost, nRows, nCols), a, b, cost, nRows, nCols);
      }
    });

    it('normalises the duals so that u is 0 at the first row with positive weight', () => {
      const rand = mulberry32(23);
      const a = new Float64Array([0, 0, 0.3, 0.7]);
      const b = randomWeights(5, rand);
      const r = emd(a, b, randomCost(4, 5, rand), 4, 5);
      assert.equal(r.u[2], 0);
    });

    it('gives the same cost for the transposed problem (nRows != nCols: 7x40 and 40x7)', () => {
      const rand = mulberry32(24);
      const a = randomWeights(7, rand);
      const b = randomWeights(40, rand);
      const cost = randomCost(7, 40, rand);
      const costT = new Float64Array(40 * 7);
      for (let i = 0; i < 7; i++) for (let j = 0; j < 40; j++) costT[j * 7 + i] = cost[i * 40 + j];
      const r = emd(a, b, cost, 7, 40);
      const rT = emd(b, a, costT, 40, 7);
      assertOptimal(r, a, b, cost, 7, 40);
      assertOptimal(rT, b, a, costT, 40, 7);
      assert.ok(Math.abs(r.cost - rT.cost) < 1e-14);
    });

    it('handles total mass other than 1 and negative costs: emd(C - 3) = emd(C) - 3 * mass', () => {
      const rand = mulberry32(25);
      const a = randomWeights(6, rand, 5);
      const b = randomWeights(9, rand, 5);
      const cost = randomCost(6, 9, rand);
      const shifted = cost.map((c) => c - 3);
      const r = emd(a, b, cost, 6, 9);
      const rs = emd(a, b, shifted, 6, 9);
      assertOptimal(r, a, b, cost, 6, 9);
      assertOptimal(rs, a, b, shifted, 6, 9);
      assert.ok(Math.abs(rs.cost - (r.cost - 15)) < 1e-12);
    });
  });

  describe('degenerate inputs', () => {
    it('all-equal costs: cost = c * mass for 4x6', () => {
      const a = uniformWeights(4);
      const b = uniformWeights(6);
      const cost = new Float64Array(24).fill(0.7);
      const r = emd(a, b, cost, 4, 6);
      assert.ok(Math.abs(r.cost - 0.7) < 1e-15);
      assertOptimal(r, a, b, cost, 4, 6);
    });

    it('all-zero costs: cost 0', () => {
      const a = uniformWeights(3);
      const b = uniformWeights(5);
      const r = emd(a, b, new Float64Array(15), 3, 5);
      assert.equal(r.cost, 0);
      assertOptimal(r, a, b, new Float64Array(15), 3, 5);
    });

    it('zero-weight rows and columns receive no mass', () => {
      const rand = mulberry32(31);
      const a = new Float64Array([0.5, 0, 0.5, 0]);
      const b = new Float64Array([0, 0.25, 0.75]);
      const cost = randomCost(4, 3, rand);
      const r = emd(a, b, cost, 4, 3);
      assertOptimal(r, a, b, cost, 4, 3);
      for (let j = 0; j < 3; j++) {
        assert.equal(r.plan[1 * 3 + j], 0);
        assert.equal(r.plan[3 * 3 + j], 0);
      }
      for (let i = 0; i < 4; i++) assert.equal(r.plan[i * 3 + 0], 0);
    });

    it('1xN: the single row ships b_j to column j, cost = sum_j b_j C_0j', () => {
      const rand = mulberry32(32);
      const b = randomWeights(8, rand);
      const cost = randomCost(1, 8, rand);
      const r = emd(new Float64Array([1]), b, cost, 1, 8);
      assert.ok(maxAbsDiff(r.plan, b) < 1e-15);
      assert.ok(Math.abs(r.cost - b.reduce((s, bj, j) => s + bj * cost[j], 0)) < 1e-15);
      assertOptimal(r, new Float64Array([1]), b, cost, 1, 8);
    });

    it('Nx1: row i ships a_i to the single column, cost = sum_i a_i C_i0', () => {
      const rand = mulberry32(33);
      const a = randomWeights(8, rand);
      const cost = randomCost(8, 1, rand);
      const r = emd(a, new Float64Array([1]), cost, 8, 1);
      assert.ok(maxAbsDiff(r.plan, a) < 1e-15);
      assert.ok(Math.abs(r.cost - a.reduce((s, ai, i) => s + ai * cost[i], 0)) < 1e-15);
      assertOptimal(r, a, new Float64Array([1]), cost, 8, 1);
    });

    it('1x1: plan = mass, cost = C_00 * mass', () => {
      const r = emd(new Float64Array([2]), new Float64Array([2]), new Float64Array([0.25]), 1, 1);
      assert.deepEqual([...r.plan], [2]);
      assert.equal(r.cost, 0.5);
      assert.equal(r.u[0] + r.v[0], 0.25);
    });

    it('zero total mass: cost 0, empty plan, status optimal', () => {
      const r = emd(new Float64Array(2), new Float64Array(3), new Float64Array(6).fill(1), 2, 3);
      assert.equal(r.status, 'optimal');
      assert.equal(r.cost, 0);
      assert.ok(r.plan.every((p) => p === 0));
    });

    it('accepts masses that differ by 1e-12 relative and fits b rescaled to sum(a)', () => {
      const a = new Float64Array([0.5, 0.5]);
      const b = new Float64Array([0.5, 0.5 + 1e-12]);
      const r = emd(a, b, new Float64Array([0, 1, 1, 0]), 2, 2);
      assert.equal(r.status, 'optimal');
      assert.ok(maxAbsDiff(colSums(r.plan, 2, 2), b) < 1e-11);
    });
  });

  describe('iteration cap', () => {
    it("stops after maxIterations pivots with status 'max_iterations'", () => {
      const rand = mulberry32(41);
      const w = uniformWeights(30);
      const cost = randomCost(30, 30, rand);
      const capped = emd(w, w, cost, 30, 30, { maxIterations: 5 });
      assert.equal(capped.status, 'max_iterations');
      assert.equal(capped.iterations, 5);
      const full = emd(w, w, cost, 30, 30);
      assert.equal(full.status, 'optimal');
      assert.ok(full.iterations > 5);
      assert.equal(emd(w, w, cost, 30, 30, { maxIterations: full.iterations }).status, 'optimal');
    });
  });

  describe('bad input', () => {
    const a = new Float64Array([0.5, 0.5]);
    const b = new Float64Array([0.2, 0.3, 0.5]);
    const cost = new Float64Array(6).fill(1);

    it('rejects unequal masses, naming both sums', () => {
      assert.throws(
        () => emd(a, new Float64Array([0.2, 0.3, 0.6]), cost, 2, 3),
        /sum\(a\) = 1 differs from sum\(b\) = 1\.1/,
      );
    });

    it('rejects NaN, Infinity and negative weights, naming the argument and index', () => {
      assert.throws(() => emd(new Float64Array([0.5, NaN]), b, cost, 2, 3), /a\[1\] is NaN/);
      assert.throws(() => emd(a, new Float64Array([0.2, Infinity, 0.5]), cost, 2, 3), /b\[1\] is Infinity/);
      assert.throws(() => emd(a, new Float64Array([-0.2, 0.7, 0.5]), cost, 2, 3), /b\[0\] is -0\.2/);
    });

    it('rejects NaN and infinite costs, naming the index, row and column', () => {
      const bad = new Float64Array(6).fill(1);
      bad[4] = NaN;
      assert.throws(() => emd(a, b, bad, 2, 3), /cost\[4\] \(row 1, column 1\) is NaN/);
      bad[4] = -Infinity;
      assert.throws(() => emd(a, b, bad, 2, 3), /cost\[4\] \(row 1, column 1\) is -Infinity/);
    });

    it('rejects a cost of the wrong length and weights of the wrong length', () => {
      assert.throws(() => emd(a, b, new Float64Array(5), 2, 3), /cost has length 5, expected nRows\*nCols = 2\*3 = 6/);
      assert.throws(() => emd(a, b, cost, 3, 2), /a has length 2, expected nRows = 3/);
    });

    it('rejects a negative or fractional maxIterations', () => {
      assert.throws(() => emd(a, b, cost, 2, 3, { maxIterations: -1 }), /maxIterations must be an integer >= 0/);
      assert.throws(() => emd(a, b, cost, 2, 3, { maxIterations: 1.5 }), /maxIterations/);
    });
  });
});

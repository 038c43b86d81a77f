import { strict as assert } from 'node:assert';
import { DualScoreRank, dualScores, rthLargestSelect, rthLargestSmall } from '../../../lib/goracs/scores';
import { greedyStart } from '../../../lib/goracs/greedy';
import { candidateSwaps } from '../../../lib/goracs/refine';
import { poo } from '../../../lib/goracs/poo';
import { DlabInputError } from '../../../lib/errors';
import { Rng } from '../../../lib/rng';
import { levelInstance, plantedInstance, randomInstance, randomRows } from './fixtures';

/** F by the spec's formula with a full sort per row — the reference for the kernel. */
function scoresBySorting(cost: Float64Array, nT: number, nV: number, S: Int32Array, u: Float64Array, rank: DualScoreRank = 'rth-largest'): number[] {
  const f = Array.from({ length: nV }, (_, j) => Math.min(...Array.from(S, (s, k) => cost[s * nV + j] - u[k])));
  const R = Math.ceil(nV / S.length);
  return Array.from({ length: nT }, (_, i) => {
    const x = f.map((fj, j) => cost[i * nV + j] - fj).sort((a, b) => (rank === 'rth-largest' ? b - a : a - b));
    const y = x[R - 1];
    let s = 0;
    for (let j = 0; j < nV; j++) s += Math.min(cost[i * nV + j] - y - f[j], 0);
    return s / nV + y / S.length;
  });
}

describe('goracs dualScores: F_i = mean_j min(C_ij − ŷ_i − f_j, 0) + ŷ_i/|S|', () => {
  it('by hand: |S| = 3, |V| = 6 (R = 2), u = [0, 0.1, 0] → F = [0, 1/30, 0, −1/24]', () => {
    // f_j = min_k (C_kj − u_k) = 0 for every j (each column has a zero after subtracting u).
    // row 3: C − f = [.5 .25 .5 1 .75 0], 2nd largest ŷ = .75;
    //        min(C − .75, 0) = [−.25 −.5 −.25 0 0 −.75] → −1.75/6 + .75/3 = −1/24.
    //        (ŷ = 2nd smallest = .25 would give +1/24: the test pins the R-th LARGEST.)
    // row 1: C − f = [1 1 .1 .1 1 1], ŷ = 1 → (−.9 − .9)/6 + 1/3 = 1/30.
    // rows 0 and 2: ŷ = 1 → −2/6 + 1/3 = 0.
    const cost = new Float64Array([
      0, 0, 1, 1, 1, 1,
      1, 1, 0.1, 0.1, 1, 1,
      1, 1, 1, 1, 0, 0,
      0.5, 0.25, 0.5, 1, 0.75, 0,
    ]); // prettier-ignore
    const F = dualScores(cost, 4, 6, new Int32Array([0, 1, 2]), new Float64Array([0, 0.1, 0]));
    const expected = [0, 1 / 30, 0, -1 / 24];
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(F[i] - expected[i]) < 1e-15, `F[${i}] = ${F[i]}, expected ${expected[i]}`);
  });

  it('shifting the duals (u + t) shifts every F by t/|S|', () => {
    const { cost, nT, nV } = randomInstance(30, 12, 2);
    const S = randomRows(nT, 4, 2);
    const u = poo(cost, nT, nV, S).u;
    const F0 = dualScores(cost, nT, nV, S, u);
    const F1 = dualScores(cost, nT, nV, S, u.map((x) => x + 0.3));
    for (let i = 0; i < nT; i++) assert.ok(Math.abs(F1[i] - F0[i] - 0.3 / 4) < 1e-12);
  });

  it('equals the formula evaluated by full sorting, for small R (buffer) and large R (quickselect)', () => {
    for (const [nS, seed] of [[4, 1], [1, 2], [2, 3]] as const) {
      // nV = 80: R = 20 (buffer), 80 and 40 (quickselect); costs in eighths give many ties
      const { cost, nT, nV } = levelInstance(25, 80, seed);
      const S = randomRows(nT, nS, seed);
      const u = poo(cost, nT, nV, S).u;
      for (const rank of ['rth-largest', 'rth-smallest'] as const) {
        const F = dualScores(cost, nT, nV, S, u, rank);
        const ref = scoresBySorting(cost, nT, nV, S, u, rank);
        for (let i = 0; i < nT; i++) assert.ok(Math.abs(F[i] - ref[i]) < 1e-12, `${rank} |S| ${nS} row ${i}`);
      }
    }
  });

  it('rank "rth-smallest" by hand: row 3 of the first case takes ŷ = .25 (2nd smallest) and F = +1/24', () => {
    const cost = new Float64Array([0, 0, 1, 1, 1, 1, 1, 1, 0.1, 0.1, 1, 1, 1, 1, 1, 1, 0, 0, 0.5, 0.25, 0.5, 1, 0.75, 0]);
    const F = dualScores(cost, 4, 6, new Int32Array([0, 1, 2]), new Float64Array([0, 0.1, 0]), 'rth-smallest');
    // row 3: min(C − .25, 0) = [0 0 0 0 0 −.25] → −.25/6 + .25/3 = 1/24
    assert.ok(Math.abs(F[3] - 1 / 24) < 1e-15, `F[3] = ${F[3]}`);
    // the default is the R-th largest: the same numbers as without the argument
    assert.deepEqual(dualScores(cost, 4, 6, new Int32Array([0, 1, 2]), new Float64Array([0, 0.1, 0]), 'rth-largest'), dualScores(cost, 4, 6, new Int32Array([0, 1, 2]), new Float64Array([0, 0.1, 0])));
  });

  it('planted instance (80 × 40, 5 centres): the centre the greedy start misses is the 33rd of 75 add-candidates with the R-th largest, 2nd with the R-th smallest', () => {
    const p = plantedInstance(80, 40, 5, 3);
    const S = greedyStart(p.cost, p.nT, p.nV, 5).rows;
    const missing = [0, 1, 2, 3, 4].filter((c) => !S.includes(c));
    assert.equal(missing.length, 1, 'the greedy start holds 4 of the 5 centres');
    const u = poo(p.cost, p.nT, p.nV, S).u;
    const rankOf = (rank: DualScoreRank) => {
      const F = dualScores(p.cost, p.nT, p.nV, S, u, rank);
      // add-candidates in the refinement's order: ascending F, ties → lower row (candidateSwaps, cutNum = all)
      const ins = [...new Set(candidateSwaps(F, S, p.nT, p.nT).map((s) => s.in))];
      assert.equal(ins.length, 75);
      return ins.indexOf(missing[0]) + 1;
    };
    assert.equal(rankOf('rth-largest'), 33);
    assert.equal(rankOf('rth-smallest'), 2);
  });

  it('R-th largest: buffer and quickselect agree with sorting, ties counted', () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + rng.int(60);
      const x = new Float64Array(n).map(() => rng.int(7));
      const sorted = Array.from(x).sort((a, b) => b - a);
      for (const R of [1, Math.ceil(n / 3), n]) {
        assert.equal(rthLargestSmall(x, R, new Float64Array(R)), sorted[R - 1]);
        assert.equal(rthLargestSelect(x, R), sorted[R - 1]);
      }
    }
  });

  describe('bad input', () => {
    const cost = new Float64Array(6);
    const cases: [string, () => unknown, RegExp][] = [
      ['u of the wrong length', () => dualScores(cost, 2, 3, new Int32Array([0]), new Float64Array(2)), /u has length 2, expected \|selected\| = 1/],
      ['NaN dual', () => dualScores(cost, 2, 3, new Int32Array([0]), new Float64Array([NaN])), /u\[0\] is NaN/],
      ['cost of the wrong length', () => dualScores(new Float64Array(4), 2, 3, new Int32Array([0]), new Float64Array(1)), /cost has length 4/],
      ['empty selection', () => dualScores(cost, 2, 3, new Int32Array(0), new Float64Array(0)), /selected is empty/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

import { strict as assert } from 'node:assert';
import { poo } from '../../../lib/goracs/poo';
import { DlabInputError } from '../../../lib/errors';
import { randomInstance, randomRows } from './fixtures';

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let k = 0; k <= p.length; k++) out.push([...p.slice(0, k), n - 1, ...p.slice(k)]);
  return out;
}

describe('goracs poo: exact OT between uniform 1/|S| on rows S and uniform 1/|V|', () => {
  it('|S| = |V| = 5: equals the best assignment (1/5) Σ_k C[S_k, σ(k)] over all 120 permutations', () => {
    for (const seed of [1, 2, 3]) {
      const { cost, nT, nV } = randomInstance(12, 5, seed);
      const rows = randomRows(nT, 5, seed);
      let best = Infinity;
      for (const p of permutations(5)) {
        let s = 0;
        for (let k = 0; k < 5; k++) s += cost[rows[k] * nV + p[k]];
        best = Math.min(best, s / 5);
      }
      const r = poo(cost, nT, nV, rows);
      assert.equal(r.status, 'optimal');
      assert.ok(Math.abs(r.value - best) < 1e-12, `seed ${seed}: ${r.value} vs brute force ${best}`);
    }
  });

  it('hand case: rows [[0, 0, 1, 1], [1, 1, 0, 0]] → each row ships its 1/2 to its two zeros, POO = 0', () => {
    const cost = new Float64Array([0, 0, 1, 1, 1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5]);
    assert.equal(poo(cost, 3, 4, new Int32Array([0, 1])).value, 0);
    assert.equal(poo(cost, 3, 4, new Int32Array([2])).value, 0.5);
  });

  it('duals: feasible, u in the order of rows, centred so that mean(u) = mean(v) = POO / 2', () => {
    const { cost, nT, nV } = randomInstance(20, 9, 4);
    const rows = new Int32Array([7, 2, 15]);
    const r = poo(cost, nT, nV, rows);
    assert.equal(r.u.length, 3);
    assert.equal(r.v.length, 9);
    const meanU = r.u.reduce((s, x) => s + x, 0) / 3;
    const meanV = r.v.reduce((s, x) => s + x, 0) / 9;
    assert.ok(Math.abs(meanU - r.value / 2) < 1e-12 && Math.abs(meanV - r.value / 2) < 1e-12);
    for (let k = 0; k < 3; k++) for (let j = 0; j < 9; j++) assert.ok(r.u[k] + r.v[j] <= cost[rows[k] * nV + j] + 1e-12);
  });

  describe('bad input', () => {
    const cost = new Float64Array(6);
    const cases: [string, () => unknown, RegExp][] = [
      ['cost of the wrong length', () => poo(new Float64Array(5), 2, 3, new Int32Array([0])), /cost has length 5, expected nT·nV = 2·3 = 6/],
      ['non-finite cost', () => poo(new Float64Array([0, 0, NaN, 0, 0, 0]), 2, 3, new Int32Array([0])), /cost\[2\] \(row 0, column 2\) is NaN/],
      ['empty S', () => poo(cost, 2, 3, new Int32Array(0)), /rows is empty/],
      ['row out of range', () => poo(cost, 2, 3, new Int32Array([0, 2])), /rows\[1\] = 2, expected a pool row in \[0, 2\)/],
      ['repeated row', () => poo(cost, 2, 3, new Int32Array([1, 1])), /rows\[1\] = 1 appears twice/],
      ['empty validation set', () => poo(new Float64Array(0), 2, 0, new Int32Array([0])), /nV must be an integer >= 1/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

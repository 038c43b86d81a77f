import { strict as assert } from 'node:assert';
import { costMatrix, gradientCost } from '../../../lib/goracs/cost';
import { DlabInputError } from '../../../lib/errors';
import { Rng } from '../../../lib/rng';

// pool e_0 = (0, 0), e_1 = (3, 4); validation e'_0 = (0, 0), e'_1 = (0, 4)
// ‖·‖ = [[0, 4], [5, 3]], max d = 5 → d = [[0, 0.8], [1, 0.6]]
const eT = new Float32Array([0, 0, 3, 4]);
const eV = new Float32Array([0, 0, 0, 4]);

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-15): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}] ${actual[i]} != ${expected[i]}`);
}

describe('goracs costMatrix: C = minmax(d / max d − λ g / max g)', () => {
  it('λ = 0: C is the scaled distance d = [[0, 0.8], [1, 0.6]]', () => {
    const { cost, scale } = costMatrix(eT, eV, 2, new Float64Array([1, 2]), 0);
    close(cost, [0, 0.8, 1, 0.6]);
    assert.deepEqual(scale, { maxDist: 5, maxGrad: 2, min: 0, max: 1 });
  });

  it('λ = 0.2, g = [1, 2]: x = d − 0.2·[0.5, 1] = [[−0.1, 0.7], [0.8, 0.4]] → C = (x + 0.1) / 0.9', () => {
    const { cost, scale } = costMatrix(eT, eV, 2, new Float64Array([1, 2]), 0.2);
    close(cost, [0, 0.8 / 0.9, 1, 0.5 / 0.9]);
    assert.equal(scale.maxDist, 5);
    assert.equal(scale.maxGrad, 2);
    assert.ok(Math.abs(scale.min + 0.1) < 1e-15 && Math.abs(scale.max - 0.8) < 1e-15);
    assert.equal(cost[0], 0, 'the minimising entry is exactly 0');
    assert.equal(cost[2], 1, 'the maximising entry is exactly 1');
  });

  it('all entries equal (max = min): C is all zeros', () => {
    const { cost, scale } = costMatrix(new Float32Array([1, 1, 1, 1]), new Float32Array([1, 1]), 2, new Float64Array([0, 0]), 0.5);
    close(cost, [0, 0]);
    assert.equal(scale.min, scale.max);
  });

  it('blocked kernel equals the direct ‖a − b‖ on a 37 × 29 × 5 instance (ragged block edges)', () => {
    const rng = new Rng(5);
    const [nT, nV, k] = [37, 29, 5];
    const a = new Float32Array(nT * k).map(() => rng.normal());
    const b = new Float32Array(nV * k).map(() => rng.normal());
    const { cost, scale } = costMatrix(a, b, k, new Float64Array(nT), 0);
    const d = new Float64Array(nT * nV);
    let max = 0;
    for (let i = 0; i < nT; i++) {
      for (let j = 0; j < nV; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += (a[i * k + t] - b[j * k + t]) ** 2;
        d[i * nV + j] = Math.sqrt(s);
        max = Math.max(max, d[i * nV + j]);
      }
    }
    assert.ok(Math.abs(scale.maxDist - max) < 1e-12);
    let min = Infinity;
    for (let e = 0; e < d.length; e++) min = Math.min(min, d[e] / max);
    for (let e = 0; e < d.length; e++) assert.ok(Math.abs(cost[e] - (d[e] / max - min) / (1 - min)) < 1e-12, `entry ${e}`);
  });

  it('gradientCost is the same function on projected gradients', () => {
    const g = new Float64Array([1, 2]);
    assert.deepEqual(gradientCost(eT, eV, 2, g, 0.2), costMatrix(eT, eV, 2, g, 0.2));
  });

  describe('bad input (DlabInputError naming the argument)', () => {
    const g = new Float64Array([1, 2]);
    const cases: [string, () => unknown, RegExp][] = [
      ['NaN in eT', () => costMatrix(new Float32Array([0, 0, 3, NaN]), eV, 2, g, 0.1), /eT\[3\] \(row 1, dim 1\) is NaN/],
      ['Infinity in eV', () => costMatrix(eT, new Float32Array([0, Infinity, 0, 4]), 2, g, 0.1), /eV\[1\] \(row 0, dim 1\) is Infinity/],
      ['empty validation set', () => costMatrix(eT, new Float32Array(0), 2, g, 0.1), /eV is empty.*validation/],
      ['mismatched dims', () => costMatrix(eT, new Float32Array([0, 0, 0]), 2, g, 0.1), /eV has length 3, expected a multiple of k = 2/],
      ['g of the wrong length', () => costMatrix(eT, eV, 2, new Float64Array([1]), 0.1), /g has length 1, expected nT = 2/],
      ['negative g', () => costMatrix(eT, eV, 2, new Float64Array([1, -2]), 0.1), /g\[1\] is -2/],
      ['NaN g', () => costMatrix(eT, eV, 2, new Float64Array([NaN, 2]), 0.1), /g\[0\] is NaN/],
      ['λ not finite', () => costMatrix(eT, eV, 2, g, NaN), /lambda must be a finite number >= 0, found NaN/],
      ['k = 0', () => costMatrix(eT, eV, 0, g, 0.1), /k must be an integer >= 1/],
      ['gradientCost names pV', () => gradientCost(eT, new Float32Array([NaN, 0]), 2, g, 0.1), /gradientCost: pV\[0\]/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

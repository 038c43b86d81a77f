import { strict as assert } from 'node:assert';
import { egWeightedRewards, groupAdvantages, keepGroups, perToken } from '../../../lib/rl/advantages';

function assertClose(got: ArrayLike<number>, want: number[], tol = 1e-12): void {
  assert.equal(got.length, want.length, `length ${got.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `[${i}] ${got[i]} vs ${want[i]}`);
}

describe('rl/advantages: GRPO group advantages', () => {
  it('group [1,0,0,1]: mean 0.5, population std 0.5 → A = ±0.5/(0.5+1e-6); an all-equal group → zeros', () => {
    const A = groupAdvantages(Float64Array.from([1, 0, 0, 1, 1, 1, 1, 1]), 4);
    const a = 0.5 / (0.5 + 1e-6);
    assertClose(A, [a, -a, -a, a, 0, 0, 0, 0]);
  });

  it('normalizeStd=false subtracts the group mean only: [1,0,0,0] → [0.75,−0.25,−0.25,−0.25]', () => {
    assertClose(groupAdvantages(Float64Array.from([1, 0, 0, 0]), 4, { normalizeStd: false }), [0.75, -0.25, -0.25, -0.25]);
  });

  it('eps is configurable: [2,0] has std 1 → A = ±1/(1+0.5) with eps 0.5', () => {
    assertClose(groupAdvantages(Float64Array.from([2, 0]), 2, { eps: 0.5 }), [1 / 1.5, -1 / 1.5]);
  });

  it('a length that is not a multiple of the group size is refused, naming both numbers', () => {
    assert.throws(() => groupAdvantages(new Float64Array(6), 4), /\(6\).*\(4\)/);
    assert.throws(() => keepGroups(new Float64Array(6), 4), /\(6\).*\(4\)/);
  });
});

describe('rl/advantages: dynamic sampling', () => {
  it('keeps [1,0,0,1] and [0,0,0,1], drops all-1 and all-0 groups', () => {
    const keep = keepGroups(Float64Array.from([1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]), 4);
    assert.deepEqual(Array.from(keep), [1, 0, 0, 1]);
  });
});

describe('rl/advantages: eg-weighted rewards', () => {
  it('r·w/mean(w) with w = exp(EG): rewards [1,1,0,0], EG [0, ln 3, 0, 0] → w [1,3,1,1], mean 1.5 → [2/3, 2, 0, 0]', () => {
    const out = egWeightedRewards(Float64Array.from([1, 1, 0, 0]), Float64Array.from([0, Math.log(3), 0, 0]), 4);
    assertClose(out, [2 / 3, 2, 0, 0]);
  });

  it('EG is centred in its group, then clipped to [−5, 5]: EG [20, 0] (±10 from the mean) weighs like [10, 0] (±5)', () => {
    const a = egWeightedRewards(Float64Array.from([1, 1]), Float64Array.from([20, 0]), 2);
    const b = egWeightedRewards(Float64Array.from([1, 1]), Float64Array.from([10, 0]), 2);
    const e10 = Math.exp(10);
    assertClose(a, [(2 * e10) / (e10 + 1), 2 / (e10 + 1)], 1e-9);
    assertClose(b, Array.from(a), 1e-9);
    // clip [−1, 1]: [10, 0] centres to [5, −5], clips to [1, −1]: w = [e, 1/e]
    const custom = egWeightedRewards(Float64Array.from([1, 1]), Float64Array.from([10, 0]), 2, [-1, 1]);
    const e2 = Math.E ** 2;
    assertClose(custom, [(2 * e2) / (e2 + 1), 2 / (e2 + 1)]);
  });

  it('a constant shift of every EG in a group changes nothing (raw EG of a toy model is ≈ −30 everywhere)', () => {
    const r = Float64Array.from([1, 1, 0, 1]);
    const eg = Float64Array.from([0.5, -1, 2, 0]);
    assertClose(egWeightedRewards(r, eg.map((x) => x - 30), 4), Array.from(egWeightedRewards(r, eg, 4)), 1e-12);
  });

  it('groups are weighted separately: a group of equal EG returns its rewards unchanged', () => {
    const out = egWeightedRewards(Float64Array.from([1, 0, 1, 0]), Float64Array.from([2, 2, -1, 3]), 2);
    assertClose(out.subarray(0, 2), [1, 0]);
    assertClose(out.subarray(2), [(2 * Math.exp(-1)) / (Math.exp(-1) + Math.exp(3)), 0]);
  });
});

describe('rl/advantages: perToken', () => {
  it('[A0, A1] with lengths [2, 3] → [A0, A0, A1, A1, A1]', () => {
    assert.deepEqual(Array.from(perToken(Float64Array.from([0.5, -2]), Int32Array.from([2, 3]))), [0.5, 0.5, -2, -2, -2]);
  });
});

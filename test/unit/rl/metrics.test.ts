import { strict as assert } from 'node:assert';
import { accuracy, meanPassAtK, meanWhere, passAtK } from '../../../lib/rl/metrics';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('rl/metrics', () => {
  it('pass@1 with n=5, c=2 is c/n = 0.4', () => close(passAtK(5, 2, 1), 0.4));
  it('pass@2 with n=5, c=2 is 1 − C(3,2)/C(5,2) = 1 − 3/10 = 0.7', () => close(passAtK(5, 2, 2), 0.7));
  it('c = 0 gives 0; n − c < k gives 1 (every k-subset holds a correct sample)', () => {
    assert.equal(passAtK(5, 0, 3), 0);
    assert.equal(passAtK(5, 3, 3), 1);
    assert.equal(passAtK(5, 5, 1), 1);
  });
  it('is stable for large n: n=1000, c=1, k=100 → 100/1000', () => close(passAtK(1000, 1, 100), 0.1, 1e-12));
  it('refuses c > n and k > n', () => {
    assert.throws(() => passAtK(5, 6, 1), /n=5 c=6 k=1/);
    assert.throws(() => passAtK(5, 1, 6), /k=6/);
  });
  it('meanPassAtK averages over questions: c = [0, 5] with n=5, k=1 → 0.5', () => close(meanPassAtK([0, 5], 5, 1), 0.5));
  it('accuracy is the fraction correct: [1,0,1,1] → 0.75; empty → NaN', () => {
    assert.equal(accuracy(Uint8Array.from([1, 0, 1, 1])), 0.75);
    assert.ok(Number.isNaN(accuracy([])));
  });
  it('meanWhere: EG [1,2,3,4] with rewards [1,0,1,0] → correct 2, incorrect 3', () => {
    assert.equal(meanWhere([1, 2, 3, 4], [1, 0, 1, 0], 1), 2);
    assert.equal(meanWhere([1, 2, 3, 4], [1, 0, 1, 0], 0), 3);
    assert.ok(Number.isNaN(meanWhere([1], [0], 1)));
  });
});

import { strict as assert } from 'node:assert';
import { logSoftmaxAt, logSoftmaxRow, logSumExp, softmaxRow } from '../../lib/model/log-softmax';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('model/log-softmax: one row of logits', () => {
  // two rows [N = 2, V = 2]: [0, ln 3] and [ln 3, 0]
  const z = Float64Array.from([0, Math.log(3), Math.log(3), 0]);

  it('logSoftmaxAt: row [0, ln 3] → log p = [ln 1/4, ln 3/4]; the second row is read at off = V', () => {
    close(logSoftmaxAt(z, 0, 2, 0), Math.log(0.25));
    close(logSoftmaxAt(z, 0, 2, 1), Math.log(0.75));
    close(logSoftmaxAt(z, 2, 2, 0), Math.log(0.75));
  });

  it('logSoftmaxRow: the whole row, [ln 1/4, ln 3/4]', () => {
    const out = new Float64Array(2);
    logSoftmaxRow(z, 0, 2, out);
    close(out[0], Math.log(0.25));
    close(out[1], Math.log(0.75));
  });

  it('softmaxRow: p = [1/4, 3/4] at outOff, and m = ln 3, s = 4/3 so lse = ln 4', () => {
    const out = new Float32Array(5);
    const s = softmaxRow(z, 0, 2, out, 3);
    assert.deepEqual([...out.subarray(0, 3)], [0, 0, 0]);
    close(out[3], 0.25, 1e-7);
    close(out[4], 0.75, 1e-7);
    close(s.max, Math.log(3));
    close(s.sum, 4 / 3);
    close(logSumExp(s), Math.log(4));
  });

  it('softmaxRow in place gives the same numbers as into another array', () => {
    const a = Float64Array.from([1, -2, 0.5, 3]);
    const other = new Float64Array(4);
    softmaxRow(a, 1, 3, other, 1);
    softmaxRow(a, 1, 3, a, 1);
    assert.equal(a[0], 1);
    assert.deepEqual([...a.subarray(1)], [...other.subarray(1)]);
  });

  it('logits of 1000 do not overflow: [1000, 1000] → log p = −ln 2 each', () => {
    close(logSoftmaxAt(Float32Array.from([1000, 1000]), 0, 2, 1), -Math.log(2));
  });
});

import { strict as assert } from 'node:assert';

describe('the exact OT solver is exported for users as `dlab/ot`', () => {
  it('require("dlab/ot").emd solves a 2×2 problem: moving ½ across costs ½', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ot = require('dlab/ot') as typeof import('../../lib/ot');
    const r = ot.emd(new Float64Array([0.5, 0.5]), new Float64Array([1, 0]), new Float64Array([0, 1, 1, 0]), 2, 2);
    assert.equal(r.status, 'optimal');
    assert.ok(Math.abs(r.cost - 0.5) < 1e-12);
    assert.equal(typeof ot.sinkhorn, 'function');
  });
});

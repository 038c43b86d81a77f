import { strict as assert } from 'node:assert';
import { labelEnhancedSelect, labelPlan, roundHalfEven } from '../../../lib/goracs/label-enhanced';
import { DlabInputError } from '../../../lib/errors';
import { randomInstance } from './fixtures';

describe('goracs label-enhanced selection (binary labels)', () => {
  it('rounds n·|V₊|/|V| half to even, exactly: 2.5 → 2, 3.5 → 4, 2.25 → 2, 2.75 → 3', () => {
    assert.equal(roundHalfEven(5, 2), 2);
    assert.equal(roundHalfEven(7, 2), 4);
    assert.equal(roundHalfEven(9, 4), 2);
    assert.equal(roundHalfEven(11, 4), 3);
  });

  it('plan: 5 of 8 validation rows positive, n = 4 → n₊ = round(2.5) = 2, n₋ = 2; rows and columns split by label', () => {
    const pool = new Uint8Array([1, 0, 1, 1, 0, 0, 1]);
    const val = new Uint8Array([1, 1, 0, 1, 0, 1, 0, 1]);
    const [pos, neg] = labelPlan(pool, val, 4);
    assert.deepEqual([pos.label, pos.budget, Array.from(pos.poolRows), Array.from(pos.valCols)], [1, 2, [0, 2, 3, 6], [0, 1, 3, 5, 7]]);
    assert.deepEqual([neg.label, neg.budget, Array.from(neg.poolRows), Array.from(neg.valCols)], [0, 2, [1, 4, 5], [2, 4, 6]]);
  });

  it('selects n rows, n₊ of them positive, each class refined against its own validation rows', async () => {
    const { cost, nT, nV } = randomInstance(30, 12, 8);
    const poolLabels = new Uint8Array(nT).map((_, i) => (i % 3 === 0 ? 1 : 0)); // 10 positives
    const valLabels = new Uint8Array(nV).map((_, j) => (j < 4 ? 1 : 0)); // rate 1/3
    const r = await labelEnhancedSelect(cost, nT, nV, poolLabels, valLabels, 6, { maxIters: 10, cutNum: 2 });
    assert.equal(r.selected.length, 6);
    assert.equal(new Set(r.selected).size, 6);
    assert.deepEqual(Array.from(r.selected, (i) => poolLabels[i]), [1, 1, 0, 0, 0, 0]);
    assert.ok(r.state.positive?.done && r.state.negative?.done);
    const resumed = await labelEnhancedSelect(cost, nT, nV, poolLabels, valLabels, 6, { maxIters: 10, cutNum: 2 }, { resume: JSON.parse(JSON.stringify(r.state)) });
    assert.deepEqual(Array.from(resumed.selected), Array.from(r.selected));
  });

  describe('bad input', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['label other than 0/1', () => labelPlan(new Uint8Array([0, 2]), new Uint8Array([1]), 1), /poolLabels\[1\] is 2, expected 0 or 1/],
      ['empty validation set', () => labelPlan(new Uint8Array([0, 1]), new Uint8Array(0), 1), /valLabels is empty/],
      ['class budget > class pool', () => labelPlan(new Uint8Array([0, 0, 1]), new Uint8Array([1, 1, 0]), 3), /positive budget 2 exceeds the 1 positive pool rows/],
      ['budget > pool', () => labelPlan(new Uint8Array([0, 1]), new Uint8Array([1, 0]), 3), /budget n must be an integer in \[1, 2\]/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.throws(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

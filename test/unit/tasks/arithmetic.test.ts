import { strict as assert } from 'node:assert';
import { additionProblem, additionProcedure, makeProblems, parseAdditionQuestion, processScore } from '../../../lib/tasks/arithmetic';
import { verifyAnswer } from '../../../lib/tasks/verifier';
import { Rng } from '../../../lib/rng';

describe('tasks/arithmetic: the column-addition procedure', () => {
  it('27+58: one line per column right to left, carry added as "+1", then Answer', () => {
    const p = additionProcedure(['27', '58']);
    assert.deepEqual(p.steps, ['7+8=15', '2+5+1=8']);
    assert.equal(p.answer, '85');
    assert.equal(p.solution, '7+8=15\n2+5+1=8\nAnswer: 85');
  });
  it('95+7: a shorter operand contributes 0; the last column sum is written whole → 102', () => {
    const p = additionProcedure(['95', '7']);
    assert.deepEqual(p.steps, ['5+7=12', '9+0+1=10']);
    assert.equal(p.answer, '102');
  });
  it('three operands carry 2: 99+99+99 → 9+9+9=27, 9+9+9+2=29 → 297', () => {
    const p = additionProcedure(['99', '99', '99']);
    assert.deepEqual(p.steps, ['9+9+9=27', '9+9+9+2=29']);
    assert.equal(p.answer, '297');
  });
  it('is exact beyond 2^53: 99999999999999999999 + 1 = 100000000000000000000', () => {
    assert.equal(additionProcedure(['99999999999999999999', '1']).answer, '1' + '0'.repeat(20));
  });
});

describe('tasks/arithmetic: makeProblems', () => {
  const cfg = { op: 'add' as const, digits: 3, minDigits: 2 };

  it('is deterministic given (seed, stream), distinct within a call, ids prefixed', () => {
    const a = makeProblems(cfg, 50, new Rng(3, 9), 'train-');
    const b = makeProblems(cfg, 50, new Rng(3, 9), 'train-');
    assert.deepEqual(a, b);
    assert.equal(new Set(a.map((p) => p.question)).size, 50);
    assert.equal(a[0].id, 'train-0');
    assert.equal(a[49].id, 'train-49');
    assert.notDeepEqual(makeProblems(cfg, 50, new Rng(4, 9), 'train-'), a);
  });

  it('every problem: operands of 2..3 digits, a correct answer, a solution that passes the verifier with process score 1', () => {
    for (const p of makeProblems(cfg, 100, new Rng(1), 'q')) {
      const ops = parseAdditionQuestion(p.question);
      assert.equal(ops.length, 2);
      for (const o of ops) assert.ok(o.length >= 2 && o.length <= 3, p.question);
      assert.equal(p.answer, String(Number(ops[0]) + Number(ops[1])));
      assert.equal(verifyAnswer(p.solution, p.answer), 1);
      assert.equal(processScore(p, p.solution), 1);
    }
  });

  it('exclude keeps a second set disjoint (e.g. the demo pool from the training questions)', () => {
    const small = { op: 'add' as const, digits: 1 };
    const train = makeProblems(small, 60, new Rng(2), 't');
    const demos = makeProblems(small, 40, new Rng(5), 'd', new Set(train.map((p) => p.question)));
    const all = new Set([...train, ...demos].map((p) => p.question));
    assert.equal(all.size, 100); // the whole 1-digit space, 10 × 10
  });

  it('refuses more problems than exist: 1-digit pairs allow 100', () => {
    assert.throws(() => makeProblems({ op: 'add', digits: 1 }, 101, new Rng(1), 'q'), /101 distinct problems requested.*only 100/);
  });
});

describe('tasks/arithmetic: processScore', () => {
  const problem = additionProblem(['456', '789'], 'x'); // 6+9=15, 5+8+1=14, 4+7+1=12 → 1245

  it('the expert solution scores 1; spaces inside lines do not matter', () => {
    assert.deepEqual(problem.steps, ['6+9=15', '5+8+1=14', '4+7+1=12']);
    assert.equal(processScore(problem, problem.solution), 1);
    assert.equal(processScore(problem, '6 + 9 = 15\n5+8+1=14\n 4+7+1=12 \nAnswer: 1245'), 1);
  });
  it('a dropped carry in one of k = 3 columns scores (k−1)/k = 2/3', () => {
    assert.equal(processScore(problem, '6+9=15\n5+8=13\n4+7+1=12\nAnswer: 1235'), 2 / 3);
  });
  it('a lucky right answer after wrong steps: reward 1, process 1/3', () => {
    const lucky = '6+9=14\n5+8+1=15\n4+7+1=12\nAnswer: 1245';
    assert.equal(verifyAnswer(lucky, problem.answer), 1);
    assert.equal(processScore(problem, lucky), 1 / 3);
  });
  it('steps must be in order: the right lines reversed score 1/3; repeated lines count once', () => {
    assert.equal(processScore(problem, '4+7+1=12\n5+8+1=14\n6+9=15'), 1 / 3);
    assert.equal(processScore(problem, '6+9=15\n6+9=15\n6+9=15'), 1 / 3);
  });
  it('an empty completion or a bare answer scores 0', () => {
    assert.equal(processScore(problem, ''), 0);
    assert.equal(processScore(problem, 'Answer: 1245'), 0);
  });
});

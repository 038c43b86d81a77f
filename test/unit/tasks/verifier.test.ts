import { strict as assert } from 'node:assert';
import { extractAnswer, normalizeAnswer, verifyAnswer } from '../../../lib/tasks/verifier';

describe('tasks/verifier: extractAnswer', () => {
  it('takes the rest of the line after the last "Answer:"', () => {
    assert.equal(extractAnswer('7+8=15\nAnswer: 1,234'), '1,234');
    assert.equal(extractAnswer('Answer: 42\nmore text'), '42');
  });
  it('two Answer: lines → the last wins', () => {
    assert.equal(extractAnswer('Answer: 3\nwait, no\nAnswer: 4'), '4');
  });
  it('is case-sensitive: "answer: 5" is no answer', () => {
    assert.equal(extractAnswer('answer: 5'), null);
  });
  it('falls back to the last \\boxed{…}, braces balanced', () => {
    assert.equal(extractAnswer('so \\boxed{\\frac{1}{2}}'), '\\frac{1}{2}');
    assert.equal(extractAnswer('\\boxed{1} then \\boxed{{a}{b{c}}} end'), '{a}{b{c}}');
  });
  it('a \\boxed{} on the Answer: line is unwrapped', () => {
    assert.equal(extractAnswer('Answer: \\boxed{7}'), '7');
  });
  it('an unbalanced \\boxed{ gives null; no answer at all gives null; a blank Answer: gives null', () => {
    assert.equal(extractAnswer('\\boxed{12'), null);
    assert.equal(extractAnswer('\\boxed{\\frac{1}{2}'), null);
    assert.equal(extractAnswer('7+8=15'), null);
    assert.equal(extractAnswer('Answer:   \n85'), null);
  });
});

describe('tasks/verifier: normalizeAnswer', () => {
  const cases: [string, string][] = [
    ['1,234', '1234'],
    ['1,234,567', '1234567'],
    ['1,2', '1,2'],
    ['12.0', '12'],
    ['12.000', '12'],
    ['12.50', '12.5'],
    ['120.0', '120'],
    [' -7 .', '-7'],
    ['$85$', '85'],
    ['$ 1,000.00 $.', '1000'],
    ['+5', '5'],
    ['-0.0', '0'],
    ['\\frac{1}{2}', '\\frac{1}{2}'],
  ];
  for (const [input, want] of cases) it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => assert.equal(normalizeAnswer(input), want));
});

describe('tasks/verifier: verifyAnswer', () => {
  it('scores 1 for equal normalised answers', () => {
    assert.equal(verifyAnswer('Answer: 1,234', '1234'), 1);
    assert.equal(verifyAnswer('Answer: 12.0', '12'), 1);
    assert.equal(verifyAnswer('Answer:  -7 .', '-7'), 1);
    assert.equal(verifyAnswer('Answer: 42\nmore text', '42'), 1);
    assert.equal(verifyAnswer('\\boxed{\\frac{1}{2}}', '\\frac{1}{2}'), 1);
  });
  it('scores 0 for a wrong answer, a lost sign, no answer, lower-case "answer:" and an empty answer', () => {
    assert.equal(verifyAnswer('Answer: 85', '86'), 0);
    assert.equal(verifyAnswer('Answer: 7', '-7'), 0);
    assert.equal(verifyAnswer('the sum is 85', '85'), 0);
    assert.equal(verifyAnswer('answer: 5', '5'), 0);
    assert.equal(verifyAnswer('Answer: $$', ''), 0);
  });
});

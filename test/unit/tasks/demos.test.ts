import { strict as assert } from 'node:assert';
import {
  COMPACT_TEMPLATE,
  pickDemos,
  renderBaselinePrompt,
  renderEvidencePrompt,
  renderPrompt,
  renderQuestionBaselinePrompt,
} from '../../../lib/tasks/demos';
import { Rng } from '../../../lib/rng';

const demo = { question: '27+58=', solution: '7+8=15\n2+5+1=8\nAnswer: 85' };

describe('tasks/demos: pickDemos', () => {
  it('G=8, m=6 from a pool of 10: six distinct indices first, then two −1; deterministic', () => {
    const a = pickDemos(10, 8, 6, new Rng(11, 2));
    assert.equal(a.length, 8);
    const picked = Array.from(a.subarray(0, 6));
    assert.equal(new Set(picked).size, 6);
    for (const i of picked) assert.ok(i >= 0 && i < 10);
    assert.deepEqual(Array.from(a.subarray(6)), [-1, -1]);
    assert.deepEqual(pickDemos(10, 8, 6, new Rng(11, 2)), a);
  });
  it('m = pool size gives a permutation of the pool; m = 0 gives all −1', () => {
    assert.deepEqual(Array.from(pickDemos(5, 5, 5, new Rng(1))).sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(pickDemos(5, 3, 0, new Rng(1))), [-1, -1, -1]);
  });
  it('is uniform: each of 3 demos is first in about 1/3 of 3000 draws', () => {
    const rng = new Rng(5);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[pickDemos(3, 2, 2, rng)[0]]++;
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 100, String(counts));
  });
  it('refuses more demos than the pool holds or than the group has slots', () => {
    assert.throws(() => pickDemos(3, 8, 6, new Rng(1)), /at least demosPerGroup = 6.*found 3/);
    assert.throws(() => pickDemos(10, 4, 6, new Rng(1)), /\[0, groupSize = 4\], found 6/);
  });
});

describe('tasks/demos: prompts', () => {
  it("the spec's default template with one demonstration", () => {
    assert.equal(
      renderPrompt('13+4=', demo),
      'Below are solutions from other solvers.\n\nExample 1:\nQuery: 27+58=\nAnswer: 7+8=15\n2+5+1=8\nAnswer: 85\n\nNow solve this problem:\n13+4=',
    );
  });
  it('without a demonstration the prompt is the template tail from {q}: the question alone (default), "q\\n" (compact)', () => {
    assert.equal(renderPrompt('13+4=', null), '13+4=');
    assert.equal(renderPrompt('13+4=', null, COMPACT_TEMPLATE), '13+4=\n');
  });
  it('compact template: demo question, solution, blank line, question line', () => {
    assert.equal(renderPrompt('13+4=', demo, COMPACT_TEMPLATE), '27+58=\n7+8=15\n2+5+1=8\nAnswer: 85\n\n13+4=\n');
  });
  it('EG prompts: [q, o] as Example 1 then q_D; baseline q_D alone; "question" baseline q with an empty answer', () => {
    const o = '3+4=7\n1+0=1\nAnswer: 17';
    assert.equal(renderEvidencePrompt('13+4=', o, '27+58=', COMPACT_TEMPLATE), '13+4=\n3+4=7\n1+0=1\nAnswer: 17\n\n27+58=\n');
    assert.equal(renderBaselinePrompt('27+58=', COMPACT_TEMPLATE), '27+58=\n');
    assert.equal(renderQuestionBaselinePrompt('13+4=', '27+58=', COMPACT_TEMPLATE), '13+4=\n\n\n27+58=\n');
    assert.equal(
      renderEvidencePrompt('13+4=', o, '27+58='),
      'Below are solutions from other solvers.\n\nExample 1:\nQuery: 13+4=\nAnswer: 3+4=7\n1+0=1\nAnswer: 17\n\nNow solve this problem:\n27+58=',
    );
  });
  it('values are inserted literally: "{q}" and "$&" inside a demo are not expanded', () => {
    assert.equal(renderPrompt('Q', { question: '$&', solution: '{q}' }, COMPACT_TEMPLATE), '$&\n{q}\n\nQ\n');
  });
  it('refuses a template without {q} or with {q} before the example', () => {
    assert.throws(() => renderPrompt('Q', null, '{q_D} {y_D}'), /must contain \{q\}/);
    assert.throws(() => renderPrompt('Q', null, '{q}\n{q_D}\n{y_D}'), /after \{q_D\} and \{y_D\}/);
  });
});

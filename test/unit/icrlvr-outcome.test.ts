import { strict as assert } from 'node:assert';
import { tableFromColumns } from '../../lib/store/columns';
import { egVsLuck, outcomeShares, rolloutOutcome } from '../../lib/icrlvr/outcome';
import { scoringStats } from '../../lib/icrlvr/engine';
import { readScored, scoredTable, ScoredRow } from '../../lib/icrlvr/records';
import { additionProblem, processScore } from '../../lib/tasks/arithmetic';
import { verifyAnswer } from '../../lib/tasks/verifier';
import { encodeArtifact } from '../../lib/store/artifact-store';
import { ICRLVR_SCORED, ICRLVR_SCORED_V1 } from '../../schemas/artifacts';
import { tableFromIPC } from 'apache-arrow';

/** A scored row with only what the outcome figures read set. */
function scored(reward: number, processScore: number, egMean: number): ScoredRow {
  return {
    step: 1, round: 0, questionId: 'q', groupIndex: 0, demoId: '', promptHash: 'h', prompt: 'p', completion: 'c', tokens: [1], logprobs: [-1], stream: 0,
    logprobSum: -1, logprobMean: -1, reward, processScore, egDemoIds: 'd', eg: [egMean], egMean, egTokenMean: egMean, advantage: 0, kept: 1,
    outcome: rolloutOutcome(reward, processScore),
  };
}

describe('correct-by-luck: outcome of a rollout, shares, Evidence Gain against luck', () => {
  it('classifies by the verifier and the process score: 27+45= with every step right, with a wrong step, with no steps, and wrong', () => {
    const p = additionProblem(['27', '45'], 'q');
    assert.deepEqual(p.steps, ['7+5=12', '2+4+1=7']);
    const cases: [string, string][] = [
      ['7+5=12\n2+4+1=7\nAnswer: 72', 'sound'],
      ['7+5=11\n2+4+1=7\nAnswer: 72', 'lucky'], // a wrong column line, the right answer
      ['Answer: 72', 'lucky'], // steps missing
      ['7+5=12\n2+4+1=7\nAnswer: 71', 'incorrect'],
    ];
    for (const [text, want] of cases) assert.equal(rolloutOutcome(verifyAnswer(text, p.answer), processScore(p, text)), want, text);
    assert.equal(rolloutOutcome(1, NaN), 'unchecked', 'a task without checkable steps');
  });

  it('shares: of 10 rollouts 3 sound, 2 lucky, 5 incorrect → 0.3 / 0.2 / 0.5, lucky of correct 2/5', () => {
    const outcomes = [...Array(3).fill('sound'), ...Array(2).fill('lucky'), ...Array(5).fill('incorrect')];
    assert.deepEqual(outcomeShares(outcomes), { sound: 0.3, lucky: 0.2, incorrect: 0.5, luckyOfCorrect: 0.4 });
    assert.equal(outcomeShares(['incorrect']).luckyOfCorrect, null);
  });

  it('EG vs luck: sound EG {3, 1}, lucky EG {2, 0} → means 2 and 1, AUC 3/4 over 4 pairs; one class only → no AUC', () => {
    const rows = [scored(1, 1, 3), scored(1, 1, 1), scored(1, 0.5, 2), scored(1, 0, 0), scored(0, 1, 9)];
    assert.deepEqual(egVsLuck(rows), { nSound: 2, nLucky: 2, egSoundMean: 2, egLuckyMean: 1, auc: 0.75, pairs: 4 });
    const onlySound = egVsLuck(rows.slice(0, 2));
    assert.equal(onlySound.auc, null);
    assert.equal(onlySound.pairs, 0);
  });

  it('scoring stats carry the shares and the EG-vs-luck figures of the round', () => {
    const rows = [scored(1, 1, 3), scored(1, 1, 1), scored(1, 0.5, 2), scored(0, 0, -4)];
    const s = scoringStats(rows, 2);
    assert.deepEqual(
      [s.soundShare, s.luckyShare, s.luckyShareCorrect, s.egSoundMean, s.egLuckyMean, s.egLuckAuc, s.egLuckPairs],
      [0.5, 0.25, 1 / 3, 2, 2, 0.5, 2],
    );
  });

  it('the audit record (icrlvr.scored@2) stores the outcome; @1 records read back with it derived by the same rule', () => {
    const rows = [scored(1, 1, 3), scored(1, 0.5, 2), scored(0, 1, -1)];
    const t2 = tableFromIPC(encodeArtifact(scoredTable(rows), ICRLVR_SCORED, { experimentId: 'e', stage: 's', producer: 'p', configHash: '', codeVersion: '', parents: [] }));
    assert.deepEqual(t2.getChild('outcome')!.toArray(), ['sound', 'lucky', 'incorrect']);
    assert.deepEqual(readScored(t2).map((r) => r.outcome), ['sound', 'lucky', 'incorrect']);
    // the same rows as version 1 wrote them: no outcome column
    const full = scoredTable(rows);
    const v1 = tableFromColumns(Object.fromEntries(full.schema.fields.filter((f) => f.name !== 'outcome').map((f) => [f.name, full.getChild(f.name)!])) as never);
    const t1 = tableFromIPC(encodeArtifact(v1, ICRLVR_SCORED_V1, { experimentId: 'e', stage: 's', producer: 'p', configHash: '', codeVersion: '', parents: [] }));
    assert.equal(t1.getChild('outcome'), null);
    assert.deepEqual(readScored(t1).map((r) => r.outcome), ['sound', 'lucky', 'incorrect']);
  });
});

import { strict as assert } from 'node:assert';
import { poolLuck } from '../../lib/icrlvr/pool-luck';
import { sweepSummary, SweepRunResult } from '../../lib/icrlvr/summary';
import type { IcrlvrEvaluation } from '../../schemas/status';

const evaluation = (avgAtK: number, extra: Partial<IcrlvrEvaluation> = {}): IcrlvrEvaluation => ({
  step: 10, avgAtK, passAtK: avgAtK, processScoreCorrect: 0.9, rewardMean: null, egCorrectMean: null, egIncorrectMean: null, ...extra,
});

describe('In-Context RLVR over seeds: pooled luck figures and the sweep summary', () => {
  it('pools steps: 2 sound + 2 lucky (AUC 3/4 over 4 pairs), then 1 + 3 (AUC 1/3 over 3) → lucky 5/8 of 8 right answers, AUC (3 + 1)/7', () => {
    const m: Parameters<typeof poolLuck>[0] = {};
    poolLuck(m, { soundCount: 2, luckyCount: 2, egLuckAuc: 0.75, egLuckPairs: 4 });
    poolLuck(m, { soundCount: 1, luckyCount: 3, egLuckAuc: 1 / 3, egLuckPairs: 3 });
    poolLuck(m, { soundCount: 0, luckyCount: 0, egLuckAuc: null, egLuckPairs: 0 }); // a step without right answers changes nothing
    assert.equal(m.correctPooled, 8);
    assert.ok(Math.abs(m.luckyShareCorrectPooled! - 5 / 8) < 1e-12);
    assert.equal(m.egLuckPairsPooled, 7);
    assert.ok(Math.abs(m.egLuckAucPooled! - 4 / 7) < 1e-12);
  });

  it('per mode: means over seeds with intervals; icrlvr − rlvr paired by seed: avg@k +0.1 from per-seed differences 0.1, 0, 0.2', () => {
    const runs: SweepRunResult[] = [
      ...[0.4, 0.5, 0.6].map((a, i) => ({ mode: 'rlvr', seed: i + 1, evaluations: [evaluation(0.1), evaluation(a)], pooled: { luckyShareCorrect: 0.3, egLuckAuc: 0.5 + 0.01 * i } })),
      ...[0.5, 0.5, 0.8].map((a, i) => ({ mode: 'icrlvr', seed: i + 1, evaluations: [evaluation(a)], pooled: { luckyShareCorrect: 0.2, egLuckAuc: null } })),
    ];
    const [rlvr, icrlvr] = sweepSummary(runs);
    assert.equal(rlvr.mode, 'rlvr');
    assert.equal(rlvr.vsRlvr, undefined);
    assert.ok(Math.abs(rlvr.figures.avgAtK!.mean - 0.5) < 1e-12, 'the last evaluation of each run');
    assert.equal(rlvr.figures.avgAtK!.n, 3);
    assert.ok(rlvr.figures.avgAtK!.lo >= 0.4 - 1e-12 && rlvr.figures.avgAtK!.hi <= 0.6 + 1e-12 && rlvr.figures.avgAtK!.lo < rlvr.figures.avgAtK!.hi);
    assert.ok(Math.abs(rlvr.figures.egLuckAuc!.mean - 0.51) < 1e-12);
    assert.deepEqual(icrlvr.seeds, [1, 2, 3]);
    assert.ok(Math.abs(icrlvr.figures.avgAtK!.mean - 0.6) < 1e-12);
    assert.ok(Math.abs(icrlvr.vsRlvr!.avgAtK!.mean - 0.1) < 1e-12);
    assert.ok(icrlvr.vsRlvr!.avgAtK!.lo >= -1e-12 && icrlvr.vsRlvr!.avgAtK!.hi <= 0.2 + 1e-12);
    assert.ok(Math.abs(icrlvr.vsRlvr!.luckyShareCorrect!.mean + 0.1) < 1e-12);
    assert.equal(icrlvr.figures.egLuckAuc, undefined, 'not measured in any icrlvr run: no interval');
    assert.equal(icrlvr.vsRlvr!.egLuckAuc, undefined);
    assert.equal(icrlvr.figures.heldOutLuckyShareCorrect, undefined, 'older evaluations without it');
  });
});

import { strict as assert } from 'node:assert';
import { poolLuck } from '../../lib/icrlvr/pool-luck';
import { sweepSummary, SweepRunResult } from '../../lib/icrlvr/summary';
import type { IcrlvrEvaluation } from '../../schemas/status';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { comparisonTable } from '../../lib/icrlvr/records';
import { sweepRows } from '../../lib/report/extract';
import { armLabel } from '../../lib/report/run';
import { workflowArgs } from '../../client/start';
import { DlabInputError } from '../../lib/errors';
import { tableFromColumns } from '../../lib/store/columns';

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

describe('In-Context RLVR sweeps with arms (e.g. head-only and whole-model training)', () => {
  it('summarises per (arm, mode) and pairs each mode with rlvr of its own arm: icrlvr·full − rlvr·full = +0.2, icrlvr·head − rlvr·head = 0', () => {
    const runs: SweepRunResult[] = [];
    for (const [arm, rlvrAcc, icrlvrAcc] of [['full', 0.3, 0.5], ['head', 0.4, 0.4]] as const) {
      for (const seed of [1, 2]) {
        runs.push({ mode: 'rlvr', seed, arm, evaluations: [evaluation(rlvrAcc)] });
        runs.push({ mode: 'icrlvr', seed, arm, evaluations: [evaluation(icrlvrAcc)] });
      }
    }
    const s = sweepSummary(runs);
    assert.deepEqual(s.map((m) => `${m.mode}·${m.arm}`), ['rlvr·full', 'icrlvr·full', 'rlvr·head', 'icrlvr·head']);
    assert.ok(Math.abs(s[1].vsRlvr!.avgAtK!.mean - 0.2) < 1e-12);
    assert.ok(Math.abs(s[3].vsRlvr!.avgAtK!.mean) < 1e-12);
    assert.deepEqual(s[3].seeds, [1, 2]);
  });

  it('the comparison table (icrlvr.comparison@3) carries each row\'s arm, empty without arms; the report reads it back', () => {
    const t = comparisonTable([
      { mode: 'rlvr', seed: 1, arm: 'full', evaluations: [evaluation(0.25)] },
      { mode: 'rlvr', seed: 1, evaluations: [evaluation(0.5)] },
    ]);
    const rows = sweepRows(t);
    assert.deepEqual(rows.map((r) => [r.mode, r.arm, r.avgAtK]), [['rlvr', 'full', 0.25], ['rlvr', undefined, 0.5]]);
    assert.deepEqual(rows.map(armLabel), ['rlvr · full', 'rlvr']);
    // a table of the version before arms (icrlvr.comparison@2: no arm column) reads with no arm
    const { arm: _arm, ...v2columns } = Object.fromEntries(t.schema.fields.map((f) => [f.name, t.getChild(f.name)!.toArray()]));
    const v2 = sweepRows(tableFromColumns(v2columns as Parameters<typeof tableFromColumns>[0]));
    assert.deepEqual(v2.map((r) => [r.mode, r.arm, r.avgAtK]), [['rlvr', undefined, 0.25], ['rlvr', undefined, 0.5]]);
  });

  it('a sweep with arms {full: {trainable: "full", lr}, head: {}} starts one run per arm, mode and seed (ids name the arm, each with its overrides); an arm that sets mode is refused naming sweep.arms.<arm>.mode', () => {
    const small = JSON.parse(readFileSync(join(__dirname, '../../../examples/icrlvr/small.json'), 'utf8'));
    const arms = { full: { trainable: 'full', lr: 3e-4 }, head: {} };
    const { args } = workflowArgs('icrlvr', { ...small, sweep: { modes: ['rlvr', 'icrlvr'], seeds: [1, 2], arms } }) as { args: { runs: { mode: string; seed: number; arm?: string; config: { trainable?: string; lr: number } }[] } };
    assert.deepEqual(args.runs.map((r) => `${r.mode}.${r.arm}.s${r.seed}`), ['rlvr.full.s1', 'rlvr.full.s2', 'icrlvr.full.s1', 'icrlvr.full.s2', 'rlvr.head.s1', 'rlvr.head.s2', 'icrlvr.head.s1', 'icrlvr.head.s2']);
    assert.deepEqual(args.runs.map((r) => [r.config.trainable ?? 'head', r.config.lr]).slice(3, 5), [['full', 3e-4], ['head', small.lr]]);
    assert.throws(
      () => workflowArgs('icrlvr', { ...small, sweep: { modes: ['rlvr'], seeds: [1], arms: { a: { mode: 'icrlvr' } } } }),
      (err: Error) => err instanceof DlabInputError && err.where === 'sweep.arms.a.mode',
    );
    assert.throws(
      () => workflowArgs('icrlvr', { ...small, sweep: { modes: ['rlvr'], seeds: [1], arms: { a: {}, b: { trainable: 'head' } } } }),
      (err: Error) => err instanceof DlabInputError && err.where === 'sweep.arms' && /arms "a" and "b" run the same config/.test(err.message),
    );
    // the arms' names are part of the sweep's hash (its runs' ids name them)
    const hashOf = (a: Record<string, object>) => (workflowArgs('icrlvr', { ...small, sweep: { modes: ['rlvr'], seeds: [1], arms: a } }) as { hash: string }).hash;
    assert.notEqual(hashOf({ full: { trainable: 'full' } }), hashOf({ whole: { trainable: 'full' } }));
    assert.throws(
      () => workflowArgs('icrlvr', { ...small, sweep: { modes: ['rlvr'], seeds: [1], arms: { a: { trainable: 'partial' } } } }),
      (err: Error) => err instanceof DlabInputError && /arm a/.test(err.message) && /trainable/.test(err.message),
    );
  });
});

import type { IcrlvrEvaluation } from '../../schemas/status';
import { Interval, meanInterval, pairedDifference } from '../stats/bootstrap';

/**
 * A sweep's headline comparison: per mode, over its seeds, each figure's mean with a 95 %
 * percentile-bootstrap interval over seeds (lib/stats/bootstrap.ts, resampling seed 0), and the
 * paired difference to `rlvr` over the seeds both modes ran (the same seed shares the data, the
 * model and the random streams of everything but the mode). A sweep with arms has one summary
 * per (arm, mode), each paired with rlvr of the same arm.
 *
 * Figures per run (one value per seed):
 *   avgAtK, passAtK, processScoreCorrect, heldOutLuckyShareCorrect  at the run's last evaluation;
 *   luckyShareCorrect  training right answers reached by luck, pooled over the run's steps
 *                      (Σ lucky / Σ (sound + lucky), first sampling round of each step);
 *   egLuckAuc          EG as a classifier of sound vs lucky correct rollouts, pooled over steps
 *                      as Σ AUC_t · pairs_t / Σ pairs_t (each sound rollout compared with the
 *                      lucky ones of its own step).
 * A figure a run did not measure (no right answer, no lucky rollout, an older run) is left out of
 * that figure's interval; `n` says over how many seeds each interval is.
 */
export const SUMMARY_FIGURES = ['avgAtK', 'passAtK', 'processScoreCorrect', 'heldOutLuckyShareCorrect', 'luckyShareCorrect', 'egLuckAuc'] as const;
export type SummaryFigure = (typeof SUMMARY_FIGURES)[number];

/** What a sweep knows of one finished run. */
export interface SweepRunResult {
  mode: string;
  seed: number;
  /** the run's arm, when the sweep has arms */
  arm?: string;
  evaluations: IcrlvrEvaluation[];
  /** the run's pooled training figures (its final metrics), absent in runs recorded before them */
  pooled?: { luckyShareCorrect?: number | null; egLuckAuc?: number | null };
}

export interface ModeSummary {
  mode: string;
  /** the arm (sweeps with arms): modes are compared within it */
  arm?: string;
  seeds: number[];
  figures: Partial<Record<SummaryFigure, Interval>>;
  /** mode − rlvr, paired by seed (absent for rlvr itself, or without rlvr in the sweep) */
  vsRlvr?: Partial<Record<SummaryFigure, Interval>>;
}

const BOOT = { seed: 0, resamples: 10_000, level: 0.95 };

function figureOf(r: SweepRunResult, f: SummaryFigure): number | null {
  if (f === 'luckyShareCorrect' || f === 'egLuckAuc') return r.pooled?.[f] ?? null;
  const last = r.evaluations[r.evaluations.length - 1];
  const v = last ? (last[f] ?? null) : null;
  return v === null || !Number.isFinite(v) ? null : v;
}

export function sweepSummary(runs: readonly SweepRunResult[]): ModeSummary[] {
  const arms = [...new Set(runs.map((r) => r.arm))];
  return arms.flatMap((arm) => {
    const mineArm = runs.filter((r) => r.arm === arm);
    const modes = [...new Set(mineArm.map((r) => r.mode))];
    const of = (mode: string) => mineArm.filter((r) => r.mode === mode).sort((a, b) => a.seed - b.seed);
    const rlvr = of('rlvr');
    return modes.map((mode) => {
      const mine = of(mode);
      const figures: ModeSummary['figures'] = {};
      const vs: NonNullable<ModeSummary['vsRlvr']> = {};
      for (const f of SUMMARY_FIGURES) {
        const values = mine.map((r) => figureOf(r, f)).filter((v): v is number => v !== null);
        if (values.length) figures[f] = meanInterval(values, BOOT);
        if (mode === 'rlvr' || !rlvr.length) continue;
        const pairs = mine.flatMap((r) => {
          const base = rlvr.find((b) => b.seed === r.seed);
          const [a, b] = [figureOf(r, f), base ? figureOf(base, f) : null];
          return a !== null && b !== null ? [[a, b] as const] : [];
        });
        if (pairs.length) vs[f] = pairedDifference(pairs.map((p) => p[0]), pairs.map((p) => p[1]), BOOT);
      }
      return { mode, ...(arm ? { arm } : {}), seeds: mine.map((r) => r.seed), figures, ...(mode !== 'rlvr' && rlvr.length ? { vsRlvr: vs } : {}) };
    });
  });
}

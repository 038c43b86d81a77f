import type { ModeSummary } from '../icrlvr/summary';
import type { Lineage } from '../store/ref';

/**
 * What a report knows about one run: gathered from the Temporal server and the artifact
 * store by client/report.ts, rendered by lib/report without either.
 */

/** One artifact of the run, with the lineage its Arrow schema metadata carries (absent when the file is not in this store). */
export interface ReportArtifact {
  name: string;
  /** the step the run listed it at; null when only the event history knows it (no step there) */
  step: number | null;
  sha256: string;
  schema: string;
  rows: number;
  bytes: number;
  lineage?: Pick<Lineage, 'stage' | 'producer' | 'configHash' | 'codeVersion' | 'parents'>;
  /** why its numbers are missing from the report (e.g. the file failed its hash check) */
  problem?: string;
}

/**
 * How an activity attempt ended: 'running' while it has not; 'abandoned' when the run closed
 * (failed, cancelled, terminated) while the attempt was still going.
 */
export type AttemptStatus = 'completed' | 'failed' | 'timed_out' | 'cancelled' | 'running' | 'abandoned';

/**
 * One attempt of one activity: an entry of `dlab history` (client/history.ts builds them from
 * the Temporal event history) and a row of a report's audit trail.
 */
export interface ActivityAttempt {
  /** set on attempts of a child workflow (a sweep's runs): its workflow id */
  workflowId?: string;
  runId: string;
  stage: string;
  activity: string;
  attempt: number;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  status: AttemptStatus;
  worker: string | null;
  /** batch the attempt resumed from (resumable stages) */
  resumedFromBatch?: number;
  error?: string;
  /** sha256 of the artifacts the activity was given, and of those it returned */
  inputs: string[];
  outputs: string[];
}

/** The fields of an attempt a report renders. */
export type ReportAttempt = Omit<ActivityAttempt, 'runId' | 'inputs' | 'outputs'>;

/** A held-out evaluation of an icrlvr run (from its `icrlvr.eval` artifact). */
export interface IcrlvrEvalPoint {
  step: number;
  avgAtK: number;
  passAtK: number;
  processScoreCorrect: number | null;
  /** of the right answers, the share with a wrong or missing step (null: none right, or eval@1) */
  luckyShareCorrect: number | null;
}

/** The first sampling round of an icrlvr training step (from its `icrlvr.scored` artifact). */
export interface IcrlvrTrainingPoint {
  step: number;
  rewardMean: number;
  egCorrectMean: number | null;
  egIncorrectMean: number | null;
  /** outcome shares of the round's rollouts (lib/icrlvr/outcome.ts) */
  soundShare: number;
  luckyShare: number;
  egSoundMean: number | null;
  egLuckyMean: number | null;
  egLuckAuc: number | null;
}

/** A row of an `icrlvr.comparison` table (@1 rows have no luck columns: null). */
export interface SweepRow {
  mode: string;
  /** the run's arm, in sweeps with arms */
  arm?: string;
  seed: number;
  step: number;
  avgAtK: number | null;
  passAtK: number | null;
  processScoreCorrect: number | null;
  egCorrect: number | null;
  egIncorrect: number | null;
  rewardMean: number | null;
  luckyShareCorrect: number | null;
  heldOutLuckyShareCorrect: number | null;
  egSound: number | null;
  egLucky: number | null;
  egLuckAuc: number | null;
}

/** A row of a `goracs.eval@1` table. */
export interface GoracsEvalRow {
  method: string;
  seed: number;
  budget: number;
  metric: string;
  value: number | null;
}

/** A row of a `smoke.summary@1` table. */
export interface SmokeSummaryRow {
  dim: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface RunDescription {
  id: string;
  /** smoke | icrlvr | icrlvr-sweep | goracs */
  kind: string;
  state: string;
  stage: string;
  step: number;
  progress: { done: number; total: number };
  error?: string;
  metrics?: Record<string, number | null>;
  /** the config as the workflow received it */
  config: unknown;
  configHash: string | null;
  artifacts: ReportArtifact[];
  attempts: ReportAttempt[];
  icrlvr?: { evaluations: IcrlvrEvalPoint[]; training: IcrlvrTrainingPoint[] };
  /** summary: per mode, over seeds, with intervals (the sweep's status; absent in older sweeps) */
  sweep?: { rows: SweepRow[]; summary?: ModeSummary[] };
  goracs?: { trace: { iter: number; poo: number }[]; evaluation: GoracsEvalRow[] };
  smoke?: { summary: SmokeSummaryRow[] };
}

/** How a sweep's run group is named in figures and tables: its mode, and its arm when the sweep has arms. */
export const armLabel = (r: { mode: string; arm?: string }): string => (r.arm ? `${r.mode} · ${r.arm}` : r.mode);

/** An interval as text: `mean [lo, hi]` to 3 decimals (`+` before a positive mean when `signed`), or — when absent. */
export const intervalText = (i: { mean: number; lo: number; hi: number } | undefined, signed = false): string =>
  i ? `${signed && i.mean > 0 ? '+' : ''}${i.mean.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]` : '—';

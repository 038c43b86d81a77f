import type { ModeSummary, SweepRunResult } from '../lib/icrlvr/summary';
import type { EvalSummary } from '../lib/goracs/evaluate';
import type { ArtifactRef } from '../lib/store/ref';

/**
 * What each experiment kind reports in its `status` (the workflow's query and result): one
 * place for the shapes the workflows fill and the CLI, the demo and the report read.
 * Metrics are small numbers, latest value wins; results are what a run keeps for its users
 * beyond them (every evaluation, the refinement's verdict, a sweep's runs).
 */

/** An artifact as a run lists it: which output of which step. */
export interface NamedArtifact extends ArtifactRef {
  name: string;
  step: number;
}

/** In-Context RLVR, at the last evaluation and the last step's first sampling round. */
export type IcrlvrMetrics = {
  /** step of the last evaluation */
  step?: number;
  /** held-out avg@k at the last evaluation, and at step 0 */
  heldOutAccuracy?: number;
  initialHeldOutAccuracy?: number;
  passAtK?: number;
  /** mean process score of the correct held-out answers (null: none correct) */
  processScoreCorrect?: number | null;
  /** training rollouts of the last step: mean reward, mean Evidence Gain of correct / incorrect ones */
  rewardMean?: number;
  egCorrectMean?: number | null;
  egIncorrectMean?: number | null;
  /** of the last step's right training answers, the share reached by luck (a wrong or missing step); of the last evaluation's right held-out answers */
  luckyShareCorrect?: number | null;
  heldOutLuckyShareCorrect?: number | null;
  /** the last step's Evidence Gain as a classifier of sound vs lucky correct rollouts (AUC; null: a class absent) */
  egLuckAuc?: number | null;
  /** the same pooled over the run's steps (lib/icrlvr/pool-luck.ts), with the right answers and sound × lucky pairs they are over */
  luckyShareCorrectPooled?: number | null;
  correctPooled?: number;
  egLuckAucPooled?: number | null;
  egLuckPairsPooled?: number;
};

/** One held-out evaluation of an In-Context RLVR run, with the training figures of its step. */
export interface IcrlvrEvaluation {
  step: number;
  avgAtK: number;
  passAtK: number;
  processScoreCorrect: number | null;
  rewardMean: number | null;
  egCorrectMean: number | null;
  egIncorrectMean: number | null;
  /** held-out: of the right answers, the share with a wrong or missing step (absent in runs recorded before it was measured) */
  heldOutLuckyShareCorrect?: number | null;
  /** the step's training rollouts (sampling round 0): outcome shares and EG of sound vs lucky correct ones (lib/icrlvr/outcome.ts) */
  soundShare?: number | null;
  luckyShare?: number | null;
  luckyShareCorrect?: number | null;
  egSoundMean?: number | null;
  egLuckyMean?: number | null;
  egLuckAuc?: number | null;
  egLuckPairs?: number | null;
}

/** The selection methods GORACS is compared with. */
export type GoracsMethodName = 'goracs' | 'random' | 'top-g' | 'greedy' | 'full';

/** GORACS: split sizes, the refinement's POO, and per method the mean over seeds of the task's headline metrics. */
export type GoracsMetrics = {
  pool?: number;
  validation?: number;
  test?: number;
  budget?: number;
  /** POO of the greedy start, of the current selection; selection size; swaps accepted so far */
  pooInitial?: number;
  poo?: number;
  selected?: number;
  swapsAccepted?: number;
  refineMs?: number;
} & { [K in `hr10.${GoracsMethodName}` | `ndcg10.${GoracsMethodName}` | `auc.${GoracsMethodName}`]?: number };

/** One method's evaluation for one fine-tuning seed: next-item (HR/NDCG) or binary (AUC). */
export type GoracsEvaluationRow = Pick<EvalSummary, 'seed' | 'budget' | 'hr5' | 'hr10' | 'ndcg5' | 'ndcg10' | 'auc' | 'valLoss' | 'bestEpoch'> & { method: GoracsMethodName };

export interface GoracsResults {
  refinement?: { reason: string | null; greedyStalled: boolean };
  evaluation?: GoracsEvaluationRow[];
}

/** Status shapes by experiment kind (the workflow's kind string). */
export interface StatusShapes {
  smoke: { metrics: Record<string, never>; results: Record<string, never> };
  icrlvr: { metrics: IcrlvrMetrics; results: { evaluations: IcrlvrEvaluation[] } };
  'icrlvr-sweep': {
    metrics: Record<string, never>;
    /** summary: per mode, means over seeds with intervals and paired differences to rlvr (lib/icrlvr/summary.ts; absent in sweeps recorded before it) */
    results: { runs: SweepRunResult[]; summary?: ModeSummary[] };
  };
  goracs: { metrics: GoracsMetrics; results: GoracsResults };
}
export type StatusKind = keyof StatusShapes;

/** What the `status` query answers for a run of kind K (the CLI adds live batch progress from heartbeats). */
export interface RunStatusOf<K extends StatusKind> {
  id: string;
  kind: K;
  state: 'running' | 'paused' | 'completed';
  stage: string;
  step: number;
  progress: { done: number; total: number };
  artifacts: NamedArtifact[];
  metrics?: StatusShapes[K]['metrics'];
  results?: StatusShapes[K]['results'];
}

/** Any run's status; narrows on `kind`. */
export type RunStatus = { [K in StatusKind]: RunStatusOf<K> }[StatusKind];

import type { ArtifactRef } from '../lib/store/ref';

/** Every activity's input starts with where its outputs belong: the experiment, the stage, the config. */
export interface StageContext {
  experimentId: string;
  stage: string;
  configHash: string;
}

/** One attempt of an activity, as the attempt itself saw it (carried forward in heartbeats). */
export interface AttemptRecord {
  attempt: number;
  worker: string;
  startedAt: string;
  lastHeartbeatAt?: string;
  resumedFromBatch: number;
  batchesDone?: number;
}

/** What a resumable stage returns: its artifacts (refs only) and how this attempt went. */
export interface StageResult {
  outputs: Record<string, ArtifactRef>;
  resumedFromBatch: number;
  batchesRun: number;
  batches: number;
  /** earlier attempts of this activity, from their heartbeats, then this one */
  attempts: AttemptRecord[];
}

/** Heartbeat details of a resumable stage: the engine's resume state, progress, the attempts so far. */
export interface StageHeartbeat<S> {
  /** null until the first batch of this attempt (or the resumed state) is done */
  state: S | null;
  progress: { done: number; total: number };
  attempts: AttemptRecord[];
  /** the part of the stage running now, for an activity that runs several (icrlvrStep: rollout, scoring, update); `dlab status` shows it as the stage */
  phase?: string;
}

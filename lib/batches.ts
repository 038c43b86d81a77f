import type { ArtifactRef } from './store/ref';

/**
 * The resumable batch loop every long stage uses.
 *
 * `state.nextBatch` is the first batch not yet done. Each finished batch advances it and
 * reports the state through `onProgress` (the activity sends that as its heartbeat); a
 * retried attempt passes the last reported state back in and starts where it stopped.
 * `state` must be small and JSON-serialisable: counters, accumulators, artifact hashes.
 */
export interface BatchState {
  nextBatch: number;
  batches: number;
}

export interface BatchLoopOptions<S extends BatchState> {
  state: S;
  /** Called after every batch with the updated state. */
  onProgress?: (state: S) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Runs `step(b)` for b = state.nextBatch … state.batches − 1; returns how many batches ran. */
export async function runBatches<S extends BatchState>(opts: BatchLoopOptions<S>, step: (batch: number) => Promise<void> | void): Promise<number> {
  const { state } = opts;
  let ran = 0;
  while (state.nextBatch < state.batches) {
    opts.signal?.throwIfAborted();
    await step(state.nextBatch);
    state.nextBatch += 1;
    ran += 1;
    await opts.onProgress?.(state);
  }
  return ran;
}

export interface LoopHooks<S> {
  /** state of the last heartbeat of a previous attempt, if any */
  resume?: S;
  /**
   * After every batch: the state a retried attempt may resume from (everything it names is
   * persisted) and, when the engine persists less often than every batch, how many batches are
   * done in this attempt's memory (`done`, for progress only; default state.nextBatch).
   */
  onProgress?: (state: S, done?: number) => void | Promise<void>;
  /**
   * After a step of the engine that is not a batch and heartbeats nothing new (e.g. the update
   * after a step's scoring): fault tests wait there (ActivityDeps.pace, phase `phase`) to kill a
   * worker in that window; nothing else happens.
   */
  paceAt?: (phase: string) => Promise<void>;
  /** The engine moves on to another part of its stage (e.g. an RL step's rollout, scoring, update): heartbeaten with the state, shown by `dlab status`. */
  phase?: (name: string) => void;
  signal?: AbortSignal;
}

export interface StageOutcome {
  output: ArtifactRef;
  /** batch this attempt started at (0 unless resumed) */
  resumedFromBatch: number;
  /** batches computed by this attempt */
  batchesRun: number;
  batches: number;
}

export function batchCount(rows: number, batchSize: number): number {
  return Math.ceil(rows / batchSize);
}

/** Row range [start, end) of batch `b`. */
export function batchRange(b: number, rows: number, batchSize: number): [number, number] {
  const start = b * batchSize;
  return [start, Math.min(rows, start + batchSize)];
}

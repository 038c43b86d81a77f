import { Context, ApplicationFailure } from '@temporalio/activity';

import { codeVersion } from '../lib/config/code-version';
import { DlabInputError } from '../lib/errors';
import { BatchState, LoopHooks, StageOutcome } from '../lib/batches';
import { ArtifactStore } from '../lib/store/artifact-store';
import { ArtifactIO } from '../lib/store/io';
import { AttemptRecord, StageContext, StageHeartbeat, StageResult } from './types';

export interface ActivityDeps {
  store: ArtifactStore;
  /** where built ONNX models are kept by content */
  modelsDir: string;
  /** this worker's identity, recorded with each attempt */
  worker: string;
}

/** Writer/reader for an engine, stamping lineage: experiment, stage, producing activity, config, code. */
export function artifactIO(deps: ActivityDeps, ctx: StageContext): ArtifactIO {
  const producer = Context.current().info.activityType;
  return {
    write: (table, schema, parents, extra) =>
      deps.store.put(table, schema, {
        experimentId: ctx.experimentId,
        stage: ctx.stage,
        producer,
        configHash: ctx.configHash,
        codeVersion: codeVersion(),
        parents,
        extra,
      }),
    read: (ref) => deps.store.get(ref),
  };
}

/**
 * Runs a resumable engine loop inside an activity: hands it the state of the previous
 * attempt's last heartbeat, heartbeats every state it reports, and keeps a record of each
 * attempt (worker, start, last heartbeat, batch it resumed from) in the heartbeats, so the
 * final result, which Temporal's history keeps, tells how the stage got done.
 * Input errors become non-retryable failures: retrying cannot fix a bad file or config.
 */
export async function runResumable<S extends BatchState>(
  deps: ActivityDeps,
  engine: (hooks: LoopHooks<S>) => Promise<StageOutcome>,
  outputName: string,
): Promise<StageResult> {
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails as StageHeartbeat<S> | undefined;
  const me: AttemptRecord = {
    attempt: ctx.info.attempt,
    worker: deps.worker,
    startedAt: new Date().toISOString(),
    resumedFromBatch: previous?.state.nextBatch ?? 0,
  };
  const attempts = [...(previous?.attempts ?? []), me];
  try {
    const outcome = await engine({
      resume: previous?.state,
      signal: ctx.cancellationSignal,
      onProgress: (state) => {
        me.lastHeartbeatAt = new Date().toISOString();
        me.batchesDone = state.nextBatch;
        const beat: StageHeartbeat<S> = { state, progress: { done: state.nextBatch, total: state.batches }, attempts };
        ctx.heartbeat(beat);
      },
    });
    return {
      outputs: { [outputName]: outcome.output },
      resumedFromBatch: outcome.resumedFromBatch,
      batchesRun: outcome.batchesRun,
      batches: outcome.batches,
      attempts,
    };
  } catch (err) {
    throw asFailure(err);
  }
}

/** DlabInputError → non-retryable ApplicationFailure (type DlabInputError); anything else unchanged. */
export function asFailure(err: unknown): unknown {
  if (err instanceof DlabInputError) {
    return ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: true, details: err.where ? [err.where] : [] });
  }
  return err;
}

/**
 * Heartbeats every second while a short, non-resumable step runs, so a dead worker is
 * noticed within the heartbeat timeout (the step then reruns from its inputs: it is a pure
 * function of them, so a rerun gives the same bytes). Input errors become non-retryable.
 */
export async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), 1000);
  try {
    return await fn();
  } catch (err) {
    throw asFailure(err);
  } finally {
    clearInterval(timer);
  }
}

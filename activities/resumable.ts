import { Context, ApplicationFailure } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';

import { codeVersion } from '../lib/config/code-version';
import { ExperimentKind, parseConfig } from '../schemas/config';
import { permanentError } from '../lib/errors';
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
  /**
   * Awaited after each batch of a resumable stage (before its heartbeat), at the end of each
   * short step, and where an engine names a phase (LoopHooks.paceAt: `phase` set). Fault tests
   * set it (test/helpers/paced-worker.ts) to make stages last long enough to be interrupted;
   * `dlab worker` never does.
   */
  pace?: (activity: { type: string; workflowId: string; phase?: string }, signal: AbortSignal) => Promise<void>;
}

/**
 * Writer/reader for an engine, stamping lineage: experiment, stage, producer, config, code.
 * The producer is the running activity's type unless `producer` names the step: an activity
 * that runs several steps (icrlvrScoreUpdate) stamps each step's artifacts with the type that
 * runs that step alone, so the same step writes the same bytes whichever activity ran it.
 */
export function artifactIO(deps: ActivityDeps, ctx: StageContext, producer = Context.current().info.activityType): ArtifactIO {
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
 * Returns the stage result (the engine's output under `outputName`) and the engine's whole
 * outcome, for the activity to report what else it needs.
 */
export async function runResumable<S extends BatchState, O extends StageOutcome = StageOutcome>(
  deps: ActivityDeps,
  engine: (hooks: LoopHooks<S>) => Promise<O>,
  outputName: string,
): Promise<{ result: StageResult; outcome: O }> {
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails as StageHeartbeat<S> | undefined;
  const { me, attempts } = startAttempt(deps, previous?.state?.nextBatch ?? 0);
  // first heartbeat at once: the attempt is on record even if this worker dies before a batch ends
  let last: StageHeartbeat<S> = { state: previous?.state ?? null, progress: previous?.progress ?? { done: 0, total: 0 }, attempts };
  let lastStateJson = previous?.state ? JSON.stringify(previous.state) : undefined;
  ctx.heartbeat(last);
  // and again every second while a long batch (or a step after the batches) runs (the engine yields to the event loop)
  const keepBeating = setInterval(() => ctx.heartbeat(last), 1000);
  try {
    const outcome = await engine({
      resume: previous?.state ?? undefined,
      signal: ctx.cancellationSignal,
      onProgress: async (state, done = state.nextBatch) => {
        if (deps.pace) await deps.pace(paceKey(ctx), ctx.cancellationSignal);
        me.lastHeartbeatAt = new Date().toISOString();
        me.batchesDone = done;
        // a copy (the JSON the heartbeat carries): the engine goes on changing `state` in the next
        // batch, and the timer above resends `last` meanwhile — a retry must resume from this batch
        // boundary, not a half-updated state
        const json = JSON.stringify(state);
        const changed = json !== lastStateJson;
        if (changed) lastStateJson = json;
        last = { state: changed ? (JSON.parse(json) as S) : last.state, progress: { done, total: state.batches }, attempts, ...(last.phase ? { phase: last.phase } : {}) };
        // a new resume state is heartbeated at once; a batch that only advanced the count (rollouts
        // between chunks) is left to the timer, within a second: each heartbeat costs the batch
        // its payload conversion (~0.2 ms, a few % of a small model's batch)
        if (changed) ctx.heartbeat(last);
      },
      paceAt: async (phase) => {
        if (deps.pace) await deps.pace({ ...paceKey(ctx), phase }, ctx.cancellationSignal);
      },
      phase: (name) => {
        last = { ...last, phase: name };
        ctx.heartbeat(last);
      },
    });
    const result: StageResult = {
      outputs: { [outputName]: outcome.output },
      resumedFromBatch: outcome.resumedFromBatch,
      batchesRun: outcome.batchesRun,
      batches: outcome.batches,
      attempts,
    };
    return { result, outcome };
  } finally {
    clearInterval(keepBeating);
  }
}

const paceKey = (ctx: Context) => ({ type: ctx.info.activityType, workflowId: ctx.info.workflowExecution?.workflowId ?? '' });

/** This attempt's record, appended to those the previous attempts' heartbeats carried. */
function startAttempt(deps: ActivityDeps, resumedFromBatch: number): { me: AttemptRecord; attempts: AttemptRecord[] } {
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails as { attempts?: AttemptRecord[] } | undefined;
  const me: AttemptRecord = { attempt: ctx.info.attempt, worker: deps.worker, startedAt: new Date().toISOString(), resumedFromBatch };
  return { me, attempts: [...(previous?.attempts ?? []), me] };
}

/** An error retrying cannot fix (permanentError) → non-retryable ApplicationFailure (type DlabInputError); anything else unchanged. */
export function asFailure(err: unknown): unknown {
  const input = permanentError(err);
  if (input) return ApplicationFailure.create({ message: input.message, type: input.name, nonRetryable: true, details: input.where ? [input.where] : [] });
  return err;
}

class InputErrorsAreFinal implements ActivityInboundCallsInterceptor {
  async execute(input: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[0], next: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[1]) {
    try {
      return await next(input);
    } catch (err) {
      throw asFailure(err);
    }
  }
}

/**
 * The worker's activity interceptor, the one rule for retries: wherever an activity throws an
 * error retrying cannot fix (the project's input and integrity errors, ONNX Runtime's errors for
 * inputs a model cannot take, allocations too large, ENOTDIR/EACCES on a path: permanentError),
 * the attempt fails non-retryably with a message naming the field, file or tensor. Anything else
 * (a server or store out of reach, a killed worker) is retried as the activity's policy says.
 */
export const inputErrorsAreFinal: ActivityInterceptorsFactory = () => ({ inbound: new InputErrorsAreFinal() });

/** What keepAlive hands a step that keeps resume state of its own (prepare's pretraining checkpoints). */
export interface SavedState<S extends BatchState> {
  /** the state the previous attempt last heartbeated, if any */
  resume?: S;
  /** heartbeats `state` now and with every later beat; then waits as fault tests pace a batch */
  save(state: S): Promise<void>;
}

/**
 * Heartbeats every second while a short step runs, so a dead worker is noticed within the
 * heartbeat timeout. The step reruns from its inputs on the next attempt (it is a pure function
 * of them, so a rerun gives the same bytes) — from the last state it `save`d, when it keeps one
 * (a small JSON state with artifact refs, as runResumable's). In a local activity (a bookkeeping
 * step the workflow runs with proxyLocalActivities) it does not heartbeat: local activities have
 * no heartbeats, a dead worker is noticed by the workflow task timing out. The attempt log and
 * the pacing of fault tests are the same either way.
 */
export async function keepAlive<T, S extends BatchState = BatchState>(
  deps: ActivityDeps,
  fn: (setProgress: (done: number, total: number) => void, saved: SavedState<S>) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  const previous = ctx.info.isLocal ? undefined : (ctx.info.heartbeatDetails as { state?: S } | undefined)?.state ?? undefined;
  const { me, attempts } = startAttempt(deps, previous?.nextBatch ?? 0);
  let progress: { done: number; total: number } | undefined;
  let state = previous;
  const beat = () => {
    me.lastHeartbeatAt = new Date().toISOString();
    if (!ctx.info.isLocal) ctx.heartbeat({ attempts, ...(progress ? { progress } : {}), ...(state ? { state } : {}) });
  };
  beat();
  const timer = setInterval(beat, 1000);
  const saved: SavedState<S> = {
    resume: previous,
    save: async (s) => {
      state = structuredClone(s); // as it is now: the caller may go on changing `s`
      me.batchesDone = s.nextBatch;
      beat();
      await deps.pace?.(paceKey(ctx), ctx.cancellationSignal);
    },
  };
  try {
    // progress (e.g. pretraining steps) rides on the next keep-alive beat: `dlab status` shows it
    const out = await fn((done, total) => void (progress = { done, total }), saved);
    await deps.pace?.(paceKey(ctx), ctx.cancellationSignal);
    // the attempt log goes into the result, which Temporal's history keeps
    return out && typeof out === 'object' ? { ...out, attempts } : out;
  } finally {
    clearInterval(timer);
  }
}

/**
 * The experiment config an activity received, validated again (a bad field is an input error).
 * `delayMs`, a test knob earlier configs carried, is dropped so that runs started with it finish.
 */
export function stageConfig<K extends ExperimentKind>(kind: K, input: StageContext & { config: unknown }): ReturnType<typeof parseConfig<K>> {
  const config = input.config;
  if (config && typeof config === 'object' && 'delayMs' in config) {
    const { delayMs: _dropped, ...rest } = config as Record<string, unknown>;
    return parseConfig(kind, rest, `experiment ${input.experimentId}`);
  }
  return parseConfig(kind, config, `experiment ${input.experimentId}`);
}

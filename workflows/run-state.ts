import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/common';
import type { Activities } from '../activities';
import { groupOf, QueueMap } from '../lib/queues';
import type { ArtifactRef } from '../lib/store/ref';
import type { NamedArtifact, RunStatus, RunStatusOf, StatusKind } from '../schemas/status';
import { DLAB_HEADLINE, DLAB_PAUSED, DLAB_STEP, HEADLINE_METRIC, SEARCH_ATTRIBUTES_PATCH } from './search-attributes';
import { localStepSummary, LOCAL_STEPS_PATCH } from './local-steps';

export type { NamedArtifact, RunStatus, RunStatusOf } from '../schemas/status';

export const statusQuery = defineQuery<RunStatus>('status');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');

/**
 * The state every experiment workflow keeps for its users: stage, step, artifacts, and
 * a pause flag honoured between stages. Registers the `status` query and the
 * `pause` / `resume` signals.
 */
export class RunTracker<K extends StatusKind> {
  private paused = false;
  /** Values last upserted as search attributes (only changes are upserted again). */
  private readonly published: { step?: number; headline?: number; paused?: boolean };
  readonly status: RunStatusOf<K>;

  constructor(kind: K, carried: { artifacts?: NamedArtifact[]; step?: number; totalSteps: number }) {
    this.status = {
      id: workflowInfo().workflowId,
      kind,
      state: 'running',
      stage: 'starting',
      step: carried.step ?? 0,
      progress: { done: carried.step ?? 0, total: carried.totalSteps },
      artifacts: carried.artifacts ?? [],
    };
    setHandler(statusQuery, () => ({ ...this.status, state: this.paused && this.status.state === 'running' ? 'paused' : this.status.state }) as RunStatus);
    setHandler(pauseSignal, () => {
      this.paused = true;
      this.publish();
    });
    setHandler(resumeSignal, () => {
      this.paused = false;
      this.publish();
    });
    const carriedOver = workflowInfo().typedSearchAttributes; // continue-as-new keeps them
    this.published = { step: carriedOver.get(DLAB_STEP), headline: carriedOver.get(DLAB_HEADLINE), paused: carriedOver.get(DLAB_PAUSED) };
    this.paused = this.published.paused ?? false; // a run paused when it continued as new stays paused
  }

  /** The run's headline metric now (see HEADLINE_METRIC), undefined before it has one. */
  private headline(): number | undefined {
    const name = HEADLINE_METRIC[this.status.kind];
    const metrics = this.status.metrics as Record<string, number | null | undefined> | undefined;
    const value = name === 'step' ? this.status.step : name ? metrics?.[name] : undefined;
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  }

  /**
   * Upserts DlabStep, DlabHeadline and DlabPaused where they changed, so `dlab runs` reads
   * them from the visibility store. Runs recorded before this existed replay without it.
   */
  private publish(): void {
    if (!patched(SEARCH_ATTRIBUTES_PATCH)) return;
    const updates: SearchAttributeUpdatePair[] = [];
    const headline = this.headline();
    if (this.status.step !== this.published.step) updates.push({ key: DLAB_STEP, value: (this.published.step = this.status.step) });
    if (headline !== undefined && headline !== this.published.headline) updates.push({ key: DLAB_HEADLINE, value: (this.published.headline = headline) });
    if (this.paused !== (this.published.paused ?? false)) updates.push({ key: DLAB_PAUSED, value: (this.published.paused = this.paused) });
    if (updates.length) upsertSearchAttributes(updates);
  }

  /** Waits while paused, then marks `stage` of `step` as current. */
  async enter(stage: string, step: number): Promise<void> {
    // only a paused run waits, and a cancelled one throws here as before (condition() rejects in a
    // cancelled scope); otherwise no promise: every promise a workflow creates costs the SDK a stack trace
    if (this.paused || CancellationScope.current().consideredCancelled) await condition(() => !this.paused);
    this.status.stage = stage;
    this.status.step = step;
    this.publish();
  }

  /** Marks a step as finished (for the run-level progress). */
  stepDone(step: number): void {
    this.status.progress = { done: step, total: this.status.progress.total };
  }

  /** Lists an artifact; with `latestOnly`, it replaces the earlier one of that name (keeps long runs' state small). */
  record(name: string, ref: ArtifactRef, latestOnly = false): void {
    if (latestOnly) this.status.artifacts = this.status.artifacts.filter((a) => a.name !== name);
    this.status.artifacts.push({ name, step: this.status.step, ...ref });
  }

  finish(): RunStatusOf<K> {
    this.status.state = 'completed';
    this.status.stage = 'done';
    this.publish();
    return { ...this.status };
  }
}

/**
 * Activities of a long stage: a worker silent for `heartbeatTimeoutSeconds` is presumed
 * dead and the attempt retried (from its last heartbeat); on cancel, the run closes only
 * after the running activity has stopped: no zombie work.
 */
export function stageActivities(heartbeatTimeoutSeconds: number, queues?: QueueMap) {
  return routedActivities(queues, {
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}

/** Activities of a short step: no resume state, but heartbeats (keep-alive) so a dead worker is noticed. */
export function shortActivities(heartbeatTimeoutSeconds: number, queues?: QueueMap) {
  return routedActivities(queues, {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
  });
}

/**
 * Activities with `options`, each scheduled on its group's task queue in the run's queue map
 * (lib/queues.ts); a group the map does not route runs on the workflow's own task queue, and
 * without a map every command is what it was before routing existed.
 */
export function routedActivities(queues: QueueMap | undefined, options: ActivityOptions): ReturnType<typeof proxyActivities<Activities>> {
  const own = proxyActivities<Activities>(options);
  if (!queues || !Object.values(queues).some(Boolean)) return own;
  const routed = new Map<string, ReturnType<typeof proxyActivities<Activities>>>();
  return new Proxy(own, {
    get(target, name, receiver) {
      const group = typeof name === 'string' ? groupOf(name) : undefined;
      const queue = group && queues[group];
      if (!queue) return Reflect.get(target, name, receiver);
      if (!routed.has(queue)) routed.set(queue, proxyActivities<Activities>({ ...options, taskQueue: queue }));
      return Reflect.get(routed.get(queue)!, name);
    },
  });
}

/**
 * A bookkeeping step as a local activity (docs/architecture.md "Local activities"): run by the
 * worker that runs the workflow task, its result recorded as a marker, no task-queue round trip.
 * Only for steps that take milliseconds, read small artifacts (no model, no embeddings), never
 * heartbeat and are pure functions of their inputs (a rerun after a lost workflow task writes the
 * same bytes). `stage` and the artifacts it reads go into the marker's summary for the audit trail.
 */
export function localStep(stage: string, inputs: string[]) {
  return proxyLocalActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
    summary: localStepSummary(stage, inputs),
  });
}

/** Whether this run runs its bookkeeping steps as local activities (every run started since LOCAL_STEPS_PATCH). */
export function localSteps(): boolean {
  return patched(LOCAL_STEPS_PATCH);
}

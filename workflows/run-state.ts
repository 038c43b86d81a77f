import { ActivityCancellationType, condition, defineQuery, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ArtifactRef } from '../lib/store/ref';

/** An artifact as a run lists it: which output of which step. */
export interface NamedArtifact extends ArtifactRef {
  name: string;
  step: number;
}

/** What the `status` query answers (the CLI adds live batch progress from heartbeats). */
export interface RunStatus {
  id: string;
  kind: string;
  state: 'running' | 'paused' | 'completed';
  stage: string;
  step: number;
  progress: { done: number; total: number };
  artifacts: NamedArtifact[];
  metrics?: Record<string, number | null>;
  /** experiment-specific results kept with the status (e.g. every evaluation of a training run) */
  results?: Record<string, unknown>;
}

export const statusQuery = defineQuery<RunStatus>('status');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');

/**
 * The state every experiment workflow keeps for its users: stage, step, artifacts, and
 * a pause flag honoured between stages. Registers the `status` query and the
 * `pause` / `resume` signals.
 */
export class RunTracker {
  private paused = false;
  readonly status: RunStatus;

  constructor(kind: string, carried: { artifacts?: NamedArtifact[]; step?: number; totalSteps: number }) {
    this.status = {
      id: workflowInfo().workflowId,
      kind,
      state: 'running',
      stage: 'starting',
      step: carried.step ?? 0,
      progress: { done: carried.step ?? 0, total: carried.totalSteps },
      artifacts: carried.artifacts ?? [],
    };
    setHandler(statusQuery, () => ({ ...this.status, state: this.paused && this.status.state === 'running' ? 'paused' : this.status.state }));
    setHandler(pauseSignal, () => void (this.paused = true));
    setHandler(resumeSignal, () => void (this.paused = false));
  }

  /** Waits while paused, then marks `stage` of `step` as current. */
  async enter(stage: string, step: number): Promise<void> {
    await condition(() => !this.paused);
    this.status.stage = stage;
    this.status.step = step;
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

  finish(): RunStatus {
    this.status.state = 'completed';
    this.status.stage = 'done';
    return { ...this.status };
  }
}

/**
 * Activities of a long stage: a worker silent for `heartbeatTimeoutSeconds` is presumed
 * dead and the attempt retried (from its last heartbeat); on cancel, the run closes only
 * after the running activity has stopped: no zombie work.
 */
export function stageActivities(heartbeatTimeoutSeconds: number) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}

/** Activities of a short step: no resume state, but heartbeats (keep-alive) so a dead worker is noticed. */
export function shortActivities(heartbeatTimeoutSeconds: number) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
  });
}

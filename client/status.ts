import { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { GoracsEvaluationRow, RunStatus, RunStatusOf, StatusKind } from '../schemas/status';
import type { ModeSummary } from '../lib/icrlvr/summary';
import type { StageHeartbeat } from '../activities/types';
import { completedOutputs, decodeFirst, fetchRunChain, RunState, stateOf } from './events';
import { runHistory } from './history';
import { waitingQueues, WaitingQueue } from './waiting';

/** `dlab status --json` of a run of kind K. */
export type StatusReportOf<K extends StatusKind> = Omit<RunStatusOf<K>, 'state' | 'results'> & {
  runId: string;
  state: RunState;
  /** batches of the running stage done / planned, from its activity's last heartbeat */
  stageProgress?: { done: number; total: number };
  /** running: work scheduled and not yet picked up, per task queue (client/waiting.ts); absent when nothing waits */
  waiting?: WaitingQueue[];
  /** experiments that evaluate (GORACS): one entry per method and seed, as `status.results.evaluation` */
  evaluation?: K extends 'goracs' ? GoracsEvaluationRow[] : never;
  /** a finished sweep: per (arm,) mode, means over seeds with intervals and the paired differences to rlvr, as `status.results.summary` */
  summary?: K extends 'icrlvr-sweep' ? ModeSummary[] : never;
  error?: string;
};

/** `dlab status --json`: {id, runId, kind, state, stage, step, progress, stageProgress?, waiting?, artifacts, metrics?, evaluation?, summary?, error?}; narrows on `kind`. */
export type StatusReport = { [K in StatusKind]: StatusReportOf<K> }[StatusKind];

const QUERY_TIMEOUT_MS = 4000;

/**
 * A run's status. Running: the workflow's `status` query plus live batch progress from
 * the pending activity's heartbeat. Completed: the workflow's result. Failed, cancelled,
 * or running with no worker to answer a query: rebuilt from the event history.
 */
export async function runStatus(client: Client, workflowId: string): Promise<StatusReport> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  const state = stateOf(desc);
  let base: RunStatus | undefined;
  if (state === 'completed') {
    base = await handle.result();
  } else if (state === 'running') {
    // a deadline, not a race: the call itself ends, so nothing retries behind our back
    base = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query<RunStatus>('status')).catch(() => undefined);
  }
  base ??= await statusFromHistory(client, desc);
  const { progress: stageProgress, phase } = heartbeatProgress(desc);
  const evaluation = base.kind === 'goracs' ? base.results?.evaluation : undefined;
  const summary = base.kind === 'icrlvr-sweep' ? base.results?.summary : undefined;
  const waiting = state === 'running' ? await waitingQueues(client, desc).catch(() => []) : [];
  return {
    id: workflowId,
    runId: desc.runId,
    kind: base.kind,
    state: state === 'running' && base.state === 'paused' ? 'paused' : state,
    // an activity that runs several parts of a step (icrlvrStep) names the one running now
    stage: state === 'running' && phase ? phase : base.stage,
    step: base.step,
    progress: base.progress,
    ...(stageProgress ? { stageProgress } : {}),
    ...(waiting.length ? { waiting } : {}),
    artifacts: base.artifacts,
    ...(base.metrics ? { metrics: base.metrics } : {}),
    ...(Array.isArray(evaluation) ? { evaluation } : {}),
    ...(Array.isArray(summary) ? { summary } : {}),
    ...(state === 'failed' || state === 'cancelled' ? { error: await closeReason(client, workflowId) } : {}),
  } as StatusReport;
}

function heartbeatProgress(desc: WorkflowExecutionDescription): { progress?: { done: number; total: number }; phase?: string } {
  for (const p of desc.raw.pendingActivities ?? []) {
    const beat = decodeFirst(p.heartbeatDetails) as StageHeartbeat<unknown> | undefined;
    if (beat?.progress) return { progress: beat.progress, phase: beat.phase };
  }
  return {};
}

/** Status from events alone: stage of the last activity, outputs of the completed ones. */
async function statusFromHistory(client: Client, desc: WorkflowExecutionDescription): Promise<RunStatus> {
  const history = await runHistory(client, desc.workflowId);
  const chain = await fetchRunChain(client, desc.workflowId);
  const last = history.entries[history.entries.length - 1];
  const done = history.entries.filter((e) => e.status === 'completed').length;
  return {
    id: desc.workflowId,
    kind: (desc.type === 'icrlvrSweep' ? 'icrlvr-sweep' : desc.type) as StatusKind,
    state: 'running',
    stage: last?.stage ?? 'starting',
    step: 0,
    progress: { done, total: done + (last && last.status !== 'completed' ? 1 : 0) },
    artifacts: completedOutputs(chain).map(({ name, ref }) => ({ name, step: 0, ...ref })),
  } as RunStatus;
}

async function closeReason(client: Client, workflowId: string): Promise<string | undefined> {
  const chain = await fetchRunChain(client, workflowId);
  const events = chain[chain.length - 1]?.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i];
    const failure = ev.workflowExecutionFailedEventAttributes?.failure;
    if (failure) return failure.cause?.message ? `${failure.message}: ${failure.cause.message}` : (failure.message ?? undefined);
    if (ev.workflowExecutionCanceledEventAttributes) return 'cancelled';
    if (ev.workflowExecutionTerminatedEventAttributes) return `terminated: ${ev.workflowExecutionTerminatedEventAttributes.reason ?? ''}`;
  }
  return undefined;
}

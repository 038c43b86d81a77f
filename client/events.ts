import { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { ArtifactRef } from '../lib/store/ref';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { LOCAL_ACTIVITY_MARKER, parseLocalStepSummary } from '../workflows/local-steps';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;
type Timestamp = { seconds?: unknown; nanos?: number | null } | null | undefined;

/** Decodes a Payloads field (first payload) with the default converter. */
export function decodeFirst(payloads: Payloads): unknown {
  const p = payloads?.payloads?.[0];
  return p ? defaultPayloadConverter.fromPayload(p) : undefined;
}

export function tsToIso(ts: Timestamp): string | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  const seconds = Number(String(ts.seconds));
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** Every run of a workflow id, first to latest, following continue-as-new. */
export async function fetchRunChain(client: Client, workflowId: string): Promise<{ runId: string; events: HistoryEvent[] }[]> {
  const latest = client.workflow.getHandle(workflowId);
  const desc = await latest.describe();
  const chain: { runId: string; events: HistoryEvent[] }[] = [];
  let runId: string | undefined = desc.runId;
  const seen = new Set<string>();
  while (runId && !seen.has(runId)) {
    seen.add(runId);
    const history: { events?: HistoryEvent[] | null } = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    chain.unshift({ runId, events });
    const started: HistoryEvent['workflowExecutionStartedEventAttributes'] = events[0]?.workflowExecutionStartedEventAttributes;
    runId = started?.continuedExecutionRunId || undefined;
  }
  return chain;
}

/** All `sha256` values of artifact refs found anywhere in a decoded payload. */
export function collectShas(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) collectShas(v, out);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.sha256 === 'string' && typeof o.schema === 'string') {
      if (!out.includes(o.sha256)) out.push(o.sha256);
      return out;
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'attempts') collectShas(v, out);
  }
  return out;
}

export type RunState = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

/** Temporal's execution status → the state dlab reports. */
export function stateOf(desc: Pick<WorkflowExecutionDescription, 'status'>): RunState {
  switch (desc.status.name) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
    case 'TERMINATED':
      return 'cancelled';
    case 'CONTINUED_AS_NEW': // only seen on an old run id; the chain goes on
      return 'running';
    default:
      return 'failed';
  }
}

/**
 * A local activity as its MarkerRecorded event tells it (docs/architecture.md "Local
 * activities"): Temporal records no scheduled/started events for one, only this marker, written
 * with the workflow task that saw it end. Its data: sequence number, activity id and type, the
 * last attempt; its result or failure; its summary (the
 * stage and input artifacts dlab puts there). The worker is the one that completed that
 * workflow task; the start of the attempt is known only from the attempt log of the result
 * (steps run under keepAlive carry one).
 */
export interface LocalActivityRecord {
  eventId: string;
  activityType: string;
  activityId: string;
  attempt: number;
  /**
   * When the marker was recorded (server clock): the end of the workflow task that ran it, just
   * after the step itself. Not the marker's own complete_time: that one, on this SDK, runs
   * behind the worker's clock (200 no-op local activities a worker ran in 2.2 s span 0.2 s there).
   */
  completedAt: string | null;
  worker: string | null;
  /** undefined for a failed one */
  result: unknown;
  failure?: string;
  stage: string;
  inputs: string[];
}

interface LocalActivityMarkerData {
  seq?: number;
  attempt?: number;
  activity_id?: string;
  activity_type?: string;
}

/** The local activities of one run's events, in the order their markers were recorded. */
export function localActivities(events: HistoryEvent[]): LocalActivityRecord[] {
  const workers = new Map<string, string | null>();
  const out: LocalActivityRecord[] = [];
  for (const ev of events) {
    if (ev.workflowTaskCompletedEventAttributes) workers.set(String(ev.eventId), ev.workflowTaskCompletedEventAttributes.identity || null);
    const m = ev.markerRecordedEventAttributes;
    if (!m || m.markerName !== LOCAL_ACTIVITY_MARKER) continue;
    const data = (decodeFirst(m.details?.data) ?? {}) as LocalActivityMarkerData;
    const summary = decodeFirst(ev.userMetadata?.summary ? { payloads: [ev.userMetadata.summary] } : undefined);
    const type = data.activity_type ?? '?';
    const { stage, inputs } = typeof summary === 'string' ? parseLocalStepSummary(summary) : { stage: type, inputs: [] };
    out.push({
      eventId: String(ev.eventId),
      activityType: type,
      activityId: data.activity_id ?? String(data.seq ?? '?'),
      attempt: data.attempt ?? 1,
      completedAt: tsToIso(ev.eventTime),
      worker: workers.get(String(m.workflowTaskCompletedEventId)) ?? null,
      result: m.failure ? undefined : decodeFirst(m.details?.result),
      failure: m.failure ? (m.failure.message ?? 'failed') : undefined,
      stage,
      inputs,
    });
  }
  return out;
}

/** The results of a run's completed activities, regular and local, in history order. */
function completedResults(events: HistoryEvent[]): unknown[] {
  const local = new Map(localActivities(events).map((l) => [l.eventId, l]));
  const out: unknown[] = [];
  for (const ev of events) {
    if (ev.activityTaskCompletedEventAttributes) out.push(decodeFirst(ev.activityTaskCompletedEventAttributes.result));
    else if (local.has(String(ev.eventId))) out.push(local.get(String(ev.eventId))!.result);
  }
  return out;
}

/** Every artifact a run's completed activities (local ones too) returned (`outputs` of their results), in order. */
export function completedOutputs(chain: { events: HistoryEvent[] }[]): { name: string; ref: ArtifactRef }[] {
  const out: { name: string; ref: ArtifactRef }[] = [];
  for (const { events } of chain) {
    for (const r of completedResults(events)) {
      const result = r as { outputs?: Record<string, ArtifactRef> } | undefined;
      for (const [name, ref] of Object.entries(result?.outputs ?? {})) out.push({ name, ref });
    }
  }
  return out;
}

/**
 * The models a run's activities reported using (`modelDir` in their results: the directory on
 * that worker, with `modelSha256` its address in the artifact store when the run stored it), in order.
 */
export function modelsUsed(chain: { events: HistoryEvent[] }[]): { dir: string; sha256?: string }[] {
  const out: { dir: string; sha256?: string }[] = [];
  for (const { events } of chain) {
    for (const r of completedResults(events)) {
      const result = r as { modelDir?: unknown; modelSha256?: unknown } | undefined;
      if (typeof result?.modelDir !== 'string') continue;
      const sha256 = typeof result.modelSha256 === 'string' ? result.modelSha256 : undefined;
      if (!out.some((m) => m.dir === result.modelDir && m.sha256 === sha256)) out.push({ dir: result.modelDir, ...(sha256 ? { sha256 } : {}) });
    }
  }
  return out;
}

/** Workflow ids of the child workflows a run started (a sweep's runs), in the order they started. */
export function childWorkflowIds(chain: { events: HistoryEvent[] }[]): string[] {
  const ids: string[] = [];
  for (const { events } of chain) {
    for (const ev of events) {
      const id = ev.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (id && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

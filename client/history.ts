import { Client } from '@temporalio/client';
import type { AttemptRecord } from '../activities/types';
import type { ActivityAttempt } from '../lib/report/run';
import { childWorkflowIds, collectShas, decodeFirst, fetchRunChain, HistoryEvent, localActivities, LocalActivityRecord, tsToIso } from './events';

export interface RunHistory {
  id: string;
  entries: ActivityAttempt[];
}

interface ScheduledActivity {
  runId: string;
  activity: string;
  stage: string;
  inputs: string[];
  started?: temporalStarted;
}
type temporalStarted = NonNullable<HistoryEvent['activityTaskStartedEventAttributes']> & { time: string | null };

/**
 * The audit trail of a run: one entry per activity attempt, failed attempts included,
 * built from Temporal's event history (every run of the continue-as-new chain) and, for
 * an activity still running, from the server's view of it. Attempts before the last one
 * are not events of their own in Temporal's history: their worker, start and last
 * heartbeat come from the attempt log resumable stages carry in their heartbeats (and so in
 * their results), their failure from the last attempt's `lastFailure`. Attempts of child
 * workflows (the runs of a sweep) are included, tagged with their workflow id.
 */
export async function runHistory(client: Client, workflowId: string): Promise<RunHistory> {
  const chain = await fetchRunChain(client, workflowId);
  const entries: ActivityAttempt[] = [];
  for (const { runId, events } of chain) {
    const scheduled = new Map<string, ScheduledActivity>();
    const locals = new Map(localActivities(events).map((l) => [l.eventId, l]));
    for (const ev of events) {
      const id = String(ev.eventId);
      const time = tsToIso(ev.eventTime);
      const local = locals.get(id);
      if (local) {
        pushLocal(entries, runId, local);
      } else if (ev.activityTaskScheduledEventAttributes) {
        const a = ev.activityTaskScheduledEventAttributes;
        const input = decodeFirst(a.input) as { stage?: string } | undefined;
        scheduled.set(id, { runId, activity: a.activityType?.name ?? '?', stage: input?.stage ?? a.activityType?.name ?? '?', inputs: collectShas(input) });
      } else if (ev.activityTaskStartedEventAttributes) {
        const a = ev.activityTaskStartedEventAttributes;
        const s = scheduled.get(String(a.scheduledEventId));
        if (s) s.started = { ...a, time } as temporalStarted;
      } else if (ev.activityTaskCompletedEventAttributes) {
        const a = ev.activityTaskCompletedEventAttributes;
        const result = decodeFirst(a.result) as { attempts?: AttemptRecord[] } | undefined;
        pushAttempts(entries, scheduled.get(String(a.scheduledEventId)), 'completed', time, collectShas(result), result?.attempts);
      } else if (ev.activityTaskFailedEventAttributes) {
        const a = ev.activityTaskFailedEventAttributes;
        pushAttempts(entries, scheduled.get(String(a.scheduledEventId)), 'failed', time, [], undefined, a.failure?.message ?? undefined);
      } else if (ev.activityTaskTimedOutEventAttributes) {
        const a = ev.activityTaskTimedOutEventAttributes;
        // a heartbeat timeout keeps the last heartbeat, and with it the attempt log
        const beat = decodeFirst(a.failure?.timeoutFailureInfo?.lastHeartbeatDetails ?? a.failure?.cause?.timeoutFailureInfo?.lastHeartbeatDetails) as { attempts?: AttemptRecord[] } | undefined;
        pushAttempts(entries, scheduled.get(String(a.scheduledEventId)), 'timed_out', time, [], beat?.attempts, a.failure?.message ?? undefined);
      } else if (ev.activityTaskCanceledEventAttributes) {
        const a = ev.activityTaskCanceledEventAttributes;
        pushAttempts(entries, scheduled.get(String(a.scheduledEventId)), 'cancelled', time, []);
      }
    }
  }
  await appendPending(client, workflowId, chain[chain.length - 1], entries);
  // a sweep's runs are child workflows: their attempts first (they run before the comparison)
  const children: ActivityAttempt[] = [];
  for (const child of childWorkflowIds(chain)) {
    for (const e of (await runHistory(client, child)).entries) children.push({ ...e, workflowId: e.workflowId ?? child });
  }
  return { id: workflowId, entries: [...children, ...entries] };
}

function pushAttempts(
  entries: ActivityAttempt[],
  s: ScheduledActivity | undefined,
  status: ActivityAttempt['status'],
  endedAt: string | null,
  outputs: string[],
  log?: AttemptRecord[],
  error?: string,
): void {
  if (!s) return;
  const startedAt = s.started?.time ?? null;
  const attempt = s.started?.attempt ?? 1;
  const base = { runId: s.runId, stage: s.stage, activity: s.activity, inputs: s.inputs };
  entries.push(...earlierAttempts(base, attempt, log, s.started?.lastFailure?.message));
  entries.push({
    ...base,
    attempt,
    startedAt,
    endedAt,
    durationMs: spanMs(startedAt, endedAt),
    status,
    worker: s.started?.identity ?? null,
    resumedFromBatch: log?.find((r) => r.attempt === attempt)?.resumedFromBatch,
    error,
    outputs,
  });
}

/**
 * The entry of a local activity (a bookkeeping step: docs/architecture.md "Local activities")
 * from its marker: stage and inputs from its summary, worker from the workflow task that
 * recorded it, start from the attempt log in its result (null where the step keeps none, e.g.
 * icrlvrPlan). Attempts before the last are listed without details: a local activity retries
 * inside the worker and only its last attempt is recorded.
 */
function pushLocal(entries: ActivityAttempt[], runId: string, l: LocalActivityRecord): void {
  const base: EntryBase = { runId, stage: l.stage, activity: l.activityType, inputs: l.inputs };
  const log = (l.result as { attempts?: AttemptRecord[] } | undefined)?.attempts;
  const mine = Array.isArray(log) ? log.find((r) => r.attempt === l.attempt) : undefined;
  entries.push(...earlierAttempts(base, l.attempt, undefined, undefined));
  const startedAt = mine?.startedAt ?? null;
  entries.push({
    ...base,
    attempt: l.attempt,
    startedAt,
    endedAt: l.completedAt,
    durationMs: spanMs(startedAt, l.completedAt),
    status: l.failure === undefined ? 'completed' : 'failed',
    worker: l.worker ?? mine?.worker ?? null,
    error: l.failure,
    outputs: l.failure === undefined ? collectShas(l.result) : [],
  });
}

/** endedAt − startedAt in ms, null unless both are known. */
function spanMs(startedAt: string | null, endedAt: string | null): number | null {
  return startedAt && endedAt ? Date.parse(endedAt) - Date.parse(startedAt) : null;
}

type EntryBase = Pick<ActivityAttempt, 'runId' | 'stage' | 'activity' | 'inputs'>;

/** Entries for attempts 1 … last−1, from the attempt log where the stage kept one. */
function earlierAttempts(base: EntryBase, last: number, log: AttemptRecord[] | undefined, lastFailure: string | null | undefined): ActivityAttempt[] {
  const out: ActivityAttempt[] = [];
  for (let attempt = 1; attempt < last; attempt++) {
    const rec = log?.find((r) => r.attempt === attempt);
    const startedAt = rec?.startedAt ?? null;
    const endedAt = rec?.lastHeartbeatAt ?? null;
    out.push({
      ...base,
      attempt,
      startedAt,
      endedAt,
      durationMs: spanMs(startedAt, endedAt),
      status: 'failed',
      worker: rec?.worker ?? null,
      resumedFromBatch: rec?.resumedFromBatch,
      error: attempt === last - 1 ? (lastFailure ?? undefined) : undefined,
      outputs: [],
    });
  }
  return out;
}

/** Attempts of activities still running (not yet in the event history). */
async function appendPending(client: Client, workflowId: string, latest: { runId: string; events: HistoryEvent[] } | undefined, entries: ActivityAttempt[]) {
  if (!latest) return;
  const desc = await client.workflow.getHandle(workflowId, latest.runId).describe();
  // the server may still list activities of a run that has closed: they will never finish
  const closed = desc.status.name !== 'RUNNING' ? { at: desc.closeTime?.toISOString() ?? null, how: desc.status.name.toLowerCase() } : undefined;
  const scheduled = new Map<string, { stage: string; inputs: string[] }>();
  for (const ev of latest.events) {
    const a = ev.activityTaskScheduledEventAttributes;
    if (a) {
      const input = decodeFirst(a.input) as { stage?: string } | undefined;
      scheduled.set(a.activityId ?? '', { stage: input?.stage ?? a.activityType?.name ?? '?', inputs: collectShas(input) });
    }
  }
  for (const p of desc.raw.pendingActivities ?? []) {
    const info = scheduled.get(p.activityId ?? '');
    const base: EntryBase = { runId: latest.runId, stage: info?.stage ?? '?', activity: p.activityType?.name ?? '?', inputs: info?.inputs ?? [] };
    const log = (decodeFirst(p.heartbeatDetails) as { attempts?: AttemptRecord[] } | undefined)?.attempts;
    const attempt = p.attempt ?? 1;
    const startedAt = tsToIso(p.lastStartedTime);
    entries.push(...earlierAttempts(base, attempt, log, p.lastFailure?.message));
    const endedAt = closed ? closed.at : null;
    entries.push({
      ...base,
      attempt,
      startedAt,
      endedAt,
      durationMs: startedAt ? (endedAt ? Date.parse(endedAt) : Date.now()) - Date.parse(startedAt) : null,
      status: closed ? 'abandoned' : 'running',
      worker: p.lastWorkerIdentity || null,
      resumedFromBatch: log?.find((r) => r.attempt === attempt)?.resumedFromBatch,
      ...(closed ? { error: `the run ${closed.how} while this attempt ran` } : {}),
      outputs: [],
    });
  }
}

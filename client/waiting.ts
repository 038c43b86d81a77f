import { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ActivityGroup, groupOf, QueueMap, queueOf } from '../lib/queues';
import { decodeFirst, tsToIso } from './events';

/**
 * Work of a run that is scheduled but not picked up, per task queue: the activities (or the
 * workflow task) waiting there, since when, and how many workers poll that queue now. A queue
 * with `pollers: 0` has no worker: the run waits for one (`dlab worker --serve …`).
 */
export interface WaitingQueue {
  taskQueue: string;
  /** 'workflow' for the workflow task, else the activity groups waiting there */
  kind: 'workflow' | 'activity';
  groups: ActivityGroup[];
  /** activity types waiting (with how many of each), or the workflow type */
  waiting: { type: string; count: number }[];
  /** the oldest waiting item's scheduled time, and seconds since */
  since: string;
  waitingSeconds: number;
  /** the highest attempt among them */
  attempt: number;
  /** workers polling that queue for this kind of task now (DescribeTaskQueue) */
  pollers: number;
  /** whether the run's queue map routes it (the queue is not the workflow's own) */
  routed: boolean;
  /** the run it belongs to, when not the one asked about (a sweep's child) */
  workflowId?: string;
}

const { PendingActivityState, PendingWorkflowTaskState, TaskQueueType } = temporal.api.enums.v1;

/** The run's queue map, from the input of its (current run's) first event; undefined when it routes nothing. */
async function runQueues(client: Client, desc: WorkflowExecutionDescription): Promise<QueueMap | undefined> {
  const h = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: desc.workflowId, runId: desc.runId },
    maximumPageSize: 1,
  });
  const input = decodeFirst(h.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input) as { queues?: QueueMap } | undefined;
  return input?.queues;
}

async function pollerCount(client: Client, taskQueue: string, type: 'workflow' | 'activity'): Promise<number> {
  const d = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (d.pollers ?? []).length;
}

/**
 * What a running run waits for: its pending activities not yet started (grouped by the task
 * queue the run's queue map puts them on) and a workflow task not yet picked up; for a sweep,
 * its running children's too. Empty when nothing waits.
 */
export async function waitingQueues(client: Client, desc: WorkflowExecutionDescription, now = Date.now(), depth = 0): Promise<WaitingQueue[]> {
  const out = new Map<string, WaitingQueue>();
  const add = (key: string, q: Omit<WaitingQueue, 'waiting' | 'groups' | 'attempt' | 'since' | 'waitingSeconds' | 'pollers' | 'routed'>, type: string, group: ActivityGroup | undefined, sinceMs: number, attempt: number) => {
    const w = out.get(key) ?? out.set(key, { ...q, groups: [], waiting: [], since: new Date(sinceMs).toISOString(), waitingSeconds: 0, attempt: 0, pollers: 0, routed: q.taskQueue !== desc.taskQueue }).get(key)!;
    if (group && !w.groups.includes(group)) w.groups.push(group);
    const t = w.waiting.find((x) => x.type === type);
    if (t) t.count++;
    else w.waiting.push({ type, count: 1 });
    if (sinceMs < Date.parse(w.since)) w.since = new Date(sinceMs).toISOString();
    w.attempt = Math.max(w.attempt, attempt);
  };
  const other = depth > 0 ? { workflowId: desc.workflowId } : {};
  const wft = desc.raw.pendingWorkflowTask;
  if (wft && wft.state === PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED) {
    const since = Date.parse(tsToIso(wft.originalScheduledTime ?? wft.scheduledTime) ?? new Date(now).toISOString());
    add(`w:${desc.taskQueue}`, { taskQueue: desc.taskQueue, kind: 'workflow', ...other }, desc.type, undefined, since, wft.attempt ?? 1);
  }
  // scheduled and due: an attempt in its retry backoff (next attempt later) waits for the clock, not for a worker
  const due = (p: { nextAttemptScheduleTime?: Parameters<typeof tsToIso>[0] }) => Date.parse(tsToIso(p.nextAttemptScheduleTime) ?? new Date(now).toISOString()) <= now;
  const scheduled = (desc.raw.pendingActivities ?? []).filter((p) => p.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED && due(p));
  if (scheduled.length) {
    const queues = await runQueues(client, desc).catch(() => undefined);
    for (const p of scheduled) {
      const type = p.activityType?.name ?? '?';
      const group = groupOf(type);
      const taskQueue = group ? queueOf(queues, group, desc.taskQueue) : desc.taskQueue;
      const since = Date.parse(tsToIso(p.scheduledTime) ?? new Date(now).toISOString());
      add(`a:${taskQueue}`, { taskQueue, kind: 'activity', ...other }, type, group, since, p.attempt ?? 1);
    }
  }
  const result = [...out.values()];
  for (const w of result) {
    w.waitingSeconds = Math.max(0, Math.round((now - Date.parse(w.since)) / 1000));
    w.pollers = await pollerCount(client, w.taskQueue, w.kind).catch(() => -1);
  }
  if (depth === 0) {
    for (const child of desc.raw.pendingChildren ?? []) {
      if (!child.workflowId) continue;
      const d = await client.workflow.getHandle(child.workflowId, child.runId ?? undefined).describe().catch(() => undefined);
      if (d && d.status.name === 'RUNNING') result.push(...(await waitingQueues(client, d, now, 1)));
    }
  }
  return result;
}

/** One line per waiting queue, for `dlab status`. */
export function formatWaiting(w: WaitingQueue): string {
  const what = w.waiting.map((t) => (t.count > 1 ? `${t.type} ×${t.count}` : t.type)).join(', ');
  const groups = w.kind === 'workflow' ? 'workflow task' : w.groups.join(', ') || 'activities';
  const env = w.kind === 'workflow' ? `DLAB_TASK_QUEUE=${w.taskQueue} ` : w.routed ? `DLAB_QUEUES=${w.groups.map((g) => `${g}=${w.taskQueue}`).join(',')} ` : '';
  const who = w.pollers === 0 ? `no worker polls it — start one: ${env}dlab worker --serve ${w.kind === 'workflow' ? 'workflows' : w.groups.join(',')}` : w.pollers > 0 ? `${w.pollers} poller${w.pollers === 1 ? '' : 's'} (busy)` : 'pollers unknown';
  return `${what} (${groups}) on task queue "${w.taskQueue}" for ${w.waitingSeconds} s, attempt ${w.attempt}${w.workflowId ? ` [${w.workflowId}]` : ''}: ${who}`;
}

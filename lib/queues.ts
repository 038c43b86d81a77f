/**
 * Task-queue routing (docs/architecture.md "Activity groups and task queues"). Every activity
 * type belongs to one group, by what it needs; each group's activities are scheduled on the
 * group's task queue. Imported by workflow code: types only, no I/O.
 */
import type { Activities } from '../activities';
import { DlabInputError } from './errors';

export const ACTIVITY_GROUPS = ['inference', 'training', 'solver', 'bookkeeping'] as const;
export type ActivityGroup = (typeof ACTIVITY_GROUPS)[number];

/** What a worker can serve: the workflows (their tasks, and the local activities they run), and activity groups. */
export const WORKER_ROLES = ['workflows', ...ACTIVITY_GROUPS] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

/**
 * The group of every activity type of workflows/*.ts:
 * - inference: the model forward passes — rollouts, scoring, gradient embedding, evaluation
 *   (GORACS's evaluation fine-tunes a head on embeddings, then ranks with the model), the
 *   smoke run's ONNX MLP;
 * - training: what changes weights — the RL update, the warm start, and In-Context RLVR's
 *   prepare (it pretrains the built model when the config has `pretrain`);
 * - solver: CPU optimal-transport work — GORACS's cost matrix and greedy start, refinement
 *   (one activity, per label class, or chunk by chunk) and the refinement's write-out, which
 *   re-solves the final coreset;
 * - bookkeeping: milliseconds of CPU on small artifacts — plans, comparison tables, GORACS's
 *   prepare (builds the model directory, checks and writes the samples), the smoke run's
 *   generate and summarise, the benchmark's no-op.
 * icrlvrPlan, icrlvrCompare and goracsCompare are local activities wherever the patched code
 * executes them ('local-bookkeeping-steps'): those run on the worker that runs the workflow task
 * (the `workflows` role), whatever the bookkeeping queue; only steps replayed from older
 * histories were scheduled on it.
 */
export const ACTIVITY_GROUP = {
  smokeGenerate: 'bookkeeping',
  smokeTransform: 'inference',
  smokeSummarise: 'bookkeeping',
  icrlvrPrepare: 'training',
  icrlvrWarmStart: 'training',
  icrlvrPlan: 'bookkeeping',
  icrlvrRollout: 'inference',
  icrlvrScore: 'inference',
  icrlvrUpdate: 'training',
  icrlvrScoreUpdate: 'training',
  icrlvrStep: 'training',
  icrlvrEvaluate: 'inference',
  icrlvrCompare: 'bookkeeping',
  goracsPrepare: 'bookkeeping',
  goracsEmbed: 'inference',
  goracsInit: 'solver',
  goracsRefine: 'solver',
  goracsRefineLabelEnhanced: 'solver',
  goracsRefineStart: 'solver',
  goracsRefineChunk: 'solver',
  goracsRefineWrite: 'solver',
  goracsEvaluate: 'inference',
  goracsCompare: 'bookkeeping',
  noop: 'bookkeeping',
} as const satisfies Record<keyof Activities, ActivityGroup>;

export type ActivityType = keyof typeof ACTIVITY_GROUP;

/** Activity types a workflow may run as local activities (on the workflow's worker). */
export const LOCAL_ACTIVITY_TYPES: readonly ActivityType[] = ['icrlvrPlan', 'icrlvrCompare', 'goracsCompare', 'noop'];

/**
 * A run's task queue per group, for the groups routed away from the run's own task queue (a
 * group not listed runs on the workflow's task queue). Fixed when the run starts — it is part
 * of the workflow input, and handed on by continue-as-new and to child workflows — so a worker
 * started later with other settings cannot change a running workflow's commands.
 */
export type QueueMap = Partial<Record<ActivityGroup, string>>;

export function isActivityGroup(s: string): s is ActivityGroup {
  return (ACTIVITY_GROUPS as readonly string[]).includes(s);
}

export function groupOf(activityType: string): ActivityGroup | undefined {
  return (ACTIVITY_GROUP as Record<string, ActivityGroup>)[activityType];
}

/** The task queue of a group in a run: its routed queue, else the workflow's own. */
export function queueOf(queues: QueueMap | undefined, group: ActivityGroup, workflowQueue: string): string {
  return queues?.[group] || workflowQueue;
}

/**
 * `DLAB_QUEUES` (e.g. "inference=gpu-q,training=gpu-q"): group=queue pairs, comma-separated.
 * An unknown group, a pair without "=" or an empty queue is an input error naming it.
 */
export function parseQueueMap(text: string | undefined, where = 'DLAB_QUEUES'): QueueMap {
  const map: QueueMap = {};
  for (const pair of (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const at = pair.indexOf('=');
    const group = at < 0 ? pair : pair.slice(0, at).trim();
    const queue = at < 0 ? '' : pair.slice(at + 1).trim();
    if (!isActivityGroup(group)) throw new DlabInputError(`${where}: unknown activity group "${group}" in "${pair}" (expected group=queue with group one of: ${ACTIVITY_GROUPS.join(', ')})`, where);
    if (!queue || /\s/.test(queue)) throw new DlabInputError(`${where}: "${pair}" needs a task queue name without spaces after "="`, where);
    if (map[group] !== undefined && map[group] !== queue) throw new DlabInputError(`${where}: group "${group}" is given two queues (${map[group]}, ${queue})`, where);
    map[group] = queue;
  }
  return map;
}

/** The routed groups only: a group on the workflow's own queue is left out (the run's input then is what it was before routing existed). */
export function routedQueues(map: QueueMap, workflowQueue: string): QueueMap {
  return Object.fromEntries(Object.entries(map).filter(([, q]) => q && q !== workflowQueue)) as QueueMap;
}

/** `--serve` (e.g. "workflows,inference"): a list of worker roles, or "all". */
export function parseRoles(text: string, where = '--serve'): WorkerRole[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'all') return [...WORKER_ROLES];
  if (!items.length) throw new DlabInputError(`${where}: expected a comma-separated list of ${WORKER_ROLES.join(', ')} (or "all")`, where);
  for (const r of items) {
    if (!(WORKER_ROLES as readonly string[]).includes(r)) throw new DlabInputError(`${where}: unknown role "${r}" (expected any of: ${WORKER_ROLES.join(', ')}, or "all")`, where);
  }
  return WORKER_ROLES.filter((r) => items.includes(r));
}

/** What one task queue of a worker serves: workflows or not, and which activity groups. */
export interface QueuePlan {
  queue: string;
  workflows: boolean;
  groups: ActivityGroup[];
}

/**
 * The task queues a worker serving `roles` polls, each with what it serves there. Refused (an
 * input error) when the worker would poll a queue for activities of groups it does not serve:
 * a task of any group on that queue can reach it, and it could not run it.
 */
export function planQueues(roles: readonly WorkerRole[], map: QueueMap, workflowQueue: string): QueuePlan[] {
  const plans = new Map<string, QueuePlan>();
  const plan = (queue: string) => plans.get(queue) ?? plans.set(queue, { queue, workflows: false, groups: [] }).get(queue)!;
  if (roles.includes('workflows')) plan(workflowQueue).workflows = true;
  for (const g of ACTIVITY_GROUPS) if (roles.includes(g)) plan(queueOf(map, g, workflowQueue)).groups.push(g);
  for (const p of plans.values()) {
    if (!p.groups.length) continue;
    const sharing = ACTIVITY_GROUPS.filter((g) => queueOf(map, g, workflowQueue) === p.queue);
    const missing = sharing.filter((g) => !p.groups.includes(g));
    if (missing.length) {
      throw new DlabInputError(
        `--serve: groups ${sharing.join(', ')} share task queue "${p.queue}"; a worker polling it for ${p.groups.join(', ')} would get ${missing.join(', ')} tasks too. ` +
          `Serve ${missing.join(', ')} as well, or route the groups apart with DLAB_QUEUES (e.g. DLAB_QUEUES=${p.groups.map((g) => `${g}=${g}-q`).join(',')})`,
        '--serve',
      );
    }
  }
  return [...plans.values()];
}

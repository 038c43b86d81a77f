import { existsSync, readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { NativeConnection, Runtime, Worker, DefaultLogger, bundleWorkflowCode, ActivityInterceptorsFactory, TLSConfig } from '@temporalio/worker';
import { createActivities } from '../activities';
import { ActivityDeps, inputErrorsAreFinal } from '../activities/resumable';
import { storeFromEnv } from '../lib/store/from-env';
import { ACTIVITY_GROUP, LOCAL_ACTIVITY_TYPES, planQueues, QueueMap, QueuePlan, WORKER_ROLES, WorkerRole } from '../lib/queues';
import { bindMetrics } from '../lib/metrics';
import { exporterError, prometheusTelemetry, timeActivities } from './metrics';

export const DEFAULT_TASK_QUEUE = 'dlab';
export const WORKFLOWS_PATH = require.resolve('../workflows');
/** Written by `npm run build` (scripts/bundle-workflows): workers start without re-bundling. */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

export interface WorkerOptions {
  address: string;
  namespace?: string;
  taskQueue?: string;
  dlabHome: string;
  /** activities this worker runs at once (default 2: one per core here) */
  maxConcurrentActivities?: number;
  identity?: string;
  /** TLS: true for system roots, or the options client/connection.ts tlsOptions builds (mTLS client pair) */
  tls?: boolean | TLSConfig;
  apiKey?: string;
  /** awaited after each batch and short step (fault tests only: see ActivityDeps.pace) */
  pace?: ActivityDeps['pace'];
  /** activity interceptors after dlab's own (benchmarks time activities with one; `dlab worker` sets none) */
  activityInterceptors?: ActivityInterceptorsFactory[];
}

/** The prebuilt bundle, unless some compiled workflow file is newer than it (then bundle on start). */
function bundleIsFresh(): boolean {
  if (!existsSync(WORKFLOW_BUNDLE_PATH)) return false;
  const built = statSync(WORKFLOW_BUNDLE_PATH).mtimeMs;
  const dir = dirname(WORKFLOWS_PATH);
  return readdirSync(dir).every((f) => !f.endsWith('.js') || statSync(join(dir, f)).mtimeMs <= built);
}

let runtimeInstalled: { metrics?: string } | undefined;

/**
 * Quiet logs unless DLAB_LOG_LEVEL says otherwise; with `metrics` (an IP:PORT), a Prometheus
 * exporter there serving Temporal's series and dlab's (lib/metrics.ts). Installed once per
 * process: a second call is a no-op, unless it asks for an exporter the first did not set up.
 */
export function installRuntime(opts: { metrics?: string } = {}): void {
  if (runtimeInstalled) {
    if (opts.metrics !== undefined && opts.metrics !== runtimeInstalled.metrics) throw new Error(`the Temporal runtime is already installed ${runtimeInstalled.metrics ? `with metrics on ${runtimeInstalled.metrics}` : 'without metrics'}`);
    return;
  }
  const level = (process.env.DLAB_LOG_LEVEL ?? 'WARN').toUpperCase() as 'WARN';
  try {
    Runtime.install({ logger: new DefaultLogger(level), ...(opts.metrics ? { telemetryOptions: prometheusTelemetry(opts.metrics) } : {}) });
  } catch (err) {
    throw opts.metrics ? exporterError(err, opts.metrics) : err;
  }
  runtimeInstalled = { metrics: opts.metrics };
  if (opts.metrics) bindMetrics(Runtime.instance().metricMeter);
}

/**
 * dlab's activity interceptors: the duration of each attempt (timeActivities, a no-op without a
 * metrics exporter) and the one rule for retries (inputErrorsAreFinal), for regular and local
 * activities alike — Temporal's worker runs both through the same interceptor chain.
 */
export const DLAB_ACTIVITY_INTERCEPTORS: ActivityInterceptorsFactory[] = [timeActivities, inputErrorsAreFinal];

/**
 * A worker for every dlab workflow and activity, on one task queue (tests, benchmarks, the demo).
 * It does not poll routed queues: runs started with a queue map need createWorkers.
 */
export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  installRuntime();
  const store = storeFromEnv(resolve(opts.dlabHome)); // a bad DLAB_STORE is an input error before any connection
  const connection = await NativeConnection.connect({ address: opts.address, tls: opts.tls, apiKey: opts.apiKey });
  const identity = opts.identity ?? `${process.pid}@${hostname()}`;
  const dlabHome = resolve(opts.dlabHome);
  return Worker.create({
    connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    identity,
    ...(bundleIsFresh() ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ store, modelsDir: join(dlabHome, 'models'), worker: identity, pace: opts.pace }),
    interceptors: { activity: [...DLAB_ACTIVITY_INTERCEPTORS, ...(opts.activityInterceptors ?? [])] },
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 2,
    // heartbeats reach the server at least every second: a crash loses at most ~1 s of
    // batches, and `dlab status` shows batch progress at most ~1 s old
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
  });
}

export interface ServeOptions extends WorkerOptions {
  /** what this process serves (default: everything) */
  serve?: readonly WorkerRole[];
  /** task queue per activity group (DLAB_QUEUES); a group not listed is on `taskQueue` */
  queues?: QueueMap;
}

/** The Temporal workers of one `dlab worker` process: one per task queue it polls. */
export interface DlabWorkers {
  identity: string;
  plans: QueuePlan[];
  workers: Worker[];
  /** runs every worker until all have shut down (SIGINT/SIGTERM shut them all down) */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * Workers for `roles` (lib/queues.ts): one per task queue they poll. The worker on the
 * workflow queue runs the workflows and the local activities they start, and polls that queue
 * for activities only when it also serves a group routed there; a worker on a group's queue
 * registers only the activities of the groups it serves there (planQueues refuses a queue
 * shared with a group it does not serve).
 */
export async function createWorkers(opts: ServeOptions): Promise<DlabWorkers> {
  installRuntime();
  const workflowQueue = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
  const plans = planQueues(opts.serve ?? WORKER_ROLES, opts.queues ?? {}, workflowQueue);
  const dlabHome = resolve(opts.dlabHome);
  const store = storeFromEnv(dlabHome); // a bad DLAB_STORE is an input error before any connection
  const connection = await NativeConnection.connect({ address: opts.address, tls: opts.tls, apiKey: opts.apiKey });
  const identity = opts.identity ?? `${process.pid}@${hostname()}`;
  const all = createActivities({ store, modelsDir: join(dlabHome, 'models'), worker: identity, pace: opts.pace });
  const workers: Worker[] = [];
  const shutdown = () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown());
  for (const plan of plans) {
    const types = (Object.keys(all) as (keyof typeof all)[]).filter(
      (t) => (plan.groups as string[]).includes(ACTIVITY_GROUP[t]) || (plan.workflows && LOCAL_ACTIVITY_TYPES.includes(t)),
    );
    workers.push(
      await Worker.create({
        connection,
        namespace: opts.namespace ?? 'default',
        taskQueue: plan.queue,
        identity,
        ...(plan.workflows ? (bundleIsFresh() ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }) : {}),
        activities: Object.fromEntries(types.map((t) => [t, all[t]])),
        enableNonLocalActivities: plan.groups.length > 0,
        interceptors: { activity: [...DLAB_ACTIVITY_INTERCEPTORS, ...(opts.activityInterceptors ?? [])] },
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 2,
        maxHeartbeatThrottleInterval: '1 second',
        defaultHeartbeatThrottleInterval: '1 second',
      }),
    );
  }
  return {
    identity,
    plans,
    workers,
    run: async () => {
      // one worker failing stops the others: the process serves all its roles or none
      const results = await Promise.allSettled(workers.map((w) => w.run().catch((err: unknown) => (shutdown(), Promise.reject(err)))));
      await connection.close().catch(() => undefined);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    shutdown,
  };
}

/** Bundles the workflow code once (webpack); workers then load the bundle. */
export async function writeWorkflowBundle(path = WORKFLOW_BUNDLE_PATH): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path, code);
}

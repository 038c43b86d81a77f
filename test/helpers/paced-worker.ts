// A `dlab worker` for fault tests: the same worker, with stages slowed down so that a test can
// kill it in the middle of one. DLAB_TEST_PACE is a JSON map from a workflow id or an activity
// type ("*" for any other) to the milliseconds to wait after each batch of a resumable stage and
// at the end of each short step run under keepAlive — the local bookkeeping steps too
// (icrlvrCompare, goracsCompare; there the wait is inside the workflow task that runs them;
// icrlvrPlan is never paced); a key "type:phase" waits where that activity names the phase
// (LoopHooks.paceAt: "icrlvrStep:update", after a step's update, before the activity returns).
// Only this test entry point reads it; the product's worker has no
// such knob (nor DLAB_TEST_MAX_CONCURRENT: `dlab worker --max-concurrent` is its option).
import { hostname } from 'node:os';
import { createWorker } from '../../workers/worker';
import { dlabHome, taskQueue } from '../../cli/env';

const pace = JSON.parse(process.env.DLAB_TEST_PACE ?? '{}') as Record<string, number>;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function main() {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const worker = await createWorker({
    address,
    taskQueue: taskQueue(),
    dlabHome: dlabHome(),
    identity: `${process.pid}@${hostname()}`,
    // DLAB_TEST_MAX_CONCURRENT: fewer slots, so that several test workers share a stage's activities
    ...(process.env.DLAB_TEST_MAX_CONCURRENT ? { maxConcurrentActivities: Number(process.env.DLAB_TEST_MAX_CONCURRENT) } : {}),
    pace: async (activity, signal) => {
      // a named phase waits only when the map names it ("icrlvrStep:update")
      const ms = activity.phase !== undefined ? (pace[`${activity.type}:${activity.phase}`] ?? 0) : (pace[activity.workflowId] ?? pace[activity.type] ?? pace['*'] ?? 0);
      if (ms > 0) await sleep(ms, signal);
    },
  });
  // the line TestCluster.startWorker waits for, as `dlab worker` prints it
  process.stderr.write(`dlab worker ${worker.options.identity} on ${address} queue "${worker.options.taskQueue}" (paced ${JSON.stringify(pace)})\n`);
  await worker.run();
}

main().catch((err) => {
  process.stderr.write(`paced worker: ${(err as Error).stack}\n`);
  process.exit(1);
});

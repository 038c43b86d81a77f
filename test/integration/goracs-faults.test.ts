import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { decodeFirst, fetchRunChain } from '../../client/events';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import { StatusReport } from '../../client/status';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { fileOfUri } from '../../lib/store/artifact-store';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { historyToObject } from '../helpers/histories';
import { TestCluster, WorkerProcess } from '../helpers/cluster';

/**
 * GORACS under a worker SIGKILL during refinement: the retried refinement resumes from its
 * last heartbeat (the accepted swaps so far, replayed as warm-started solves) and the final
 * coreset and POO trace are byte-identical to an uninterrupted run's. Both runs use the id
 * `goracs-fault` and the same config (the id and config are part of each artifact's lineage).
 */
const ID = 'goracs-fault';
const CONFIG = {
  seed: 1,
  budget: 20,
  maxIters: 6,
  cutNum: 5,
  model: { build: { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 150, valUsers: 40, testUsers: 40, seed: 3 },
  evaluation: { enabled: false },
  embedShards: 2,
  batchSize: 32,
  heartbeatTimeoutSeconds: 3,
  delayMs: 1500, // each accepted swap is followed by 1.5 s: long enough to kill the worker mid-refinement
};

interface RefineBeat {
  state?: { nextBatch?: number } | null;
}

/** Waits until the running goracsRefine attempt has heartbeated at least `swaps` accepted swaps; returns that count. */
async function waitForRefineProgress(client: Client, swaps: number): Promise<number> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const desc = await client.workflow.getHandle(ID).describe();
    for (const p of desc.raw.pendingActivities ?? []) {
      if (p.activityType?.name !== 'goracsRefine' || !p.heartbeatDetails) continue;
      const beat = decodeFirst(p.heartbeatDetails) as RefineBeat | undefined;
      const done = beat?.state?.nextBatch ?? 0;
      if (done >= swaps) return done;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`goracsRefine did not report ${swaps} accepted swaps`);
}

const artifact = (s: StatusReport, name: string) => s.artifacts.find((a) => a.name === name)!;

describe('GORACS workflow under a worker SIGKILL during refinement (real dev server)', function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  let reference: StatusReport;
  const recorded: { name: string; workflowId: string; history: temporal.api.history.v1.History }[] = [];

  async function record(name: string) {
    for (const { runId, events } of await fetchRunChain(await cluster.client(), ID)) {
      recorded.push({ name, workflowId: `${ID}/${runId}`, history: temporal.api.history.v1.History.create({ events }) });
    }
  }

  before(async () => {
    cluster = await TestCluster.start();
    const w = await cluster.startWorker(cluster.home('ref'), 'ref');
    await startExperiment(await cluster.client(), { kind: 'goracs', config: CONFIG, id: ID, taskQueue: 'ref' });
    reference = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await w.stop();
    await record('uninterrupted');
  });
  after(async () => cluster?.stop());

  it('the uninterrupted run accepts at least 2 swaps (so a kill can land after one)', () => {
    assert.equal(reference.state, 'completed', JSON.stringify(reference));
    assert.ok(reference.metrics!.swapsAccepted! >= 2, `swaps accepted: ${reference.metrics!.swapsAccepted}`);
  });

  it('a worker killed after the 1st accepted swap: refinement resumes from its heartbeat, same coreset and trace bytes', async () => {
    const home = cluster.home('fault');
    const client = await cluster.client();
    let worker: WorkerProcess = await cluster.startWorker(home, 'fault');
    await startExperiment(client, { kind: 'goracs', config: CONFIG, id: ID, taskQueue: 'fault' });
    const beforeKill = await waitForRefineProgress(client, 1);
    const killed = worker.identity;
    await worker.kill();
    worker = await cluster.startWorker(home, 'fault');
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await worker.stop();
    assert.equal(final.state, 'completed', JSON.stringify(final));

    for (const name of ['coreset', 'poo-trace', 'greedy-coreset']) {
      assert.equal(artifact(final, name).sha256, artifact(reference, name).sha256, name);
      assert.ok(readFileSync(fileOfUri(artifact(final, name).uri)).equals(readFileSync(fileOfUri(artifact(reference, name).uri))), `${name}: bytes differ`);
    }
    for (const k of ['pooInitial', 'poo', 'swapsAccepted', 'selected'] as const) assert.equal(final.metrics![k], reference.metrics![k], `metrics.${k}`);

    const { entries } = await runHistory(client, ID);
    const refines = entries.filter((e) => e.activity === 'goracsRefine');
    assert.ok(refines.some((e) => e.status === 'failed' && e.worker === killed), 'a refinement attempt died with the killed worker');
    const completed = refines.filter((e) => e.status === 'completed');
    assert.equal(completed.length, 1);
    assert.ok(completed[0].resumedFromBatch! >= beforeKill, `resumed from swap ${completed[0].resumedFromBatch}, the heartbeat before the kill had ${beforeKill}`);
    assert.ok(completed[0].resumedFromBatch! >= 1, 'not from zero');
    await record('worker-killed');
  });

  it('both histories replay against the current workflow code', async () => {
    installRuntime();
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, recorded)) results.push(r);
    assert.equal(results.length, recorded.length);
    assert.deepEqual(results.map((r) => r.error?.message), recorded.map(() => undefined));
    if (process.env.DLAB_RECORD_HISTORIES) {
      recorded.forEach((h, i) =>
        writeFileSync(join(PACKAGE_ROOT, 'test', 'histories', `goracs-${String(i).padStart(2, '0')}-${h.name}.json`), JSON.stringify(historyToObject(h.history))),
      );
    }
  });
});

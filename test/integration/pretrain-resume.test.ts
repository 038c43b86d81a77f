import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { decodeFirst } from '../../client/events';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import { fileOfUri } from '../../lib/store/artifact-store';
import { META } from '../../lib/store/ref';
import { TestCluster, TestStatus } from '../helpers/cluster';

/**
 * In-Context RLVR's prepare pretrains the toy model; a worker SIGKILLed in the middle of
 * pretraining (after its first checkpoint) must cost only the steps since the last checkpoint:
 * the retried prepare reads the checkpoint its heartbeat names and continues from there, and the
 * pretrained model, the pretraining checkpoints and the run's final checkpoint are the bytes of
 * an uninterrupted run.
 */
const ID = 'pretrain-fault';
const CONFIG = {
  mode: 'icrlvr',
  seed: 5,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 16, heldOutQuestions: 4, demoPool: 6 },
  pretrain: { steps: 24, batchSize: 8, checkpointEvery: 6 },
  steps: 1,
  questionsPerStep: 2,
  groupSize: 2,
  demosPerGroup: 1,
  egDemos: 1,
  maxTokens: 8,
  dynamicSampling: false,
  evalEvery: 1,
  evalSamples: 1,
  rolloutShards: 1,
  batchSize: 2,
  heartbeatTimeoutSeconds: 3,
};

/** the fault run's worker waits 1.5 s after each pretraining checkpoint (and at the end of prepare) */
const PACE = { icrlvrPrepare: 1500 };

/** Files of a home's pretrained model directory, by name. */
function pretrainedModel(home: string): { dir: string; files: Map<string, Buffer> } {
  const dirs = readdirSync(join(home, 'models')).filter((d) => d.startsWith('pretrained-'));
  assert.equal(dirs.length, 1, JSON.stringify(dirs));
  const dir = join(home, 'models', dirs[0]);
  return { dir: dirs[0], files: new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))])) };
}

/** sha256s of the pretraining checkpoints in a home's local store. */
function pretrainCheckpoints(home: string): string[] {
  const objects = join(home, 'artifacts', 'objects');
  const out: string[] = [];
  for (const d of readdirSync(objects)) {
    for (const f of readdirSync(join(objects, d))) {
      if (tableFromIPC(readFileSync(join(objects, d, f))).schema.metadata.get(META.schema) === 'model.pretrain-checkpoint@1') out.push(f.replace(/\.arrow$/, ''));
    }
  }
  return out.sort();
}

describe('pretraining resumes from its checkpoint (real dev server, worker SIGKILLed mid-pretraining)', function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  let reference: TestStatus;

  before(async () => {
    cluster = await TestCluster.start();
    const w = await cluster.startWorker(cluster.home('ref'), 'ref');
    await startExperiment(await cluster.client(), { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'ref', rerun: true });
    reference = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await w.stop();
  });
  after(async () => cluster?.stop());

  it('a worker killed after a pretraining checkpoint: the retried prepare resumes from it; same model, checkpoints and final bytes', async () => {
    assert.equal(reference.state, 'completed', JSON.stringify(reference));
    assert.equal(pretrainCheckpoints(cluster.home('ref')).length, 3, 'checkpoints after steps 6, 12 and 18');
    const home = cluster.home('fault');
    const client = await cluster.client();
    let worker = await cluster.startWorker(home, 'fault', PACE);
    await startExperiment(client, { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'fault', rerun: true });
    // the prepare attempt's heartbeat names a checkpoint: kill its worker
    let beat: { state?: { nextBatch: number; checkpoint: { sha256: string } } } | undefined;
    const deadline = Date.now() + 120_000;
    while (!beat?.state && Date.now() < deadline) {
      const desc = await client.workflow.getHandle(ID).describe();
      const p = (desc.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'icrlvrPrepare' && a.heartbeatDetails);
      beat = p ? (decodeFirst(p.heartbeatDetails!) as typeof beat) : undefined;
      if (!beat?.state) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(beat?.state && beat.state.nextBatch >= 6 && beat.state.nextBatch < 24, `a checkpoint heartbeated mid-pretraining: ${JSON.stringify(beat?.state)}`);
    const killed = worker.identity;
    await worker.kill();
    worker = await cluster.startWorker(home, 'fault', PACE);
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await worker.stop();
    assert.equal(final.state, 'completed', JSON.stringify(final));

    const { entries } = await runHistory(client, ID);
    const prepares = entries.filter((e) => e.activity === 'icrlvrPrepare');
    assert.ok(prepares.some((e) => e.status !== 'completed' && e.worker === killed), `a prepare attempt died with the killed worker: ${JSON.stringify(prepares)}`);
    const done = prepares.find((e) => e.status === 'completed')!;
    assert.ok(done.attempt >= 2 && (done.resumedFromBatch ?? 0) >= beat.state.nextBatch, `the retried prepare resumed at step ${done.resumedFromBatch} (heartbeat at ${beat.state.nextBatch})`);
    console.log(`      killed at checkpoint step ${beat.state.nextBatch}; attempt ${done.attempt} resumed from step ${done.resumedFromBatch} of 24`);

    const ref = pretrainedModel(cluster.home('ref'));
    const got = pretrainedModel(home);
    assert.equal(got.dir, ref.dir);
    assert.deepEqual([...got.files.keys()].sort(), [...ref.files.keys()].sort());
    for (const [f, bytes] of ref.files) assert.ok(got.files.get(f)!.equals(bytes), `${ref.dir}/${f} byte-identical`);
    assert.deepEqual(pretrainCheckpoints(home), pretrainCheckpoints(cluster.home('ref')), 'the same pretraining checkpoints, byte for byte');
    const ckpt = (s: TestStatus) => s.artifacts.find((a) => a.name === 'checkpoint')!;
    assert.equal(ckpt(final).sha256, ckpt(reference).sha256);
    assert.ok(readFileSync(fileOfUri(ckpt(final).uri)).equals(readFileSync(fileOfUri(ckpt(reference).uri))));
  });
});

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { decodeFirst, fetchRunChain } from '../../client/events';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { historyToObject } from '../helpers/histories';
import { Client } from '@temporalio/client';
import { runHistory } from '../../client/history';
import { runStatus } from '../../client/status';
import { startExperiment } from '../../client/start';
import { fileOfUri } from '../../lib/store/artifact-store';
import { TestCluster, WorkerProcess, TestStatus } from '../helpers/cluster';

/**
 * In-Context RLVR end to end on a real dev server: a tiny model and task, 3 steps, training
 * the head (the default) and every weight (`trainable: "full"`).
 * Killing the worker during a rollout and during an update must not change a byte of the
 * final policy: the retried rollout resumes from its heartbeat, the retried update reruns
 * on the same inputs, and the workflow moves its checkpoint only after an update returned.
 */
const HEAD_CONFIG = {
  mode: 'icrlvr',
  seed: 3,
  model: { build: { vocab: 104, dModel: 64, nLayer: 1, nHead: 4, dFf: 128, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 30, heldOutQuestions: 8, demoPool: 10 },
  warmStart: { steps: 20, batchSize: 16, lr: 0.01 },
  steps: 3,
  questionsPerStep: 4,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 16,
  dynamicSampling: false,
  epochs: 4,
  evalEvery: 3,
  evalSamples: 2,
  rolloutShards: 2,
  batchSize: 2,
  heartbeatTimeoutSeconds: 3,
  continueAsNewEvery: 2,
};

/** a heartbeat's resume state, and the phase it names (icrlvrStep) */
type BeatState = { nextBatch?: number; rounds?: unknown[]; phase?: string };
/**
 * Waits until an activity of `type` is running for the current run and has heartbeaten (polled
 * from the server): its first heartbeat (the attempt's record: which worker), or with `resumable`
 * a heartbeat whose resume state names a finished batch (one in a chunk artifact), or one whose
 * resume state passes `resumable` when it is a function.
 */
async function waitForRunning(client: Client, id: string, type: string, step: number, cluster: TestCluster, resumable: boolean | ((state: BeatState) => boolean) = false): Promise<void> {
  await cluster.waitFor(id, (s: TestStatus) => s.step >= step, 120_000);
  const deadline = Date.now() + 120_000;
  const until = typeof resumable === 'function' ? resumable : resumable ? (st: BeatState) => (st.nextBatch ?? 0) > 0 : () => true;
  const beat = (p: { heartbeatDetails?: unknown }) => {
    if (!p.heartbeatDetails) return false;
    const details = decodeFirst(p.heartbeatDetails as never) as { state?: BeatState; phase?: string };
    return until({ ...(details.state ?? {}), phase: details.phase });
  };
  while (Date.now() < deadline) {
    const desc = await client.workflow.getHandle(id).describe();
    if ((desc.raw.pendingActivities ?? []).some((p) => p.activityType?.name === type && Number(p.state) === 2 /* STARTED */ && beat(p))) return;
    await new Promise((r) => setTimeout(r, 40));
  }
  throw new Error(`no ${type} started`);
}

/**
 * The fault run's worker waits 1.1 s after each generation batch (4 a shard), so a rollout writes a
 * chunk after its second and third batches (chunks at most once a second: lib/icrlvr/engine.ts),
 * and 1.6 s at the end of each scoring + update step, after the new checkpoint is written: long
 * enough to be killed in the middle of either.
 */
const PACE = { icrlvrRollout: 1100, icrlvrScoreUpdate: 1600 };

/** The same run training every weight: warm start and updates through the TypeScript backward pass, rollouts on the rebuilt backbone. */
const FULL_CONFIG = { ...HEAD_CONFIG, trainable: 'full' };

for (const [trainable, ID, CONFIG] of [['head', 'icrlvr-fault', HEAD_CONFIG], ['full', 'icrlvr-fault-full', FULL_CONFIG]] as const) describe(`In-Context RLVR workflow, trainable "${trainable}" (real dev server, worker SIGKILLs)`, function () {
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

  it('runs prepare → warm start → 3 × (rollout → scoring + update) with evaluations, and reports the metrics', () => {
    assert.equal(reference.state, 'completed', JSON.stringify(reference));
    assert.equal(reference.step, 3);
    const m = reference.metrics!;
    for (const k of ['step', 'heldOutAccuracy', 'initialHeldOutAccuracy', 'passAtK', 'rewardMean', 'egCorrectMean', 'egIncorrectMean', 'processScoreCorrect']) assert.ok(k in m, `metrics.${k}`);
    assert.equal(m.step, 3);
    assert.ok(m.heldOutAccuracy! >= 0 && m.heldOutAccuracy! <= 1);
    const names = reference.artifacts.map((a) => a.name);
    for (const n of ['questions', 'demos', 'warm-checkpoint', 'scored', 'checkpoint', 'eval']) assert.ok(names.includes(n), `artifact ${n}`);
    assert.equal(reference.artifacts.find((a) => a.name === 'checkpoint')!.schema, trainable === 'full' ? 'policy.full-checkpoint@1' : 'policy.checkpoint@1');
  });

  if (trainable === 'full') {
    it('rolls out each step on the backbone of its checkpoint: one model directory per checkpoint, each with other backbone weights', async () => {
      const models = join(cluster.home('ref'), 'models');
      const dirs = readdirSync(models).filter((d) => d.startsWith('policy-'));
      // warm-start checkpoint (steps 1 and the step-0 evaluation), after steps 1 and 2 (rollouts), after step 3 (evaluation)
      assert.equal(dirs.length, 4, dirs.join(', '));
      const base = readdirSync(models).filter((d) => d.startsWith('built-'));
      const backbones = new Set([...dirs, ...base].map((d) => JSON.parse(readFileSync(join(models, d, 'model.json'), 'utf8')).sha256.backbone));
      assert.equal(backbones.size, dirs.length + base.length, 'every checkpoint has its own backbone, none the initial one');
      for (const name of ['warm-checkpoint', 'checkpoint']) {
        const sha = reference.artifacts.find((a) => a.name === name)!.sha256;
        assert.ok(dirs.includes(`policy-${sha.slice(0, 32)}`), `the ${name}'s model directory`);
      }
    });
  }

  it('a worker killed during a rollout and another during an update: same final checkpoint bytes, rollout resumed, update rerun', async () => {
    const home = cluster.home('fault');
    const client = await cluster.client();
    let worker: WorkerProcess = await cluster.startWorker(home, 'fault', PACE);
    await startExperiment(client, { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'fault', rerun: true });
    await waitForRunning(client, ID, 'icrlvrRollout', 2, cluster, true);
    const killed1 = worker.identity;
    await worker.kill();
    worker = await cluster.startWorker(home, 'fault', PACE);
    await waitForRunning(client, ID, 'icrlvrScoreUpdate', 3, cluster);
    const killed2 = worker.identity;
    await worker.kill();
    worker = await cluster.startWorker(home, 'fault', PACE);
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    assert.equal(final.state, 'completed');

    const ckpt = (s: TestStatus) => s.artifacts.find((a) => a.name === 'checkpoint')!;
    assert.equal(ckpt(final).sha256, ckpt(reference).sha256);
    assert.ok(readFileSync(fileOfUri(ckpt(final).uri)).equals(readFileSync(fileOfUri(ckpt(reference).uri))));

    const { entries } = await runHistory(client, ID);
    const failed = entries.filter((e) => e.status === 'failed');
    assert.ok(failed.some((e) => e.activity === 'icrlvrRollout' && e.worker === killed1), 'a rollout attempt died with the first worker');
    assert.ok(entries.some((e) => e.activity === 'icrlvrRollout' && e.status === 'completed' && e.attempt > 1 && (e.resumedFromBatch ?? 0) > 0), 'a retried rollout resumed from a chunk');
    assert.ok(failed.some((e) => e.activity === 'icrlvrScoreUpdate' && e.worker === killed2), 'a scoring + update attempt died with the second worker');
    assert.ok(!entries.some((e) => e.activity === 'icrlvrScore' || e.activity === 'icrlvrUpdate'), 'scoring and update ran as one activity');
    const updates = entries.filter((e) => e.activity === 'icrlvrScoreUpdate' && e.status === 'completed');
    assert.equal(updates.length, 3, 'exactly one completed update per step: none lost, none applied twice');
    await worker.stop();
  });

  it('continues as new after 2 steps, and its histories replay against the current workflow code', async () => {
    const client = await cluster.client();
    const chain = await fetchRunChain(client, ID);
    assert.equal(chain.length, 2, 'steps 1–2 in the first run, step 3 in the second');
    installRuntime();
    const histories = chain.map(({ runId, events }) => ({ workflowId: `${ID}/${runId}`, history: temporal.api.history.v1.History.create({ events }) }));
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, histories)) assert.equal(r.error, undefined, String(r.error));
    if (process.env.DLAB_RECORD_HISTORIES && trainable === 'head') {
      // icrlvr-00/01 hold runs from before the bookkeeping steps became local activities, icrlvr-02/03
      // from before scoring and update became one activity (the unpatched branches)
      histories.forEach((h, i) => writeFileSync(join(PACKAGE_ROOT, 'test', 'histories', `icrlvr-${String(i + 4).padStart(2, '0')}-faults-score-update.json`), JSON.stringify(historyToObject(h.history))));
    }
  });
  it('with one rollout shard a step is one activity (icrlvrStep): killed mid-rollout it resumes from a chunk, killed after its scoring it reruns only the update; same checkpoint bytes, and the metrics of the two-shard run', async () => {
    const id = 'icrlvr-step-fault';
    const config = { ...CONFIG, rolloutShards: 1 };
    const client = await cluster.client();
    const ref = await cluster.startWorker(cluster.home('ref1'), 'ref1');
    await startExperiment(client, { kind: 'icrlvr', config, id, taskQueue: 'ref1', rerun: true });
    const oneShard = await cluster.waitFor(id, (s) => s.state !== 'running', 300_000);
    await ref.stop();
    assert.equal(oneShard.state, 'completed', JSON.stringify(oneShard));
    // the same rollouts, scores and updates as with two shards (RNG streams by coordinates); only the lineage differs
    assert.deepEqual(oneShard.metrics, reference.metrics);
    const results = (s: TestStatus) => (s as { results?: unknown }).results;
    assert.deepEqual(results(oneShard), results(reference));

    const home = cluster.home('fault1');
    // after each of a step's 8 generation batches and after its scoring; 3 s after its update, before it
    // returns (longer than the heartbeat throttle, 0.8 × heartbeatTimeoutSeconds: the server has the
    // after-scoring state by then)
    const pace = { icrlvrStep: 1100, 'icrlvrStep:update': 3000 };
    let worker: WorkerProcess = await cluster.startWorker(home, 'fault1', pace);
    await startExperiment(client, { kind: 'icrlvr', config, id, taskQueue: 'fault1', rerun: true });
    const killed: string[] = [];
    // step 2: in the middle of its rollout (a batch in a chunk); step 3: after its scoring (the round
    // done), in its update — which `dlab status` names as the stage
    for (const [step, until] of [[2, true], [3, (st: BeatState) => (st.rounds?.length ?? 0) > 0 && st.phase === 'update']] as const) {
      await waitForRunning(client, id, 'icrlvrStep', step, cluster, until);
      const status = await runStatus(client, id);
      assert.equal(status.stage, step === 2 ? 'rollout' : 'update', JSON.stringify(status.stageProgress));
      killed.push(worker.identity);
      await worker.kill();
      worker = await cluster.startWorker(home, 'fault1', pace);
    }
    const final = await cluster.waitFor(id, (s) => s.state !== 'running', 300_000);
    assert.equal(final.state, 'completed');
    const ckpt = (s: TestStatus) => s.artifacts.find((a) => a.name === 'checkpoint')!;
    assert.equal(ckpt(final).sha256, ckpt(oneShard).sha256);
    assert.ok(readFileSync(fileOfUri(ckpt(final).uri)).equals(readFileSync(fileOfUri(ckpt(oneShard).uri))));
    assert.deepEqual(final.metrics, oneShard.metrics);

    const { entries } = await runHistory(client, id);
    for (const w of killed) assert.ok(entries.some((e) => e.activity === 'icrlvrStep' && e.status === 'failed' && e.worker === w), `a step attempt died with worker ${w}`);
    assert.equal(entries.filter((e) => e.activity === 'icrlvrStep' && e.status === 'completed').length, 3, 'one completed step activity per step');
    // what the retried attempts did, from the step activities' results in the history
    const chainEvents = (await fetchRunChain(client, id)).flatMap((r) => r.events);
    const stepType = new Map(chainEvents.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]));
    const retried = chainEvents
      .filter((e) => e.activityTaskCompletedEventAttributes && stepType.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === 'icrlvrStep')
      .map((e) => decodeFirst(e.activityTaskCompletedEventAttributes!.result as never) as { attempts: unknown[]; resumedFromBatch: number; batchesRun: number; batches: number })
      .filter((r) => r.attempts.length > 1);
    assert.equal(retried.length, 2, 'two steps were retried');
    assert.ok(retried[0].resumedFromBatch > 0 && retried[0].batchesRun < retried[0].batches, `step 2 resumed its rollout from a chunk: ${JSON.stringify(retried[0])}`);
    assert.equal(retried[1].batchesRun, 0, `step 3's retry generated nothing (its round was done): ${JSON.stringify(retried[1])}`);
    assert.ok(!entries.some((e) => ['icrlvrRollout', 'icrlvrScore', 'icrlvrUpdate', 'icrlvrScoreUpdate'].includes(e.activity)));
    await worker.stop();

    // its histories (continued as new after step 2) replay against the current workflow code
    const chain = await fetchRunChain(client, id);
    const histories = chain.map(({ runId, events }) => ({ workflowId: `${id}/${runId}`, history: temporal.api.history.v1.History.create({ events }) }));
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, histories)) assert.equal(r.error, undefined, String(r.error));
    if (process.env.DLAB_RECORD_HISTORIES && trainable === 'head') {
      histories.forEach((h, i) => writeFileSync(join(PACKAGE_ROOT, 'test', 'histories', `icrlvr-${String(i + 6).padStart(2, '0')}-faults-step-activity.json`), JSON.stringify(historyToObject(h.history))));
    }
  });
});


import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { fetchRunChain, HistoryEvent } from '../../client/events';
import { startExperiment } from '../../client/start';
import { fileOfUri } from '../../lib/store/artifact-store';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { dlab, TestCluster, TestStatus } from '../helpers/cluster';

/**
 * Routed task queues end to end: an In-Context RLVR run whose inference and training groups are
 * on their own queue, served by a second worker process; the first serves the workflows,
 * bookkeeping and solver. While only the first runs, `dlab status` names the queue the run waits
 * on; once the second starts, the run completes with the artifacts (byte for byte) of the same
 * run on one worker serving everything.
 */
const ID = 'icrlvr-routed';
const CONFIG = {
  mode: 'icrlvr',
  seed: 4,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 20, heldOutQuestions: 6, demoPool: 8 },
  warmStart: { steps: 6, batchSize: 8, lr: 0.01 },
  steps: 3,
  questionsPerStep: 3,
  groupSize: 3,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 12,
  dynamicSampling: false,
  epochs: 2,
  evalEvery: 3,
  evalSamples: 2,
  rolloutShards: 2,
  batchSize: 4,
  heartbeatTimeoutSeconds: 10,
  continueAsNewEvery: 2,
};
const QUEUES = 'inference=routed-gpu,training=routed-gpu';
const GORACS = {
  seed: 1,
  budget: 12,
  maxIters: 3,
  cutNum: 3,
  model: { build: { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 80, valUsers: 24, testUsers: 24, seed: 3 },
  evaluation: { methods: ['goracs', 'random'], seeds: [0], epochs: 2, negatives: 20 },
  embedShards: 2,
  swapChunk: 4,
  batchSize: 32,
  heartbeatTimeoutSeconds: 10,
};

const scheduledQueues = (events: HistoryEvent[]) =>
  events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [`${e.activityTaskScheduledEventAttributes.activityType?.name}@${e.activityTaskScheduledEventAttributes.taskQueue?.name}`] : []));

describe('routed task queues (two workers serving disjoint groups, real dev server)', function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  let reference: TestStatus;

  before(async () => {
    cluster = await TestCluster.start();
    const w = await cluster.startWorker(cluster.home('one'), 'one');
    await startExperiment(await cluster.client(), { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'one' });
    reference = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    await w.stop();
  });
  after(async () => cluster?.stop());

  it('status names the queue without a worker; a worker for it finishes the run with the single-worker artifacts, byte for byte', async () => {
    assert.equal(reference.state, 'completed', JSON.stringify(reference));
    const home = cluster.home('two');
    const env = { ...cluster.env(home, 'two'), DLAB_QUEUES: QUEUES };
    await cluster.startWorker(home, 'two', undefined, { args: ['--serve', 'workflows,bookkeeping,solver'], env });
    await startExperiment(await cluster.client(), { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'two', queues: { inference: 'routed-gpu', training: 'routed-gpu' }, rerun: true });

    // prepare is a training step: it waits on routed-gpu, which nobody polls yet
    const waiting = await cluster.waitFor(ID, (s) => (s.waiting ?? []).some((w) => w.taskQueue === 'routed-gpu' && w.pollers === 0 && w.waitingSeconds >= 2), 60_000);
    const w = waiting.waiting!.find((x) => x.taskQueue === 'routed-gpu')!;
    assert.deepEqual(w.groups, ['training']);
    assert.deepEqual(w.waiting, [{ type: 'icrlvrPrepare', count: 1 }]);
    assert.equal(w.routed, true);
    const text = await dlab(['status', ID], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /waiting +icrlvrPrepare \(training\) on task queue "routed-gpu" for \d+ s, attempt 1: no worker polls it — start one: DLAB_QUEUES=training=routed-gpu dlab worker --serve training/);
    const json = JSON.parse((await dlab(['status', ID, '--json'], env)).stdout) as TestStatus;
    assert.equal(json.waiting?.[0].taskQueue, 'routed-gpu');

    await cluster.startWorker(home, 'two', undefined, { args: ['--serve', 'inference,training', '--ort-providers', 'cpu'], env });
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    assert.equal(final.state, 'completed', JSON.stringify(final));
    assert.equal(final.waiting, undefined);

    const artifacts = (s: TestStatus) => s.artifacts.map((a) => `${a.name}@${a.step}:${a.sha256}`);
    assert.deepEqual(artifacts(final), artifacts(reference));
    for (const a of final.artifacts) {
      const ref = reference.artifacts.find((r) => r.name === a.name && r.step === a.step)!;
      assert.ok(readFileSync(fileOfUri(a.uri)).equals(readFileSync(fileOfUri(ref.uri))), `${a.name}: same bytes`);
    }

    // every activity of both runs of the chain (continued as new after step 2) on its group's queue
    const chain = (await fetchRunChain(await cluster.client(), ID)).slice(-2);
    assert.equal(chain.length, 2);
    const scheduled = new Set(chain.flatMap((r) => scheduledQueues(r.events)));
    const expected = new Set(['icrlvrPrepare@routed-gpu', 'icrlvrWarmStart@routed-gpu', 'icrlvrEvaluate@routed-gpu', 'icrlvrRollout@routed-gpu', 'icrlvrScoreUpdate@routed-gpu']);
    assert.deepEqual([...scheduled].sort(), [...expected].sort());

    // the routed run's histories replay against the current workflow code
    installRuntime();
    const histories = chain.map(({ runId, events }) => ({ workflowId: `${ID}/${runId}`, history: temporal.api.history.v1.History.create({ events }) }));
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, histories)) assert.equal(r.error, undefined, String(r.error));
  });

  it('GORACS with solver and inference routed apart: a worker polling two queues (workflows + bookkeeping, solver) and one for inference; the single-worker bytes', async () => {
    const id = 'goracs-routed';
    const one = cluster.home('g-one');
    const w = await cluster.startWorker(one, 'g-one');
    await startExperiment(await cluster.client(), { kind: 'goracs', config: GORACS, id, taskQueue: 'g-one' });
    const ref = await cluster.waitFor(id, (s) => s.state !== 'running', 300_000);
    assert.equal(ref.state, 'completed', JSON.stringify(ref));
    await w.stop();

    const home = cluster.home('g-two');
    const env = { ...cluster.env(home, 'g-two'), DLAB_QUEUES: 'inference=g-gpu,training=g-gpu,solver=g-cpu' };
    await cluster.startWorker(home, 'g-two', undefined, { args: ['--serve', 'workflows,bookkeeping,solver'], env });
    await cluster.startWorker(home, 'g-two', undefined, { args: ['--serve', 'inference,training'], env });
    await startExperiment(await cluster.client(), { kind: 'goracs', config: GORACS, id, taskQueue: 'g-two', queues: { inference: 'g-gpu', training: 'g-gpu', solver: 'g-cpu' }, rerun: true });
    const final = await cluster.waitFor(id, (s) => s.state !== 'running', 300_000);
    assert.equal(final.state, 'completed', JSON.stringify(final));
    assert.deepEqual(final.artifacts.map((a) => `${a.name}:${a.sha256}`), ref.artifacts.map((a) => `${a.name}:${a.sha256}`));
    assert.deepEqual({ ...final.metrics, refineMs: 0 }, { ...ref.metrics, refineMs: 0 }, 'the same metrics but the refinement time');
    const events = (await fetchRunChain(await cluster.client(), id)).slice(-1)[0].events;
    const scheduled = [...new Set(scheduledQueues(events))].sort();
    assert.deepEqual(scheduled, ['goracsEmbed@g-gpu', 'goracsEvaluate@g-gpu', 'goracsInit@g-cpu', 'goracsPrepare@g-two', 'goracsRefineChunk@g-cpu', 'goracsRefineStart@g-cpu', 'goracsRefineWrite@g-cpu']);
  });

  it('`dlab run` puts DLAB_QUEUES into a sweep and its children; status names a workflow queue nobody polls; `--serve` that cannot work, a bogus --ort-providers and a bad --ort-threads are refused at worker start', async () => {
    const home = cluster.home('cli');
    const env = { ...cluster.env(home, 'cli'), DLAB_QUEUES: 'inference=cli-gpu' };
    // inference shares the workflow queue unless routed: serving it alone there is refused, naming the fix
    const shared = await dlab(['worker', '--serve', 'inference'], cluster.env(home, 'cli'));
    assert.equal(shared.code, 2, shared.stderr);
    assert.match(shared.stderr, /groups inference, training, solver, bookkeeping share task queue "cli"; a worker polling it for inference would get training, solver, bookkeeping tasks too/);
    const badRole = await dlab(['worker', '--serve', 'gpu'], env);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--serve: unknown role "gpu" \(expected any of: workflows, inference, training, solver, bookkeeping, or "all"\)/);
    const badQueues = await dlab(['worker'], { ...env, DLAB_QUEUES: 'gpu=x' });
    assert.equal(badQueues.code, 2);
    assert.match(badQueues.stderr, /DLAB_QUEUES: unknown activity group "gpu"/);
    const bogus = await dlab(['worker', '--ort-providers', 'bogus,cpu'], env);
    assert.equal(bogus.code, 2, bogus.stderr);
    assert.match(bogus.stderr, /--ort-providers: unknown execution provider "bogus" \(this ONNX Runtime build supports: cpu/);
    const viaEnv = await dlab(['worker'], { ...env, DLAB_ORT_PROVIDERS: 'bogus' });
    assert.equal(viaEnv.code, 2);
    assert.match(viaEnv.stderr, /DLAB_ORT_PROVIDERS: unknown execution provider "bogus"/);
    const threads = await dlab(['worker', '--ort-threads', '0'], env);
    assert.equal(threads.code, 2, threads.stderr);
    assert.match(threads.stderr, /--ort-threads: expected an integer in \[1, 1024\] \(ONNX Runtime intra-op threads a session\), found "0"/);
    const threadsEnv = await dlab(['worker'], { ...env, DLAB_ORT_THREADS: 'all' });
    assert.equal(threadsEnv.code, 2, threadsEnv.stderr);
    assert.match(threadsEnv.stderr, /DLAB_ORT_THREADS: expected an integer in \[1, 1024\].*found "all"/);

    // a sweep started before any worker: status names the workflow queue; the children inherit the queue map
    const file = join(cluster.root.path, 'sweep.json');
    writeFileSync(file, JSON.stringify({ ...CONFIG, warmStart: undefined, steps: 1, evalEvery: 1, sweep: { modes: ['icrlvr'], seeds: [1, 2] } }));
    const r = await dlab(['run', 'icrlvr', '--config', file, '--id', 'sweep-routed', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const idle = await cluster.waitFor('sweep-routed', (s) => (s.waiting ?? []).some((w) => w.kind === 'workflow' && w.waitingSeconds >= 1), 30_000);
    assert.deepEqual(
      idle.waiting!.map((w) => [w.kind, w.taskQueue, w.pollers]),
      [['workflow', 'cli', 0]],
    );
    const text = await dlab(['status', 'sweep-routed'], env);
    assert.match(text.stdout, /waiting +icrlvrSweep \(workflow task\) on task queue "cli" for \d+ s, attempt 1: no worker polls it — start one: DLAB_TASK_QUEUE=cli dlab worker --serve workflows/);

    await cluster.startWorker(home, 'cli', undefined, { args: ['--serve', 'all', '--ort-providers', 'cpu'], env });
    const done = await cluster.waitFor('sweep-routed', (s) => s.state !== 'running', 300_000);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    const client = await cluster.client();
    const parent = (await fetchRunChain(client, 'sweep-routed')).flatMap((c) => c.events);
    assert.match(Buffer.from(parent[0].workflowExecutionStartedEventAttributes!.input!.payloads![0].data!).toString(), /"queues":\{"inference":"cli-gpu"\}/);
    for (const child of ['sweep-routed.icrlvr.s1', 'sweep-routed.icrlvr.s2']) {
      const events = (await fetchRunChain(client, child)).flatMap((c) => c.events);
      assert.deepEqual([...new Set(scheduledQueues(events))].sort(), ['icrlvrEvaluate@cli-gpu', 'icrlvrPrepare@cli', 'icrlvrRollout@cli-gpu', 'icrlvrScore@cli-gpu', 'icrlvrUpdate@cli'], child);
    }
  });
});

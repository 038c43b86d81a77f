import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import type { LineageReport } from '../../client/lineage';
import type { LineageNode } from '../../lib/store/lineage';
import { buildModelDir, readModelDir } from '../../lib/model/model-dir';
import { loadSamples } from '../../lib/goracs/samples';
import { DEFAULT_REC_SYNTH } from '../../lib/data/rec-synth';
import { fileOfUri, sha256Hex } from '../../lib/store/artifact-store';
import type { NamedArtifact } from '../../workflows/run-state';
import { TestCluster, TestStatus, WorkerProcess, dlab } from '../helpers/cluster';
import { S3TestServer } from '../helpers/s3-server';

/**
 * Several machines, simulated honestly: two worker processes that share nothing on disk (each its
 * own DLAB_HOME, so its own models folder and S3 read cache), only the Temporal server and the
 * S3 server (versitygw). Each run is compared byte for byte with the same run by one worker on
 * the local store, and audited (`dlab verify`, `lineage`, `report`) from a third DLAB_HOME with
 * an empty cache.
 *
 * - In-Context RLVR with a pretrained built model: one worker pretrains it in prepare and stores
 *   it; the other fetches it by hash; the worker running a rollout is SIGKILLed mid-stage.
 * - GORACS on the user's model directory and JSONL data: `dlab run` stores both (DLAB_STORE set),
 *   the files are then moved away so no worker can read them in place, and the S3 server is
 *   SIGKILLed and restarted mid-run.
 */
const ICRLVR = {
  mode: 'icrlvr',
  seed: 4,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 24, heldOutQuestions: 6, demoPool: 8 },
  pretrain: { steps: 6, batchSize: 8 },
  steps: 3,
  questionsPerStep: 4,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 16,
  dynamicSampling: false,
  epochs: 2,
  evalEvery: 3,
  evalSamples: 2,
  rolloutShards: 2,
  batchSize: 2,
  heartbeatTimeoutSeconds: 3,
};

const GORACS = {
  seed: 1,
  budget: 16,
  maxIters: 4,
  cutNum: 3,
  model: { dir: 'inputs/model' },
  data: { type: 'jsonl', path: 'inputs/samples.jsonl' },
  evaluation: { methods: ['goracs', 'random'], seeds: [0], epochs: 2, negatives: 10 },
  embedShards: 2,
  batchSize: 16,
  heartbeatTimeoutSeconds: 5,
};
const GORACS_BUILD = { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } };
const GORACS_DATA = { type: 'synthetic' as const, ...DEFAULT_REC_SYNTH, items: 30, clusters: 3, poolUsers: 120, valUsers: 30, testUsers: 30, seed: 3 };

/** the rollouts wait 0.5 s after each batch: a worker can be killed in the middle of one */
const PACE = { icrlvrRollout: 500, goracsEmbed: 300 };

describe('two workers sharing nothing but the Temporal and S3 servers', function () {
  this.timeout(900_000);
  let cluster: TestCluster;
  let s3: S3TestServer;
  let client: Client;
  const objectFile = (uri: string) => join(s3.dataDir, uri.slice('s3://'.length));

  before(async () => {
    [cluster, s3] = await Promise.all([TestCluster.start(), S3TestServer.start(['dlab'])]);
    client = await cluster.client();
  });
  after(async () => {
    await cluster?.stop();
    await s3?.stop();
  });

  /** `n` paced workers on `queue`, each with its own DLAB_HOME, artifacts in s3://dlab/<prefix> */
  async function machines(queue: string, prefix: string, n: number): Promise<{ workers: WorkerProcess[]; homes: string[]; env: NodeJS.ProcessEnv }> {
    const env = { ...s3.env(), DLAB_STORE: `s3://dlab/${prefix}` };
    const homes = Array.from({ length: n }, (_, i) => cluster.home(`${queue}-machine-${i}`));
    const workers: WorkerProcess[] = [];
    for (const home of homes) workers.push(await cluster.startWorker(home, queue, PACE, { env: { ...env, DLAB_TEST_MAX_CONCURRENT: '1' } }));
    return { workers, homes, env };
  }

  const done = (s: TestStatus) => s.state !== 'running' && s.state !== 'paused';

  /** what each completed activity's worker was, from the history */
  async function workersOf(id: string): Promise<Set<string>> {
    return new Set((await runHistory(client, id)).entries.filter((e) => e.status === 'completed' && e.worker).map((e) => e.worker!));
  }

  /** `dlab verify`, `lineage` of `leaf` and `report` from a DLAB_HOME nothing has used */
  async function audit(id: string, env: NodeJS.ProcessEnv, leaf: NamedArtifact, artifacts: number): Promise<string> {
    const home = cluster.home(`${id}-auditor`);
    const auditEnv = { ...cluster.env(home, 'none'), ...env };
    const v = await dlab(['verify', id], auditEnv);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // every artifact the run's activities returned (the status lists the latest of each name)
    const m = new RegExp(`(\\d+)/(\\d+) artifacts of ${id} verified`).exec(v.stdout);
    assert.ok(m && m[1] === m[2] && Number(m[1]) >= artifacts, v.stdout);
    assert.match(v.stdout, /model [0-9a-f]{64}: \d+ files in the artifact store verified/);
    const l = await dlab(['lineage', leaf.sha256, '--json'], auditEnv);
    assert.equal(l.code, 0, l.stderr);
    const report = JSON.parse(l.stdout) as LineageReport;
    assert.equal(report.sha256, leaf.sha256);
    assert.deepEqual(report.problems, []);
    assert.equal(report.tree.kind, 'artifact');
    // the model files at the root of the tree: the store's copies (this home has no model directory)
    const leaves: string[] = [];
    const walk = (n: LineageNode): void => {
      if (n.kind === 'artifact') n.parents.forEach(walk);
      else if (n.kind === 'file' && n.path) leaves.push(n.path);
    };
    walk(report.tree);
    assert.ok(leaves.some((p) => p.startsWith(`${env.DLAB_STORE}/files/`)), `model files traced to the store: ${JSON.stringify(leaves)}`);
    const out = join(cluster.root.path, `${id}-report`);
    const r = await dlab(['report', id, '--out', out], auditEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(out, 'index.html')));
    assert.ok(!existsSync(join(home, 'artifacts')), 'the auditor has no local store');
    return v.stdout;
  }

  it('In-Context RLVR: the pretrained model travels through the store, a worker is killed mid-rollout, same bytes as one worker on the local store', async () => {
    const ID = 'two-icrlvr';
    const ref = await cluster.startWorker(cluster.home('icrlvr-ref'), 'icrlvr-ref');
    await startExperiment(client, { kind: 'icrlvr', config: ICRLVR, id: ID, taskQueue: 'icrlvr-ref', rerun: true });
    const reference = await cluster.waitFor(ID, done, 300_000);
    await ref.stop();
    assert.equal(reference.state, 'completed', JSON.stringify(reference));

    const { workers, homes, env } = await machines('icrlvr-two', 'two-icrlvr', 2);
    await startExperiment(client, { kind: 'icrlvr', config: ICRLVR, id: ID, taskQueue: 'icrlvr-two', rerun: true });
    // the worker running a step-2 rollout, killed in the middle of it
    await cluster.waitFor(ID, (s) => s.step >= 2 || done(s), 300_000);
    let victim: WorkerProcess | undefined;
    const deadline = Date.now() + 120_000;
    while (!victim && Date.now() < deadline) {
      const desc = await client.workflow.getHandle(ID).describe();
      const running = (desc.raw.pendingActivities ?? []).find((p) => p.activityType?.name === 'icrlvrRollout' && Number(p.state) === 2 && p.heartbeatDetails);
      victim = workers.find((w) => w.identity === running?.lastWorkerIdentity);
      if (!victim) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(victim, 'a rollout ran on one of the two workers');
    await victim.kill();
    const final = await cluster.waitFor(ID, done, 300_000);
    for (const w of workers) if (w !== victim) await w.stop();
    assert.equal(final.state, 'completed', JSON.stringify(final));

    // same artifacts, byte for byte, as the single worker on the local store
    assert.deepEqual(final.artifacts.map((a) => [a.name, a.sha256]), reference.artifacts.map((a) => [a.name, a.sha256]));
    for (let i = 0; i < final.artifacts.length; i++) {
      assert.ok(readFileSync(objectFile(final.artifacts[i].uri)).equals(readFileSync(fileOfUri(reference.artifacts[i].uri))), `${final.artifacts[i].name}: bytes differ`);
    }
    const { entries } = await runHistory(client, ID);
    assert.ok(entries.some((e) => e.activity === 'icrlvrRollout' && e.status === 'failed' && e.worker === victim!.identity), 'a rollout attempt died with the killed worker');
    const used = await workersOf(ID);
    assert.ok(workers.every((w) => used.has(w.identity)), `both workers completed activities: ${[...used].join(', ')}`);

    // one machine pretrained the model (its models folder has pretrained-…), the other fetched it by hash (sha256-…)
    const folders = homes.map((h) => (existsSync(join(h, 'models')) ? readdirSync(join(h, 'models')) : []));
    const pretrainedOn = folders.findIndex((f) => f.some((d) => d.startsWith('pretrained-')));
    assert.ok(pretrainedOn >= 0, JSON.stringify(folders));
    const other = folders[1 - pretrainedOn];
    assert.ok(other.some((d) => d.startsWith('sha256-')) && !other.some((d) => d.startsWith('pretrained-')), `the other machine fetched the pretrained model, not trained it: ${JSON.stringify(folders)}`);
    for (const h of homes) assert.ok(!existsSync(join(h, 'artifacts')), `${h}: no local artifact store`);

    await audit(ID, env, final.artifacts.find((a) => a.name === 'checkpoint')!, new Set(final.artifacts.map((a) => a.sha256)).size);
  });

  it('GORACS on a model directory and JSONL data only the client had: `dlab run` stores them; the S3 server is killed and restarted mid-run; same bytes', async () => {
    const ID = 'two-goracs';
    // the user's inputs, beside the config file
    const userDir = join(cluster.root.path, 'user');
    mkdirSync(join(userDir, 'inputs'), { recursive: true });
    await buildModelDir(GORACS_BUILD, join(userDir, 'inputs', 'model'));
    writeFileSync(join(userDir, 'inputs', 'samples.jsonl'), loadSamples(GORACS_DATA).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const cfgFile = join(userDir, 'goracs.json');
    writeFileSync(cfgFile, JSON.stringify(GORACS));
    const modelSha = (await readModelDir(join(userDir, 'inputs', 'model'))).sha256;

    const ref = await cluster.startWorker(cluster.home('goracs-ref'), 'goracs-ref');
    const r0 = await dlab(['run', 'goracs', '--config', cfgFile, '--id', ID], cluster.env(cluster.home('goracs-ref'), 'goracs-ref'));
    assert.equal(r0.code, 0, r0.stderr);
    assert.doesNotMatch(r0.stderr, /stored the run's inputs/, 'without DLAB_STORE nothing is stored by the client');
    const reference = await cluster.waitFor(ID, done, 300_000);
    await ref.stop();
    assert.equal(reference.state, 'completed', JSON.stringify(reference));

    const env = { ...s3.env(), DLAB_STORE: 's3://dlab/two-goracs' };
    const started = await dlab(['run', 'goracs', '--config', cfgFile, '--id', ID, '--rerun'], { ...cluster.env(cluster.home('goracs-client'), 'goracs-two'), ...env });
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /stored the run's inputs in DLAB_STORE=s3:\/\/dlab\/two-goracs: 5 files/, started.stderr);
    // from here on, no process can read the inputs where the config names them
    renameSync(join(userDir, 'inputs'), join(userDir, 'inputs.away'));
    try {
      const { workers, homes } = await machines('goracs-two', 'two-goracs', 2);
      await cluster.waitFor(ID, (s) => s.stage === 'gradient-embedding' || done(s), 120_000);
      await s3.kill();
      await new Promise((r) => setTimeout(r, 4000));
      await s3.startServer();
      const final = await cluster.waitFor(ID, done, 300_000);
      for (const w of workers) await w.stop();
      assert.equal(final.state, 'completed', JSON.stringify(final));
      assert.deepEqual(final.artifacts.map((a) => [a.name, a.sha256]), reference.artifacts.map((a) => [a.name, a.sha256]));
      for (const a of final.artifacts) assert.equal(sha256Hex(readFileSync(objectFile(a.uri))), a.sha256);
      const failed = (await runHistory(client, ID)).entries.filter((e) => e.status === 'failed');
      assert.ok(failed.some((e) => e.error?.includes(s3.endpoint)), `an attempt failed naming the store while it was down: ${JSON.stringify(failed.map((e) => e.error))}`);
      const used = await workersOf(ID);
      assert.ok(workers.every((w) => used.has(w.identity)), `both workers completed activities: ${[...used].join(', ')}`);
      for (const h of homes) {
        assert.ok(existsSync(join(h, 'models', `sha256-${modelSha}`)), `${h} fetched the user's model by its hash`);
        assert.ok(!existsSync(join(h, 'artifacts')));
      }
      const out = await audit(ID, env, final.artifacts.find((a) => a.name === 'coreset')!, new Set(final.artifacts.map((a) => a.sha256)).size);
      assert.match(out, new RegExp(`model ${modelSha}: 4 files in the artifact store verified`));
    } finally {
      renameSync(join(userDir, 'inputs.away'), join(userDir, 'inputs'));
    }
  });
});

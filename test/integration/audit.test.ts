import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { fetchRunChain } from '../../client/events';
import { ensureSearchAttributes } from '../../client/search-attributes';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { historyToObject } from '../helpers/histories';
import { freePort } from '../../client/dev-server';
import type { ActivityAttempt } from '../../lib/report/run';
import type { LineageReport } from '../../client/lineage';
import { listRuns, RunListing } from '../../client/runs';
import type { ArtifactNode, LineageNode } from '../../lib/store/lineage';
import { dlab, TestCluster, TestStatus } from '../helpers/cluster';

/**
 * The audit commands against a real dev server and worker: `dlab runs` from the visibility
 * store (eventually consistent: polled), `dlab lineage` from the store plus the history,
 * `dlab history` / `dlab verify` over an icrlvr sweep and its child run.
 */
const SMOKE = { seed: 5, rows: 400, dim: 8, hidden: 16, batchSize: 100, rounds: 2, continueAsNewEvery: 1 };
const SWEEP = {
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 64, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 8, heldOutQuestions: 4, demoPool: 6 },
  steps: 1,
  questionsPerStep: 2,
  groupSize: 2,
  demosPerGroup: 1,
  egDemos: 1,
  maxTokens: 6,
  dynamicSampling: false,
  evalEvery: 1,
  evalSamples: 1,
  rolloutShards: 1,
  batchSize: 4,
  sweep: { modes: ['icrlvr'], seeds: [1] },
};

describe('audit: dlab runs, lineage, history, verify (real dev server)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let env: NodeJS.ProcessEnv;
  let smoke: TestStatus;

  const runsJson = async (...args: string[]) => {
    const r = await dlab(['runs', '--json', ...args], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { runs: RunListing[]; total: number };
  };
  /**
   * Waits (in-process, cheap) until the visibility store, which lags the runs a little,
   * satisfies `predicate`, then answers from `dlab runs --json` itself.
   */
  const runsUntil = async (predicate: (runs: RunListing[]) => boolean, ...args: string[]) => {
    const kind = args[args.indexOf('--kind') + 1];
    const deadline = Date.now() + 120_000;
    while (!predicate((await listRuns(await cluster.client(), { kind: args.includes('--kind') ? kind : undefined, limit: 50 })).runs)) {
      if (Date.now() > deadline) throw new Error(`dlab runs ${args.join(' ')} never satisfied the condition`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const { runs } = await runsJson(...args);
    assert.ok(predicate(runs), JSON.stringify(runs));
    return runs;
  };

  before(async () => {
    cluster = await TestCluster.start();
    const home = cluster.home('audit');
    env = cluster.env(home, 'audit');
    await cluster.startWorker(home, 'audit', { 'audit-paused': 300 });
    const sweepFile = join(cluster.root.path, 'sweep.json');
    writeFileSync(sweepFile, JSON.stringify(SWEEP));
    const s = await dlab(['run', 'icrlvr', '--config', sweepFile, '--id', 'audit-sweep'], env);
    assert.equal(s.code, 0, s.stderr);
    const smokeFile = join(cluster.root.path, 'smoke.json');
    writeFileSync(smokeFile, JSON.stringify(SMOKE));
    const r = await dlab(['run', 'smoke', '--config', smokeFile, '--id', 'audit-smoke', '--wait', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    smoke = JSON.parse(r.stdout);
    await cluster.waitFor('audit-sweep', (st) => st.state !== 'running', 120_000);
  });
  after(async () => cluster?.stop());

  it('`runs --json` lists the smoke run once (it continued as new): kind, completed, step 2, headline = step, started by its first run', async () => {
    const runs = await runsUntil((rs) => rs.some((r) => r.id === 'audit-smoke' && r.state === 'completed'));
    const mine = runs.filter((r) => r.id === 'audit-smoke');
    assert.equal(mine.length, 1);
    const [r] = mine;
    assert.deepEqual([r.kind, r.state, r.step, r.headline, r.headlineMetric], ['smoke', 'completed', 2, 2, 'step']);
    const latest = await (await cluster.client()).workflow.getHandle('audit-smoke').describe();
    assert.ok(Date.parse(r.started) < latest.startTime.getTime(), `started ${r.started} is the first run's, before the latest run's ${latest.startTime.toISOString()}`);
    assert.ok(r.closed && Date.parse(r.closed) >= Date.parse(r.started));
  });

  it('lists the sweep and its child run (kind icrlvr, parent the sweep, headline = held-out accuracy); --kind and --limit filter', async () => {
    const child = 'audit-sweep.icrlvr.s1';
    const runs = await runsUntil((rs) => ['audit-sweep', child].every((id) => rs.some((r) => r.id === id && r.state === 'completed')), '--kind', 'icrlvr');
    assert.deepEqual(runs.map((r) => r.id).sort(), ['audit-sweep', child]);
    const c = runs.find((r) => r.id === child)!;
    assert.deepEqual([c.kind, c.parent, c.step, c.headlineMetric], ['icrlvr', 'audit-sweep', 1, 'heldOutAccuracy']);
    assert.ok(c.headline !== null && c.headline >= 0 && c.headline <= 1, `held-out accuracy ${c.headline}`);
    assert.equal(runs.find((r) => r.id === 'audit-sweep')!.kind, 'icrlvr-sweep');
    assert.deepEqual((await runsJson('--kind', 'smoke')).runs.map((r) => r.id), ['audit-smoke']);
    const newest = await runsJson('--limit', '1');
    assert.equal(newest.runs.length, 1);
    assert.equal(newest.total, 3);
    assert.equal(newest.runs[0].id, 'audit-smoke', 'the smoke run started after the sweep and its child');
  });

  it('a paused run is listed as paused, and stays paused when it continues as new', async () => {
    const slow = join(cluster.root.path, 'slow.json');
    writeFileSync(slow, JSON.stringify({ ...SMOKE, batchSize: 50, rounds: 3 })); // continues as new after every transform; the worker paces it
    const started = await dlab(['run', 'smoke', '--config', slow, '--id', 'audit-paused', '--json'], env);
    assert.equal(started.code, 0, started.stderr);
    const firstRun = JSON.parse(started.stdout).runId as string;
    await cluster.waitFor('audit-paused', (s) => s.stage === 'transform');
    assert.equal((await dlab(['pause', 'audit-paused'], env)).code, 0);
    await runsUntil((rs) => rs.some((r) => r.id === 'audit-paused' && r.state === 'paused'));
    const handle = (await cluster.client()).workflow.getHandle('audit-paused');
    while ((await handle.describe()).runId === firstRun) await new Promise((r) => setTimeout(r, 250)); // transform 1 ends, the run continues as new
    const held = await cluster.waitFor('audit-paused', (s) => s.state === 'paused');
    assert.deepEqual([held.step, held.artifacts.length], [1, 2], 'the new run waits before transform 2');
    await runsUntil((rs) => rs.some((r) => r.id === 'audit-paused' && r.state === 'paused'));
    assert.equal((await dlab(['cancel', 'audit-paused'], env)).code, 0);
    await runsUntil((rs) => rs.some((r) => r.id === 'audit-paused' && r.state === 'cancelled'));
  });

  it('`lineage --json` of the smoke summary: summary ← transform 2 ← transform 1 ← table, each with stage, producer, attempt, config hash and code version; the MLP a file leaf', async () => {
    const summary = smoke.artifacts.find((a) => a.name === 'summary')!;
    const r = await dlab(['lineage', summary.sha256, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as LineageReport;
    assert.equal(report.sha256, summary.sha256);
    assert.deepEqual(report.notes, []);
    const chain: ArtifactNode[] = [];
    for (let n: LineageNode | undefined = report.tree; n?.kind === 'artifact'; n = n.parents[0]) chain.push(n);
    assert.deepEqual(chain.map((n) => [n.stage, n.producer, n.attempt?.activityType, n.attempt?.attempt]), [
      ['summarise', 'smokeSummarise', 'smokeSummarise', 1],
      ['transform', 'smokeTransform', 'smokeTransform', 1],
      ['transform', 'smokeTransform', 'smokeTransform', 1],
      ['generate', 'smokeGenerate', 'smokeGenerate', 1],
    ]);
    const byName = (name: string) => smoke.artifacts.filter((a) => a.name === name).map((a) => a.sha256);
    assert.deepEqual(chain.map((n) => n.sha256), [...byName('summary'), ...byName('transformed').reverse(), ...byName('table')]);
    assert.ok(chain.every((n) => n.experimentId === 'audit-smoke' && /^[0-9a-f]{64}$/.test(n.configHash) && n.codeVersion.startsWith('dlab@')));
    assert.equal(new Set(chain.map((n) => n.configHash)).size, 1);
    assert.ok(chain.every((n) => n.attempt!.workflowId === 'audit-smoke' && n.attempt!.worker));
    const runOf = chain.map((n) => n.attempt!.runId);
    assert.deepEqual([runOf[0] === runOf[1], runOf[1] === runOf[2], runOf[2] === runOf[3]], [true, false, true], 'transform 2 and summarise ran after the continue-as-new');
    const mlp = chain[1].parents[1];
    assert.deepEqual(mlp, { kind: 'file', sha256: mlp.sha256, path: join(cluster.home('audit'), 'models', `${mlp.sha256}.onnx`) });
    assert.deepEqual(chain[2].parents[1], mlp);
  });

  it('`lineage` takes a unique prefix, and with no server still prints the store part with the attempts unknown', async () => {
    const summary = smoke.artifacts.find((a) => a.name === 'summary')!;
    const human = await dlab(['lineage', summary.sha256.slice(0, 10)], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout.split('\n')[0], new RegExp(`^${summary.sha256.slice(0, 12)}  smoke.summary@1  audit-smoke / summarise  by smokeSummarise attempt 1`));
    const offline = await dlab(['lineage', summary.sha256, '--json'], { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
    assert.equal(offline.code, 0, offline.stderr);
    const report = JSON.parse(offline.stdout) as LineageReport;
    assert.equal((report.tree as ArtifactNode).stage, 'summarise');
    assert.equal((report.tree as ArtifactNode).attempt, null);
    assert.match(report.notes.join('\n'), /attempts unknown: cannot reach the Temporal server/);
  });

  it('`lineage` of an icrlvr checkpoint reaches the prepared one through update and scoring, and names the model files it started from', async () => {
    const child = await cluster.waitFor('audit-sweep.icrlvr.s1', (s) => s.state === 'completed');
    const checkpoint = child.artifacts.find((a) => a.name === 'checkpoint' && a.step === 1)!;
    const r = await dlab(['lineage', checkpoint.sha256, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const nodes: LineageNode[] = [];
    const walk = (n: LineageNode) => (nodes.push(n), n.kind === 'artifact' && n.parents.forEach(walk));
    walk((JSON.parse(r.stdout) as LineageReport).tree);
    const stages = new Set(nodes.flatMap((n) => (n.kind === 'artifact' ? [n.stage] : [])));
    for (const st of ['update', 'scoring', 'rollout', 'prepare']) assert.ok(stages.has(st), `stage ${st} in ${[...stages]}`);
    assert.ok(nodes.every((n) => n.kind !== 'artifact' || (n.experimentId === 'audit-sweep.icrlvr.s1' && n.attempt?.workflowId === 'audit-sweep.icrlvr.s1')));
    // the model's files, as the store keeps them (by hash) and named as in the model directory
    const files = nodes.flatMap((n) => (n.kind === 'file' && n.path ? [n] : []));
    assert.ok(files.some((f) => f.name === 'backbone.onnx' && f.path!.endsWith(`/artifacts/files/${f.sha256.slice(0, 2)}/${f.sha256}`)), JSON.stringify(files));
  });

  it('`history` and `verify` of a sweep cover its child run: every stage attempt (local steps too), every artifact; `lineage` of the comparison names its local step', async () => {
    const h = await dlab(['history', 'audit-sweep', '--json'], env);
    assert.equal(h.code, 0, h.stderr);
    const entries = (JSON.parse(h.stdout) as { entries: ActivityAttempt[] }).entries;
    const child = entries.filter((e) => e.workflowId === 'audit-sweep.icrlvr.s1');
    for (const a of ['icrlvrPrepare', 'icrlvrStep', 'icrlvrEvaluate']) assert.ok(child.some((e) => e.activity === a && e.status === 'completed'), a);
    assert.deepEqual(entries.filter((e) => !e.workflowId).map((e) => e.activity), ['icrlvrCompare']);
    // bookkeeping steps are local activities (docs/architecture.md): shown from their markers like any other step
    const sweep = await cluster.waitFor('audit-sweep', (s) => s.state === 'completed');
    const compare = entries.find((e) => e.activity === 'icrlvrCompare')!;
    assert.deepEqual([compare.stage, compare.attempt, compare.status], ['compare', 1, 'completed']);
    assert.ok(compare.worker && compare.startedAt && compare.endedAt, JSON.stringify(compare));
    assert.deepEqual(compare.outputs, [sweep.artifacts.find((a) => a.name === 'comparison')!.sha256]);
    const childRun = await cluster.waitFor('audit-sweep.icrlvr.s1', (s) => s.state === 'completed');
    // one rollout shard: a step is one activity (icrlvrStep), which plans its rounds itself and lists every artifact it wrote
    const step = child.find((e) => e.activity === 'icrlvrStep' && e.status === 'completed')!;
    assert.equal(step.stage, 'rollout');
    assert.ok(step.inputs.includes(childRun.artifacts.find((a) => a.name === 'questions')!.sha256), JSON.stringify(step));
    for (const name of ['rollouts.0', 'scored', 'checkpoint']) assert.ok(child.some((e) => e.outputs.includes(childRun.artifacts.find((a) => a.name === name && a.step === 1)!.sha256)), name);
    const lineage = await dlab(['lineage', compare.outputs[0], '--json'], env);
    assert.equal(lineage.code, 0, lineage.stderr);
    const node = (JSON.parse(lineage.stdout) as LineageReport).tree as ArtifactNode;
    assert.deepEqual([node.stage, node.attempt?.activityType, node.attempt?.attempt, node.attempt?.workflowId], ['compare', 'icrlvrCompare', 1, 'audit-sweep']);
    // `dlab status` of the finished sweep carries its summary (one mode, one seed here)
    const st = await dlab(['status', 'audit-sweep', '--json'], env);
    assert.equal(st.code, 0, st.stderr);
    const summary = (JSON.parse(st.stdout) as { summary?: { mode: string; seeds: number[] }[] }).summary;
    assert.deepEqual(summary?.map((m) => [m.mode, m.seeds]), [['icrlvr', [1]]]);
    const human = await dlab(['status', 'audit-sweep'], env);
    assert.match(human.stdout, /^ {2}summary {3}\(mean \[95 % interval\] over seeds/m);
    const v = await dlab(['verify', 'audit-sweep'], env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const outputs = new Set(entries.flatMap((e) => e.outputs));
    assert.match(v.stdout, new RegExp(`^${outputs.size}/${outputs.size} artifacts of audit-sweep verified`, 'm'));
    assert.ok(outputs.size >= 6, `${outputs.size} artifacts`);
  });

  it('their histories (search-attribute upserts, a pause across continue-as-new, a sweep) replay against the current workflow code', async () => {
    // DLAB_RECORD_HISTORIES=1 writes them to test/histories, where the replay test guards them
    const client = await cluster.client();
    const recorded: { workflowId: string; history: temporal.api.history.v1.History }[] = [];
    for (const id of ['audit-smoke', 'audit-paused', 'audit-sweep.icrlvr.s1', 'audit-sweep']) {
      // the sweep names its children after its own workflow id, so it replays under that id (and is not recorded)
      (await fetchRunChain(client, id)).forEach(({ events }, i) =>
        recorded.push({ workflowId: id === 'audit-sweep' ? id : `${id}-run${i}`, history: temporal.api.history.v1.History.create({ events }) }),
      );
    }
    installRuntime();
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, recorded)) {
      replayed += 1;
      assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    }
    assert.equal(replayed, 2 + 2 + 1 + 1, 'smoke and paused smoke: 2 runs each (continued as new once); the sweep and its run: 1 each');
    const upserts = recorded.flatMap((h) => h.history.events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes));
    assert.ok(upserts.length >= recorded.length, `${upserts.length} search-attribute upserts`);
    if (process.env.DLAB_RECORD_HISTORIES) {
      recorded.slice(0, -1).forEach((h, k) => writeFileSync(join(PACKAGE_ROOT, 'test', 'histories', `audit-${String(k).padStart(2, '0')}-${h.workflowId}.json`), JSON.stringify(historyToObject(h.history))));
    }
  });

  it('search attributes missing on a server dlab did not start are registered by `dlab run` (only the missing ones)', async () => {
    const client = await cluster.client();
    await client.connection.operatorService.removeSearchAttributes({ namespace: 'default', searchAttributes: ['DlabPaused'] });
    assert.deepEqual(await ensureSearchAttributes(client.connection, 'default'), { added: ['DlabPaused'] });
    assert.deepEqual(await ensureSearchAttributes(client.connection, 'default'), { added: [] });
    await client.connection.operatorService.removeSearchAttributes({ namespace: 'default', searchAttributes: ['DlabHeadline'] });
    const smokeFile = join(cluster.root.path, 'smoke.json');
    const r = await dlab(['run', 'smoke', '--config', smokeFile, '--id', 'audit-registered', '--wait', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /registered search attributes DlabHeadline/);
    await runsUntil((rs) => rs.some((x) => x.id === 'audit-registered' && x.state === 'completed' && x.headline === 2));
  });
});

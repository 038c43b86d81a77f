import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fetchRunChain, HistoryEvent } from '../../client/events';
import { freePort } from '../../client/dev-server';
import { startExperiment } from '../../client/start';
import { fileOfUri } from '../../lib/store/artifact-store';
import { DLAB_BIN, dlab, TestCluster, TestStatus } from '../helpers/cluster';
import { S3TestServer } from '../helpers/s3-server';
import { memoryMeter } from '../helpers/metrics';
import { bindMetrics } from '../../lib/metrics';
import { S3ArtifactStore } from '../../lib/store/s3-store';

/**
 * `dlab worker --metrics-port` and the dev server's metrics port, end to end: a tiny In-Context
 * RLVR run on a worker with an exporter, both /metrics endpoints scraped before and after, and
 * dlab's series checked against what the run's history and artifact store say: one activity
 * duration sample per activity completed, the rollout tokens the rollouts returned, the bytes of
 * the artifact files written.
 */
const ID = 'icrlvr-metrics';
const CONFIG = {
  mode: 'icrlvr',
  seed: 4,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 20, heldOutQuestions: 6, demoPool: 8 },
  steps: 2,
  questionsPerStep: 3,
  groupSize: 3,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 12,
  dynamicSampling: false,
  epochs: 1,
  evalEvery: 2,
  evalSamples: 2,
  rolloutShards: 2,
  batchSize: 4,
  heartbeatTimeoutSeconds: 10,
};

/** One scrape in the Prometheus text format: `name{labels}` → value. */
type Scrape = Map<string, { name: string; labels: Record<string, string>; value: number }>;

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  const out: Scrape = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    out.set(`${m[1]}{${m[2] ?? ''}}`, { name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * Scrapes until `ready` holds (the Temporal server reports its series to the exporter every
 * second or so, after the requests), at most 30 s; returns the last scrape either way.
 */
async function scrapeUntil(url: string, ready: (s: Scrape) => boolean): Promise<Scrape> {
  const deadline = Date.now() + 30_000;
  let s = await scrape(url);
  while (!ready(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    s = await scrape(url);
  }
  return s;
}

/** Sum of the series named `name` whose labels include `labels`. */
function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const x of s.values()) if (x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) sum += x.value;
  return sum;
}

const names = (s: Scrape) => new Set([...s.values()].map((x) => x.name));

function filesBytes(dir: string): number {
  let sum = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) sum += e.isDirectory() ? filesBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return sum;
}

const payloadJson = (p: { data?: Uint8Array | null } | undefined) => JSON.parse(Buffer.from(p!.data!).toString()) as Record<string, unknown>;

describe('metrics: dlab worker --metrics-port and the dev server (real dev server)', function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  let serverMetrics: string;
  let workerMetrics: string;
  let workerPort: number;
  let withMetrics: TestStatus;
  const home = () => cluster.home('metrics');

  before(async () => {
    const metricsPort = await freePort();
    cluster = await TestCluster.start({ metricsPort });
    serverMetrics = cluster.server.metricsUrl!;
    assert.equal(serverMetrics, `http://127.0.0.1:${metricsPort}/metrics`);
    workerPort = await freePort();
    workerMetrics = `http://127.0.0.1:${workerPort}/metrics`;
    await cluster.startWorker(home(), 'metrics', undefined, { args: ['--metrics-port', `127.0.0.1:${workerPort}`] });
  });
  after(async () => cluster?.stop());

  it("a run moves dlab's series by what its history and store say, and the SDK's and the server's series", async () => {
    const workerBefore = await scrape(workerMetrics);
    const serverBefore = await scrape(serverMetrics);
    assert.equal(total(workerBefore, 'dlab_activity_duration_seconds_count'), 0, 'no activity before the run');

    await startExperiment(await cluster.client(), { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'metrics' });
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running', 300_000);
    assert.equal(final.state, 'completed', JSON.stringify(final));
    withMetrics = final;
    const worker = await scrape(workerMetrics);

    // the history: regular activities scheduled (none failed or timed out), rollout results, local activities (markers)
    const events: HistoryEvent[] = (await fetchRunChain(await cluster.client(), ID)).flatMap((r) => r.events);
    const scheduled = new Map<string, number>();
    const typeOf = new Map<string, string>();
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a) continue;
      const type = a.activityType!.name!;
      scheduled.set(type, (scheduled.get(type) ?? 0) + 1);
      typeOf.set(String(e.eventId), type);
    }
    assert.equal(events.filter((e) => e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes).length, 0, 'no retried attempt');
    let tokens = 0;
    for (const e of events) {
      const c = e.activityTaskCompletedEventAttributes;
      if (c && typeOf.get(String(c.scheduledEventId)) === 'icrlvrRollout') tokens += payloadJson(c.result!.payloads![0]).tokens as number;
    }
    const localSteps = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
    console.log(`      activities scheduled ${JSON.stringify(Object.fromEntries(scheduled))}, local activities ${localSteps}, rollout tokens ${tokens}`);

    // one duration sample per attempt, by activity type: the history's count of each
    assert.deepEqual(scheduled.get('icrlvrRollout'), CONFIG.steps * CONFIG.rolloutShards);
    for (const [type, n] of scheduled) assert.equal(total(worker, 'dlab_activity_duration_seconds_count', { activity_type: type, outcome: 'completed' }), n, type);
    assert.equal(total(worker, 'dlab_activity_duration_seconds_count', { outcome: 'failed' }), 0);
    // the local activities (bookkeeping steps) go through the same interceptor
    const regular = [...scheduled.values()].reduce((a, b) => a + b, 0);
    assert.equal(total(worker, 'dlab_activity_duration_seconds_count'), regular + localSteps);
    assert.ok(localSteps > 0, 'the run has local activities');
    // the buckets suit seconds to hours: the last finite bound is 8 h; every sample is in +Inf
    const rolloutBuckets = [...worker.values()].filter((x) => x.name === 'dlab_activity_duration_seconds_bucket' && x.labels.activity_type === 'icrlvrRollout');
    assert.ok(rolloutBuckets.some((x) => x.labels.le === '28800'));
    assert.equal(rolloutBuckets.find((x) => x.labels.le === '+Inf')!.value, CONFIG.steps * CONFIG.rolloutShards);
    assert.ok(total(worker, 'dlab_activity_duration_seconds_sum', { activity_type: 'icrlvrRollout' }) > 0);

    // rollout tokens: the sum of the rollouts' results; the last batch's rate is a positive gauge
    assert.ok(tokens > 0);
    assert.equal(total(worker, 'dlab_rollout_tokens_total'), tokens);
    assert.ok(total(worker, 'dlab_rollout_tokens_per_second') > 0);

    // artifact bytes written: the size of every file in this worker's store (a fresh one, each written once)
    const stored = filesBytes(join(home(), 'artifacts', 'objects'));
    assert.equal(total(worker, 'dlab_artifact_written_bytes_total', { store: 'local' }), stored);
    assert.ok(total(worker, 'dlab_artifact_read_bytes_total', { store: 'local' }) > 0);
    // no S3 store, no cache lookups
    assert.equal(total(worker, 'dlab_s3_cache_lookups_total'), 0);

    // the SDK's own series, on the same exporter: activity executions and workflow completions of this queue
    assert.equal(total(worker, 'temporal_activity_execution_latency_count', { activity_type: 'icrlvrRollout', task_queue: 'metrics' }), CONFIG.steps * CONFIG.rolloutShards);
    assert.ok(total(worker, 'temporal_workflow_completed', { task_queue: 'metrics' }) >= 1);
    assert.ok(total(worker, 'temporal_activity_poll_no_task') >= 0 && names(worker).has('temporal_num_pollers'));

    // the dev server's: its frontend answered each activity completion (counted since the first scrape)
    const completions = (x: Scrape) => total(x, 'service_requests', { operation: 'RespondActivityTaskCompleted', service_name: 'frontend', namespace: 'default' });
    const starts = (x: Scrape) => total(x, 'service_requests', { operation: 'StartWorkflowExecution', service_name: 'frontend', namespace: 'default' });
    const server = await scrapeUntil(serverMetrics, (x) => completions(x) - completions(serverBefore) >= regular);
    console.log(
      `      worker: ${total(worker, 'dlab_activity_duration_seconds_count')} activity samples, ${total(worker, 'dlab_rollout_tokens_total')} rollout tokens, ` +
        `${total(worker, 'dlab_artifact_written_bytes_total')} bytes written (store files ${stored}), ${total(worker, 'dlab_artifact_read_bytes_total')} read; ` +
        `server: RespondActivityTaskCompleted ${completions(serverBefore)} → ${completions(server)}, StartWorkflowExecution ${starts(serverBefore)} → ${starts(server)}`,
    );
    assert.equal(completions(server) - completions(serverBefore), regular, 'one RespondActivityTaskCompleted per regular activity');
    assert.equal(starts(server) - starts(serverBefore), 1);
  });

  it('the same run on a worker without metrics writes the same artifacts, byte for byte', async () => {
    assert.ok(withMetrics, 'the first test ran');
    await cluster.startWorker(cluster.home('off'), 'off');
    // the same id (lineage stamps it in every artifact), a store of its own
    await startExperiment(await cluster.client(), { kind: 'icrlvr', config: CONFIG, id: ID, taskQueue: 'off', rerun: true });
    const final = await cluster.waitFor(ID, (s) => s.state !== 'running' && s.artifacts.every((a) => a.uri.includes('/homes/off/')), 300_000);
    assert.equal(final.state, 'completed', JSON.stringify(final));
    assert.deepEqual(final.artifacts.map((a) => `${a.name}@${a.step}:${a.sha256}`), withMetrics.artifacts.map((a) => `${a.name}@${a.step}:${a.sha256}`));
    for (const a of final.artifacts) {
      const ref = withMetrics.artifacts.find((r) => r.name === a.name && r.step === a.step)!;
      assert.ok(readFileSync(fileOfUri(a.uri)).equals(readFileSync(fileOfUri(ref.uri))), `${a.name}: same bytes`);
    }
  });

  it('on the S3 store: the bytes uploaded (the objects in the bucket), cache hits for what the worker wrote; a rerun uploads nothing', async () => {
    const s3 = await S3TestServer.start(['dlab']);
    try {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/metrics`;
      const env = { ...s3.env(), DLAB_STORE: 's3://dlab/metrics' };
      await cluster.startWorker(cluster.home('s3'), 's3', undefined, { args: ['--metrics-port', `127.0.0.1:${port}`], env });
      const smoke = async () => {
        await startExperiment(await cluster.client(), { kind: 'smoke', config: { seed: 9, rows: 600, dim: 8, hidden: 16, batchSize: 100, rounds: 2 }, id: 'smoke-metrics', taskQueue: 's3', rerun: true });
        const s = await cluster.waitFor('smoke-metrics', (st) => st.state !== 'running', 180_000);
        assert.equal(s.state, 'completed', JSON.stringify(s));
        return scrape(url);
      };
      const first = await smoke();
      const uploaded = filesBytes(join(s3.dataDir, 'dlab', 'metrics', 'objects'));
      const hits = (x: Scrape) => total(x, 'dlab_s3_cache_lookups_total', { result: 'hit' });
      console.log(`      S3: ${total(first, 'dlab_artifact_written_bytes_total', { store: 's3' })} bytes written (bucket ${uploaded}), ${total(first, 'dlab_artifact_read_bytes_total', { store: 's3' })} read, cache hits ${hits(first)}, misses ${total(first, 'dlab_s3_cache_lookups_total', { result: 'miss' })}`);
      assert.ok(uploaded > 0);
      assert.equal(total(first, 'dlab_artifact_written_bytes_total', { store: 's3' }), uploaded);
      assert.equal(total(first, 'dlab_artifact_written_bytes_total', { store: 'local' }), 0);
      assert.ok(total(first, 'dlab_artifact_read_bytes_total', { store: 's3' }) > 0);
      // each stage reads what the previous one wrote, and the writer caches what it puts: every lookup hits
      assert.ok(hits(first) > 0);
      assert.equal(total(first, 'dlab_s3_cache_lookups_total', { result: 'miss' }), 0);

      // the same run again: the objects are there (HEAD), nothing is uploaded; the reads hit again
      const second = await smoke();
      assert.equal(total(second, 'dlab_artifact_written_bytes_total', { store: 's3' }), uploaded);
      assert.equal(hits(second), 2 * hits(first));

      // a store with an empty cache (in this process, on a meter of the test's): a miss, then a hit
      const m = memoryMeter();
      bindMetrics(m.meter);
      try {
        const status = await cluster.waitFor('smoke-metrics', () => true);
        const ref = status.artifacts[0];
        const reader = new S3ArtifactStore({ bucket: 'dlab', prefix: 'metrics', cacheDir: join(cluster.root.path, 'reader-cache'), cacheMaxBytes: 1 << 30, client: s3.client(), endpoint: s3.endpoint });
        await reader.get(ref);
        await reader.get(ref);
        assert.deepEqual([m.get('dlab_s3_cache_lookups_total', { result: 'miss' }), m.get('dlab_s3_cache_lookups_total', { result: 'hit' })], [1, 1]);
        assert.equal(m.get('dlab_artifact_read_bytes_total', { store: 's3' }), 2 * ref.bytes);
      } finally {
        bindMetrics(undefined);
      }
    } finally {
      await s3.stop();
    }
  });

  it('a --metrics-port that is taken or malformed is refused at start (exit 2, naming the flag); `dlab server --metrics-port` serves the server\'s metrics', async () => {
    const env = cluster.env(home(), 'metrics');
    const taken = await dlab(['worker', '--metrics-port', `127.0.0.1:${workerPort}`], env);
    assert.equal(taken.code, 2, taken.stderr);
    assert.match(taken.stderr, new RegExp(`--metrics-port: cannot serve metrics on 127\\.0\\.0\\.1:${workerPort} \\(.*Address already in use.*\\); choose another port`));
    const bad = await dlab(['worker', '--metrics-port', 'localhost:x'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--metrics-port: expected a port \(1-65535\) or IP:PORT such as 127\.0\.0\.1:9464, found "localhost:x"/);

    const port = await freePort();
    const serverTaken = await dlab(['server', '--port', String(port), '--headless', '--db', join(cluster.root.path, 'other.db'), '--metrics-port', String(workerPort)], env);
    assert.equal(serverTaken.code, 2, serverTaken.stderr);
    assert.match(serverTaken.stderr, new RegExp(`metrics port ${workerPort} on 127\\.0\\.0\\.1 is taken; .* --metrics-port`));

    // the CLI's server: its banner names the endpoint, which serves the server's series
    const metricsPort = await freePort();
    const child = spawn(process.execPath, [DLAB_BIN, 'server', '--port', String(port), '--headless', '--db', join(cluster.root.path, 'cli.db'), '--metrics-port', String(metricsPort)], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      let log = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d) => ((log += d), /Temporal dev server at/.test(log) && resolve()));
        child.once('exit', (code) => reject(new Error(`dlab server exited with ${code}:\n${log}`)));
      });
      assert.match(log, new RegExp(`metrics http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
      const s = await scrapeUntil(`http://127.0.0.1:${metricsPort}/metrics`, (x) => total(x, 'service_requests', { service_name: 'frontend' }) > 0);
      assert.ok(total(s, 'service_requests', { service_name: 'frontend' }) > 0, 'the frontend counts its requests');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

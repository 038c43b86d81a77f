import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runHistory } from '../../client/history';
import { startExperiment } from '../../client/start';
import { fileOfUri, sha256Hex } from '../../lib/store/artifact-store';
import type { NamedArtifact } from '../../workflows/run-state';
import type { LineageReport } from '../../client/lineage';
import type { ArtifactNode, LineageNode } from '../../lib/store/lineage';
import { TestCluster, dlab } from '../helpers/cluster';
import { S3TestServer } from '../helpers/s3-server';

/**
 * A run whose workers keep artifacts in S3 (DLAB_STORE=s3://…, a real versitygw), against the
 * same run on the local store: the same bytes, `dlab verify`, `lineage` and `report` on the
 * objects, and a store that
 * is down when the run starts: the stage is retried and the run completes once it is back.
 */
describe('a smoke run on the S3 store (real dev server, real versitygw)', function () {
  this.timeout(300_000);
  const ID = 's3-smoke';
  const config = { seed: 9, rows: 600, dim: 8, hidden: 16, batchSize: 100, rounds: 2 };
  const PREFIX = 'team/exp';
  let cluster: TestCluster;
  let s3: S3TestServer;
  let local: NamedArtifact[];
  let s3env: NodeJS.ProcessEnv;
  let onS3: NamedArtifact[];
  /** the object of an s3:// URI as versitygw's POSIX backend keeps it */
  const objectFile = (uri: string) => join(s3.dataDir, uri.slice('s3://'.length));

  async function runToEnd(queue: string): Promise<NamedArtifact[]> {
    await startExperiment(await cluster.client(), { kind: 'smoke', config, id: ID, taskQueue: queue, rerun: true });
    const s = await cluster.waitFor(ID, (st) => st.state !== 'running' && st.state !== 'paused', 180_000);
    assert.equal(s.state, 'completed', JSON.stringify(s));
    return s.artifacts;
  }

  before(async () => {
    [cluster, s3] = await Promise.all([TestCluster.start(), S3TestServer.start(['dlab'])]);
    s3env = { ...s3.env(), DLAB_STORE: `s3://dlab/${PREFIX}` };
    const w = await cluster.startWorker(cluster.home('local'), 'local');
    local = await runToEnd('local');
    await w.stop();
  });
  after(async () => {
    await cluster?.stop();
    await s3?.stop();
  });

  it('writes the same artifacts, byte for byte, as the local store; `dlab verify` re-hashes the objects', async () => {
    const home = cluster.home('s3');
    const w = await cluster.startWorker(home, 's3', undefined, { env: s3env });
    const got = await runToEnd('s3');
    onS3 = got;
    await w.stop();
    assert.deepEqual(got.map((a) => [a.name, a.sha256]), local.map((a) => [a.name, a.sha256]));
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i].uri, `s3://dlab/${PREFIX}/objects/${got[i].sha256.slice(0, 2)}/${got[i].sha256}.arrow`);
      assert.ok(readFileSync(objectFile(got[i].uri)).equals(readFileSync(fileOfUri(local[i].uri))), `${got[i].name}: bytes differ`);
    }
    assert.ok(!existsSync(join(home, 'artifacts')), 'nothing in the local store');
    assert.ok(existsSync(join(home, 'cache', 'objects')), 'the worker cached what it wrote');

    const env = { ...cluster.env(join(cluster.root.path, 'verifier'), 's3'), ...s3env };
    const ok = await dlab(['verify', ID], env);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /4\/4 artifacts of s3-smoke verified/);
    const victim = objectFile(got[3].uri);
    const bytes = readFileSync(victim);
    bytes[100] ^= 1;
    writeFileSync(victim, bytes);
    const bad = await dlab(['verify', ID], env);
    assert.equal(bad.code, 1, bad.stdout);
    assert.ok(bad.stdout.includes(`BAD ${got[3].uri}`), bad.stdout);
    bytes[100] ^= 1;
    writeFileSync(victim, bytes);
    assert.equal(sha256Hex(readFileSync(victim)), got[3].sha256);
  });

  it('`dlab lineage` (by a prefix, listed in the bucket) and `dlab report` read the objects', async () => {
    const env = { ...cluster.env(join(cluster.root.path, 'reader'), 's3'), ...s3env };
    const summary = onS3[3];
    const r = await dlab(['lineage', summary.sha256.slice(0, 10), '--json'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as LineageReport;
    assert.equal(report.sha256, summary.sha256);
    assert.deepEqual(report.problems, []);
    const chain: ArtifactNode[] = [];
    for (let n: LineageNode | undefined = report.tree; n?.kind === 'artifact'; n = n.parents[0]) chain.push(n);
    assert.deepEqual(chain.map((n) => n.stage), ['summarise', 'transform', 'transform', 'generate']);
    assert.deepEqual(chain.map((n) => n.sha256), [onS3[3], onS3[2], onS3[1], onS3[0]].map((a) => a.sha256));
    assert.ok(chain.every((n) => n.attempt?.workflowId === ID));

    const out = join(cluster.root.path, 'report-s3');
    const rep = await dlab(['report', ID, '--out', out], env);
    assert.equal(rep.code, 0, rep.stderr);
    assert.doesNotMatch(rep.stderr, /dlab: warning/, rep.stderr);
    assert.ok(existsSync(join(out, 'index.html')));
  });

  it('`dlab worker` with a DLAB_STORE it cannot use exits 2 naming the variable, before connecting', async () => {
    for (const [k, v] of [['DLAB_STORE', 'gs://bucket/x'], ['DLAB_STORE', 's3://No_Such/x'], ['DLAB_CACHE_MAX_GB', 'lots']]) {
      const r = await dlab(['worker'], { ...cluster.env(cluster.home('bad-store'), 'bad-store'), ...s3env, [k]: v, TEMPORAL_ADDRESS: '127.0.0.1:1' });
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(k), r.stderr);
    }
  });

  it('a store that is down when the run starts: the first stage fails retryably naming the endpoint, and the run completes once it is back', async () => {
    const home = cluster.home('s3-outage');
    const env = { ...s3env, DLAB_STORE: `s3://dlab/${PREFIX}-outage` };
    const w = await cluster.startWorker(home, 's3-outage', undefined, { env });
    await s3.kill();
    await startExperiment(await cluster.client(), { kind: 'smoke', config, id: ID, taskQueue: 's3-outage', rerun: true });
    await cluster.waitFor(ID, (s) => s.state === 'running' && s.stage === 'generate');
    // let at least one attempt fail against the dead server (the SDK tries 3 times, the activity is retried after 1 s)
    const client = await cluster.client();
    const deadline = Date.now() + 60_000;
    let failed: string | undefined;
    while (!failed && Date.now() < deadline) {
      failed = (await runHistory(client, ID)).entries.find((e) => e.stage === 'generate' && e.status === 'failed')?.error;
      if (!failed) await new Promise((r) => setTimeout(r, 500));
    }
    await s3.startServer();
    assert.ok(failed, 'an attempt failed while the store was down');
    assert.ok(failed.includes(s3.endpoint), failed);
    const s = await cluster.waitFor(ID, (st) => st.state !== 'running' && st.state !== 'paused', 180_000);
    await w.stop();
    assert.equal(s.state, 'completed', JSON.stringify(s));
    assert.deepEqual(s.artifacts.map((a) => a.sha256), local.map((a) => a.sha256));
    for (const a of s.artifacts) assert.equal(sha256Hex(readFileSync(objectFile(a.uri))), a.sha256);
  });
});

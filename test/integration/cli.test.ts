import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileOfUri } from '../../lib/store/artifact-store';
import { freePort } from '../../client/dev-server';
import { TestCluster, dlab } from '../helpers/cluster';

/** The `dlab` command against a real dev server and real worker processes. */
describe('dlab CLI (real Temporal dev server, real workers)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let env: NodeJS.ProcessEnv;
  let configFile: string;
  const config = { seed: 5, rows: 400, dim: 8, hidden: 16, batchSize: 100, rounds: 2 };

  before(async () => {
    cluster = await TestCluster.start();
    const home = cluster.home('cli');
    env = cluster.env(home, 'cli');
    // the worker paces the runs that pause, resume and cancel test: 250 ms after each batch (600 for ctl-cancel)
    await cluster.startWorker(home, 'cli', { 'ctl-pause': 250, 'ctl-corrupt': 250, 'ctl-cancel': 600 });
    configFile = join(cluster.root.path, 'smoke.json');
    writeFileSync(configFile, JSON.stringify(config));
  });
  after(async () => cluster?.stop());

  describe('a completed run', () => {
    let status: Record<string, unknown> & { artifacts: { name: string; uri: string; sha256: string }[] };
    before(async () => {
      const r = await dlab(['run', 'smoke', '--config', configFile, '--id', 'cli-1', '--wait', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      status = JSON.parse(r.stdout);
    });

    it('`run --wait --json` prints the final status: completed, with table, 2 transforms and the summary', () => {
      assert.equal(status.state, 'completed');
      assert.equal(status.kind, 'smoke');
      assert.deepEqual(status.artifacts.map((a) => a.name), ['table', 'transformed', 'transformed', 'summary']);
    });

    it('`status --json` has exactly the documented shape', async () => {
      const r = await dlab(['status', 'cli-1', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      for (const key of ['id', 'kind', 'state', 'stage', 'step', 'progress', 'artifacts']) assert.ok(key in s, `missing ${key}`);
      assert.deepEqual([s.id, s.state, s.step], ['cli-1', 'completed', 2]);
      assert.deepEqual(s.progress, { done: 2, total: 2 });
      assert.deepEqual(Object.keys(s.artifacts[0]).sort(), ['bytes', 'name', 'rows', 'schema', 'sha256', 'step', 'uri']);
      assert.equal(s.artifacts[0].rows, 400);
      assert.equal(s.artifacts[0].schema, 'smoke.table@1');
    });

    it('`history --json` lists one completed attempt per stage, each consuming the previous output', async () => {
      const r = await dlab(['history', 'cli-1', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const h = JSON.parse(r.stdout) as { id: string; entries: Record<string, unknown>[] };
      assert.equal(h.id, 'cli-1');
      const e = h.entries as unknown as { stage: string; activity: string; attempt: number; status: string; worker: string; startedAt: string; endedAt: string; durationMs: number; inputs: string[]; outputs: string[] }[];
      assert.deepEqual(e.map((x) => x.stage), ['generate', 'transform', 'transform', 'summarise']);
      assert.deepEqual(e.map((x) => x.activity), ['smokeGenerate', 'smokeTransform', 'smokeTransform', 'smokeSummarise']);
      assert.ok(e.every((x) => x.attempt === 1 && x.status === 'completed' && x.worker && x.durationMs >= 0 && Date.parse(x.endedAt) >= Date.parse(x.startedAt)));
      assert.deepEqual(e[1].inputs, e[0].outputs);
      assert.deepEqual(e[2].inputs, e[1].outputs);
      assert.deepEqual(e[3].inputs, e[2].outputs);
      assert.deepEqual(e.flatMap((x) => x.outputs), status.artifacts.map((a) => a.sha256));
    });

    it('`verify` re-hashes all 4 artifacts; after one byte of the summary changes it exits 1 naming that file', async () => {
      const ok = await dlab(['verify', 'cli-1'], env);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /4\/4 artifacts of cli-1 verified/);
      const file = fileOfUri(status.artifacts[3].uri);
      const bytes = readFileSync(file);
      bytes[100] ^= 1;
      writeFileSync(file, bytes);
      const bad = await dlab(['verify', 'cli-1'], env);
      assert.equal(bad.code, 1);
      assert.ok(bad.stdout.includes(`BAD ${file}`), bad.stdout);
      assert.ok(bad.stdout.includes(status.artifacts[3].sha256));
      assert.match(bad.stdout, /3\/4 artifacts/);
    });
  });

  it('`run --json` without --wait prints exactly {id, runId}', async () => {
    const r = await dlab(['run', 'smoke', '--config', configFile, '--id', 'cli-nowait', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['id', 'runId']);
    assert.equal(out.id, 'cli-nowait');
    await cluster.waitFor('cli-nowait', (s) => s.state === 'completed');
  });

  describe('pause, resume, cancel (through the CLI), and an artifact corrupted under a running experiment', () => {
    // 3 transforms of 8 batches × 250 ms ≈ 2 s each
    let slowFile: string;
    before(() => {
      slowFile = join(cluster.root.path, 'slow.json');
      writeFileSync(slowFile, JSON.stringify({ ...config, batchSize: 50, rounds: 3 }));
    });
    const status = async (id: string) => JSON.parse((await dlab(['status', id, '--json'], env)).stdout);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    it('pause holds the run at the next stage boundary (no new step starts); resume lets it finish', async () => {
      assert.equal((await dlab(['run', 'smoke', '--config', slowFile, '--id', 'ctl-pause'], env)).code, 0);
      await cluster.waitFor('ctl-pause', (s) => s.stage === 'transform' && s.step === 1);
      const p = await dlab(['pause', 'ctl-pause'], env);
      assert.equal(p.code, 0, p.stderr);
      assert.equal((await status('ctl-pause')).state, 'paused');
      await cluster.waitFor('ctl-pause', (s) => s.artifacts.length === 2); // step 1 finishes
      await sleep(3000);
      const held = await status('ctl-pause');
      assert.deepEqual([held.state, held.step, held.artifacts.length], ['paused', 1, 2]);
      const { entries } = JSON.parse((await dlab(['history', 'ctl-pause', '--json'], env)).stdout);
      assert.equal(entries.length, 2, 'generate and transform 1 only');
      assert.equal((await dlab(['resume', 'ctl-pause'], env)).code, 0);
      const done = await cluster.waitFor('ctl-pause', (s) => s.state === 'completed');
      assert.equal(done.artifacts.length, 5);
    });

    it('cancel ends the run as cancelled and the running transform stops writing', async () => {
      const slower = join(cluster.root.path, 'slower.json');
      writeFileSync(slower, JSON.stringify({ ...config, batchSize: 50, rounds: 3 })); // ≈ 5 s per transform, paced
      assert.equal((await dlab(['run', 'smoke', '--config', slower, '--id', 'ctl-cancel'], env)).code, 0);
      await cluster.waitFor('ctl-cancel', (s) => s.stage === 'transform' && s.step === 1 && (s.stageProgress?.done ?? 0) >= 2);
      const c = await dlab(['cancel', 'ctl-cancel'], env);
      assert.equal(c.code, 0, c.stderr);
      const s = await cluster.waitFor('ctl-cancel', (st) => st.state === 'cancelled');
      assert.equal(s.state, 'cancelled');
      const { entries } = JSON.parse((await dlab(['history', 'ctl-cancel', '--json'], env)).stdout);
      assert.deepEqual(entries.map((e: { stage: string; status: string }) => [e.stage, e.status]), [['generate', 'completed'], ['transform', 'cancelled']]);
      const objects = join(cluster.home('cli'), 'artifacts', 'objects');
      const count = () => readdirSync(objects).reduce((n, d) => n + readdirSync(join(objects, d)).length, 0);
      const before = count();
      await sleep(2000);
      assert.equal(count(), before, 'no chunk written after the cancellation reached the activity');
      const desc = await (await cluster.client()).workflow.getHandle('ctl-cancel').describe();
      assert.equal(desc.status.name, 'CANCELLED');
    });

    it('an input artifact corrupted while the run is paused: the next stage fails at once (no retries), naming the file and the expected hash', async () => {
      assert.equal((await dlab(['run', 'smoke', '--config', slowFile, '--id', 'ctl-corrupt'], env)).code, 0);
      await cluster.waitFor('ctl-corrupt', (s) => s.stage === 'transform' && s.step === 1);
      await dlab(['pause', 'ctl-corrupt'], env);
      const paused = await cluster.waitFor('ctl-corrupt', (s) => s.artifacts.length === 2);
      const victim = paused.artifacts[1];
      const file = fileOfUri(victim.uri);
      const bytes = readFileSync(file);
      bytes[bytes.length - 50] ^= 0xff;
      writeFileSync(file, bytes);
      await dlab(['resume', 'ctl-corrupt'], env);
      const failed = await cluster.waitFor('ctl-corrupt', (s) => s.state === 'failed');
      assert.ok(failed.error?.includes(file), failed.error);
      assert.ok(failed.error?.includes(victim.sha256), failed.error);
      const { entries } = JSON.parse((await dlab(['history', 'ctl-corrupt', '--json'], env)).stdout);
      const last = entries[entries.length - 1];
      assert.deepEqual([last.stage, last.attempt, last.status], ['transform', 1, 'failed']);
      assert.ok(last.error.includes(file));
    });
  });

  describe('bad input: a clear message, a non-zero exit, and no workflow started', () => {
    async function assertNotStarted(id: string) {
      const client = await cluster.client();
      await assert.rejects(client.workflow.getHandle(id).describe(), /not found/i);
    }

    it('unknown kind', async () => {
      const r = await dlab(['run', 'smokey', '--config', configFile, '--id', 'bad-kind'], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown experiment kind "smokey" \(expected one of: smoke/);
      await assertNotStarted('bad-kind');
    });

    it('negative size: names rows and the value found', async () => {
      const f = join(cluster.root.path, 'neg.json');
      writeFileSync(f, JSON.stringify({ ...config, rows: -3 }));
      const r = await dlab(['run', 'smoke', '--config', f, '--id', 'bad-rows'], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /rows: .*found -3/);
      assert.ok(r.stderr.includes(f));
      await assertNotStarted('bad-rows');
    });

    it('missing and ill-typed fields are each named', async () => {
      const f = join(cluster.root.path, 'missing.json');
      writeFileSync(f, JSON.stringify({ rows: 10, batchSize: 'ten' }));
      const r = await dlab(['run', 'smoke', '--config', f, '--id', 'bad-fields'], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /seed:/);
      assert.match(r.stderr, /batchSize: .*found "ten"/);
      await assertNotStarted('bad-fields');
    });

    it('a config file that does not exist, or is not JSON', async () => {
      const missing = await dlab(['run', 'smoke', '--config', '/nonexistent/x.json'], env);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /config file \/nonexistent\/x\.json: cannot read it \(ENOENT\)/);
      const f = join(cluster.root.path, 'broken.json');
      writeFileSync(f, '{"seed": 1,');
      const broken = await dlab(['run', 'smoke', '--config', f], env);
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /not valid JSON/);
    });

    it('a malformed `dlab server --sqlite-pragma`: exit 2 naming the flag, before any server starts', async () => {
      const db = join(cluster.root.path, 'pragma.db');
      const r = await dlab(['server', '--headless', '--port', String(await freePort()), '--db', db, '--sqlite-pragma', 'journal_mode wal'], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--sqlite-pragma "journal_mode wal": expected name=value, e\.g\. journal_mode=delete/);
      assert.ok(!existsSync(db), 'no database was created');
    });

    it('an unreachable server: a clear error naming the address, within seconds, not a hang', async () => {
      const port = await freePort();
      const r = await dlab(['status', 'anything'], { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot reach the Temporal server at 127\\.0\\.0\\.1:${port}`));
      assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    });
  });
});

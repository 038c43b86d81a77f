import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../client/dev-server';
import { TestCluster, dlab } from '../helpers/cluster';
import { tempDir } from '../helpers/tmp';

interface Doctor {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail'; required: boolean; detail: string; fix?: string }[];
}

const byName = (d: Doctor) => Object.fromEntries(d.checks.map((c) => [c.name, c]));

/** `dlab doctor` as a user runs it: against a real dev server, a missing one and a bad DLAB_HOME. */
describe('dlab doctor', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  const tmp = tempDir('doctor');
  before(async () => (cluster = await TestCluster.start()));
  after(async () => {
    await cluster?.stop();
    tmp.cleanup();
  });

  it('with a server at TEMPORAL_ADDRESS: every check listed, all required ones ok, exit 0', async () => {
    const r = await dlab(['doctor', '--json'], { TEMPORAL_ADDRESS: cluster.address, DLAB_HOME: join(tmp.path, 'home') });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const d = JSON.parse(r.stdout) as Doctor;
    assert.deepEqual(d.checks.map((c) => c.name), ['node', 'npm', 'onnxruntime', 'temporal-cli', 'server', 'dlab-home', 'disk', 'chromium']);
    const c = byName(d);
    assert.equal(d.ok, true);
    for (const name of ['node', 'npm', 'onnxruntime', 'temporal-cli', 'server', 'dlab-home']) assert.equal(c[name].status, 'ok', `${name}: ${c[name].detail}`);
    assert.match(c.onnxruntime.detail, /= \[2, 3\]/);
    assert.match(c.server.detail, new RegExp(`${cluster.address} answers`));
    assert.match(c['temporal-cli'].detail, /temporal version/);
    assert.equal(c.chromium.required, false);
  });

  it('the human table: one line per check, a fix under each failure, a verdict', async () => {
    const port = await freePort();
    const r = await dlab(['doctor'], { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, DLAB_HOME: join(tmp.path, 'home') });
    assert.equal(r.code, 1, 'a server named by TEMPORAL_ADDRESS that does not answer is a failure');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines.find((l) => /^FAIL\s+server/.test(l)) ?? '', new RegExp(`127.0.0.1:${port}`));
    assert.ok(lines.some((l) => /^\s+fix: start one with `npx dlab server`/.test(l)), r.stdout);
    assert.equal(lines.at(-1), 'not ready: server failed');
  });

  it('DLAB_HOME under a file fails with the error and a fix; no TEMPORAL_ADDRESS: a missing server is only a warning', async () => {
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, 'x');
    const env: NodeJS.ProcessEnv = { ...process.env, DLAB_HOME: join(file, 'home') };
    delete env.TEMPORAL_ADDRESS;
    const r = await dlab(['doctor', '--json'], env);
    assert.equal(r.code, 1);
    const c = byName(JSON.parse(r.stdout) as Doctor);
    assert.equal(c['dlab-home'].status, 'fail');
    assert.match(c['dlab-home'].detail, /ENOTDIR/);
    assert.match(c['dlab-home'].fix ?? '', /set DLAB_HOME/);
    assert.notEqual(c.server.status, 'fail', 'no server is meant to run: ok or warn, never a failure');
    assert.equal(c.server.required, false);
  });
});

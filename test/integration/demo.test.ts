import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../client/dev-server';
import { DLAB_BIN, dlab } from '../helpers/cluster';
import { tempDir } from '../helpers/tmp';

/**
 * `dlab demo` (= `npm start`) with tiny configs of the same code paths: dev server, worker,
 * an In-Context RLVR and a GORACS run, a report of both, the web UI address; and Ctrl-C in
 * the middle leaves no process and no listening port behind.
 */
const ICRLVR = {
  kind: 'icrlvr',
  mode: 'icrlvr',
  seed: 3,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 20, heldOutQuestions: 6, demoPool: 8 },
  pretrain: { steps: 3, batchSize: 8 },
  steps: 2,
  questionsPerStep: 3,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 12,
  evalEvery: 1,
  evalSamples: 2,
  rolloutShards: 1,
  batchSize: 8,
};
const GORACS = {
  kind: 'goracs',
  seed: 1,
  budget: 15,
  maxIters: 3,
  cutNum: 3,
  model: { build: { vocab: 130, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 80, valUsers: 20, testUsers: 20, seed: 3 },
  evaluation: { methods: ['goracs', 'random'], seeds: [0], epochs: 2, negatives: 10 },
  embedShards: 1,
  batchSize: 32,
};

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}

/** Processes whose command line mentions `text` (the demo's temp DLAB_HOME names its server's database). */
function processesMentioning(text: string): string[] {
  const r = spawnSync('pgrep', ['-af', text], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
}

describe('dlab demo (npm start)', function () {
  this.timeout(240_000);
  const home = tempDir('demo');
  const icrlvr = join(home.path, 'icrlvr.json');
  const goracs = join(home.path, 'goracs.json');
  before(() => {
    writeFileSync(icrlvr, JSON.stringify(ICRLVR));
    writeFileSync(goracs, JSON.stringify(GORACS));
  });
  after(() => home.cleanup());

  it('runs an icrlvr and a goracs experiment to completion, writes one report and names the web UI; exits with its server stopped', async () => {
    const port = await freePort();
    const r = await dlab(['demo', '--exit', '--icrlvr', icrlvr, '--goracs', goracs], { DLAB_HOME: join(home.path, 'a'), DLAB_DEMO_PORT: String(port) });
    assert.equal(r.code, 0, r.stderr);
    const report = /report:\s+(\S+index\.html)/.exec(r.stdout)?.[1];
    assert.ok(report && existsSync(report), `report path in:\n${r.stdout}`);
    assert.match(r.stdout, /demo-icrlvr-\d+ {2}\(icrlvr\) {2}completed/);
    assert.match(r.stdout, /demo-goracs-\d+ {2}\(goracs\) {2}completed/);
    assert.match(r.stdout, /held-out avg@k \d\.\d{3} at the start → \d\.\d{3} after 2 RL steps/);
    assert.match(r.stdout, /goracs {3}seed 0 {2}HR@10 \d\.\d{3}/);
    const models = readdirSync(join(home.path, 'a', 'models'));
    assert.ok(models.some((m) => m.startsWith('pretrained-')), `the icrlvr config pretrains its model: ${models.join(', ')}`);
    assert.match(r.stdout, new RegExp(`web UI:\\s+http://127\\.0\\.0\\.1:${port + 1000}`));
    assert.equal(await listening(port), false, 'the dev server is stopped');
    assert.deepEqual(processesMentioning(join(home.path, 'a')), []);
  });

  it('Ctrl-C during the runs stops runs, worker and server: exit 130, nothing left running or listening', async () => {
    const port = await freePort();
    const dlabHome = join(home.path, 'b');
    const child = spawn(process.execPath, [DLAB_BIN, 'demo', '--icrlvr', icrlvr, '--goracs', goracs], {
      env: { ...process.env, DLAB_HOME: dlabHome, DLAB_DEMO_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // interrupt once the server is up and the worker is running the two experiments
    await new Promise<void>((res, rej) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
        if (/web UI http/.test(stderr)) res();
      });
      child.once('exit', () => rej(new Error(`demo exited before its server was up:\n${stderr}`)));
    });
    // then as soon as the runs have written their first artifact: mid-run, whatever the machine's speed
    const objects = join(dlabHome, 'artifacts', 'objects');
    const deadline = Date.now() + 60_000;
    while (!(existsSync(objects) && readdirSync(objects).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /stopping the demo/);
    assert.equal(await listening(port), false, 'the dev server is stopped');
    assert.deepEqual(processesMentioning(dlabHome), []);
  });
});

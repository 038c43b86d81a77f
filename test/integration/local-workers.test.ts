import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { physicalCores } from '../../lib/model/session-cache';
import { livePeers, peersDir } from '../../workers/local-peers';
import { TestCluster, WorkerProcess } from '../helpers/cluster';

/** Waits until `w` has written a line matching `re` to stderr, or `ms` have passed; returns the stderr. */
async function stderrAfter(w: WorkerProcess, re: RegExp, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  while (!re.test(w.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return w.stderr();
}

describe('`dlab worker` processes sharing a machine (real dev server)', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start();
  });
  after(async () => cluster?.stop());

  it('a worker that runs models warns at start when the workers of its machine ask for more intra-op threads than it has cores, naming them and the count to give each; a bookkeeping worker does not; a stopped worker leaves no record', async () => {
    const cores = physicalCores();
    const home = cluster.home('threads');
    const earlier = livePeers(); // workers other tests left running, if any
    const a = await cluster.startWorker(home, 'threads-a', undefined, { args: ['--ort-threads', String(cores)] });
    const aLog = await stderrAfter(a, /warning/, 500);
    if (!earlier.length) assert.doesNotMatch(aLog, /warning/, 'alone on the machine, a worker with one thread per core fits');
    assert.ok(existsSync(join(peersDir(), `${a.process.pid}.json`)), 'a running worker keeps a record');

    const b = await cluster.startWorker(home, 'threads-b', undefined, { args: ['--ort-threads', '1'] });
    const bLog = await stderrAfter(b, /warning/, 5_000);
    const others = earlier.length + 1;
    assert.match(bLog, new RegExp(`dlab worker: warning: ${others} other dlab workers? on this machine \\(.*pid ${a.process.pid} at ${cores}.*\\) and this one \\(1\\) ask ONNX Runtime for ${earlier.reduce((n, w) => n + w.threads, cores + 1)} intra-op threads a session on ${cores} physical cores?`));
    assert.match(bLog, new RegExp(`--ort-threads ${Math.max(1, Math.floor(cores / (others + 1)))} each`));

    const c = await cluster.startWorker(home, 'threads-c', undefined, { args: ['--serve', 'bookkeeping', '--ort-threads', String(cores)], env: { DLAB_QUEUES: 'bookkeeping=threads-bookkeeping' } });
    assert.doesNotMatch(await stderrAfter(c, /warning/, 500), /warning/, 'a worker that runs no model does not warn');
    assert.equal(existsSync(join(peersDir(), `${c.process.pid}.json`)), false, 'nor keeps a record');

    await a.stop();
    assert.equal(existsSync(join(peersDir(), `${a.process.pid}.json`)), false, 'a stopped worker removes its record');
    assert.deepEqual(livePeers().map((w) => w.pid).filter((p) => p === a.process.pid), []);
    await b.stop();
    await c.stop();
  });
});

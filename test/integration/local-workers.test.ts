import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { physicalCores } from '../../lib/model/session-cache';
import { livePeers, peersDir } from '../../workers/local-peers';
import { TestCluster, WorkerProcess } from '../helpers/cluster';
import { tempDir } from '../helpers/tmp';

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
    // the workers' records go under a TMPDIR of this test's own: no other worker of this user is among them
    const tmp = tempDir('peers-tmp');
    try {
      const env = { TMPDIR: tmp.path };
      const dir = peersDir(tmp.path);
      const cores = physicalCores();
      const home = cluster.home('threads');
      const a = await cluster.startWorker(home, 'threads-a', undefined, { args: ['--ort-threads', String(cores)], env });
      assert.doesNotMatch(await stderrAfter(a, /warning/, 500), /warning/, 'alone on the machine, a worker with one thread per core fits');
      assert.deepEqual(livePeers(dir).map((w) => [w.pid, w.threads]), [[a.process.pid, cores]], 'a running worker keeps a record');

      const b = await cluster.startWorker(home, 'threads-b', undefined, { args: ['--ort-threads', '1'], env });
      const bLog = await stderrAfter(b, /warning/, 5_000);
      assert.match(bLog, new RegExp(`dlab worker: warning: 1 other dlab worker on this machine \\(pid ${a.process.pid}: ${cores} threads?\\) and this one \\(1 thread\\) run ONNX Runtime pools of ${cores + 1} intra-op threads in all on ${cores} physical cores?`));
      assert.match(bLog, cores >= 2 ? new RegExp(`restart them with --ort-threads ${Math.floor(cores / 2)} each`) : /run at most 1 worker here/);

      const c = await cluster.startWorker(home, 'threads-c', undefined, { args: ['--serve', 'bookkeeping', '--ort-threads', String(cores)], env: { ...env, DLAB_QUEUES: 'bookkeeping=threads-bookkeeping' } });
      assert.doesNotMatch(await stderrAfter(c, /warning/, 500), /warning/, 'a worker that runs no model does not warn');
      assert.equal(existsSync(join(dir, `${c.process.pid}.json`)), false, 'nor keeps a record');

      await a.stop();
      // checked before any livePeers call, which would remove the record of a dead process itself
      assert.equal(existsSync(join(dir, `${a.process.pid}.json`)), false, 'a stopped worker removes its record');
      assert.deepEqual(livePeers(dir).map((w) => w.pid), [b.process.pid]);
      await b.stop();
      await c.stop();
    } finally {
      tmp.cleanup();
    }
  });
});

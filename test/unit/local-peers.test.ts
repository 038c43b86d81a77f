import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chmodSync } from 'node:fs';
import { LocalWorker, livePeers, oversubscription, registerLocalWorker, startTime } from '../../workers/local-peers';
import { tempDir } from '../helpers/tmp';

describe('the dlab workers of this machine (workers/local-peers.ts)', () => {
  it('registers this process; lists the live others; removes the records of dead processes and of pids that now belong to another process', () => {
    const dir = tempDir('peers');
    try {
      const parent = JSON.parse(JSON.stringify({ pid: process.ppid, threads: 3, started: startTime(process.ppid) })) as LocalWorker; // as read back (no start time off Linux)
      writeFileSync(join(dir.path, `${process.ppid}.json`), JSON.stringify(parent));
      writeFileSync(join(dir.path, '4194305.json'), JSON.stringify({ pid: 2 ** 22 + 1, threads: 2 })); // no such pid: above the largest pid_max Linux allows
      if (parent.started !== undefined) writeFileSync(join(dir.path, '1.json'), JSON.stringify({ pid: process.ppid, threads: 2, started: `${parent.started}0` })); // a reused pid: another start time
      writeFileSync(join(dir.path, 'notes.txt'), 'not a record');
      const others = registerLocalWorker(1, dir.path);
      assert.deepEqual(others, [parent]);
      assert.deepEqual(readdirSync(dir.path).sort(), [`${process.pid}.json`, `${process.ppid}.json`, 'notes.txt'].sort());
      assert.deepEqual(livePeers(dir.path), [parent], 'this process is not its own peer');
    } finally {
      dir.cleanup();
    }
  });

  it('a directory that cannot be made, or that others may write, means no record and no peers, not an error', () => {
    const dir = tempDir('peers-file');
    try {
      const file = join(dir.path, 'a-file');
      writeFileSync(file, '');
      assert.deepEqual(registerLocalWorker(2, join(file, 'sub')), []);
      assert.equal(existsSync(join(file, 'sub')), false);
      const shared = join(dir.path, 'shared');
      registerLocalWorker(2, shared);
      assert.deepEqual(readdirSync(shared), [`${process.pid}.json`]);
      chmodSync(shared, 0o777);
      writeFileSync(join(shared, `${process.ppid}.json`), JSON.stringify({ pid: process.ppid, threads: 2 }));
      assert.deepEqual(registerLocalWorker(2, shared), [], 'a directory others may write is not read');
    } finally {
      dir.cleanup();
    }
  });

  it('warns when the pools together ask for more threads than the cores, naming the others and the count to give each', () => {
    assert.equal(oversubscription(1, [{ pid: 10, threads: 1 }], 2), undefined);
    assert.equal(oversubscription(4, [], 4), undefined);
    assert.equal(
      oversubscription(2, [{ pid: 10, threads: 2 }], 2),
      'warning: 1 other dlab worker on this machine (pid 10: 2 threads) and this one (2 threads) run ONNX Runtime pools of 4 intra-op threads in all on 2 physical cores; ' +
        'pools that together have more threads than there are cores stall each other at every op. Divide the cores between the workers: restart them with --ort-threads 1 each (or DLAB_ORT_THREADS=1).',
    );
    assert.match(oversubscription(8, [{ pid: 10, threads: 8 }, { pid: 11, threads: 8 }], 8)!, /2 other dlab workers on this machine \(pid 10: 8 threads, pid 11: 8 threads\) and this one \(8 threads\) run ONNX Runtime pools of 24 intra-op threads in all on 8 physical cores.*--ort-threads 2 each/);
    assert.match(oversubscription(1, [{ pid: 10, threads: 1 }, { pid: 11, threads: 1 }], 2)!, /pools of 3 intra-op threads in all on 2 physical cores.*There are more workers than cores: run at most 2 workers here, at --ort-threads 1 each\.$/);
  });
});

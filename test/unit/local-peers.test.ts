import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { livePeers, oversubscription, registerLocalWorker, startTime } from '../../workers/local-peers';
import { tempDir } from '../helpers/tmp';

describe('the dlab workers of this machine (workers/local-peers.ts)', () => {
  it('registers this process; lists the live others; removes the records of dead processes and of pids that now belong to another process', () => {
    const dir = tempDir('peers');
    try {
      const parent = { pid: process.ppid, threads: 3, started: startTime(process.ppid) };
      writeFileSync(join(dir.path, `${process.ppid}.json`), JSON.stringify(parent));
      writeFileSync(join(dir.path, '4000000.json'), JSON.stringify({ pid: 4_000_000, threads: 2 })); // no such pid (above Linux's pid_max)
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

  it('a directory that cannot be made means no record and no peers, not an error', () => {
    const dir = tempDir('peers-file');
    try {
      const file = join(dir.path, 'a-file');
      writeFileSync(file, '');
      assert.deepEqual(registerLocalWorker(2, join(file, 'sub')), []);
      assert.equal(existsSync(join(file, 'sub')), false);
    } finally {
      dir.cleanup();
    }
  });

  it('warns when the pools together ask for more threads than the cores, naming the others and the count to give each', () => {
    assert.equal(oversubscription(1, [{ pid: 10, threads: 1 }], 2), undefined);
    assert.equal(oversubscription(4, [], 4), undefined);
    assert.equal(
      oversubscription(2, [{ pid: 10, threads: 2 }], 2),
      'warning: 1 other dlab worker on this machine (pid 10 at 2) and this one (2) ask ONNX Runtime for 4 intra-op threads a session on 2 physical cores; ' +
        'pools that together ask for more threads than there are cores stall each other at every op. Divide the cores between the workers: --ort-threads 1 each (or DLAB_ORT_THREADS=1).',
    );
    assert.match(oversubscription(8, [{ pid: 10, threads: 8 }, { pid: 11, threads: 8 }], 8)!, /2 other dlab workers on this machine \(pid 10 at 8, pid 11 at 8\) and this one \(8\) ask ONNX Runtime for 24 intra-op threads a session on 8 physical cores.*--ort-threads 2 each/);
  });
});

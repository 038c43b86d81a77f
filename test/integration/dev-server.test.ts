import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDevServer, startupLostPort } from '../../client/dev-server';
import { tempDir } from '../helpers/tmp';

describe('the dev server failing to start (real Temporal CLI)', function () {
  this.timeout(120_000);
  it('a server that exits during start-up for a reason other than a port is not tried again; the error gives the exit code and the server\'s own reason', async () => {
    const dir = tempDir('dev-server');
    try {
      const db = join(dir.path, 'a-directory.db'); // SQLite cannot open a directory as its file
      mkdirSync(db);
      const logFile = join(dir.path, 'server.log');
      await assert.rejects(startDevServer({ dbFile: db, headless: true, logFile }), (e: Error) => {
        assert.match(e.message, /^Temporal dev server on 127\.0\.0\.1:\d+ did not become ready \(it exited with 1\)\n.*failed starting server: .*unable to open database file/);
        return true;
      });
      assert.equal(readFileSync(logFile, 'utf8').match(/failed starting server/g)?.length, 1, 'one try: retrying cannot open the file');
    } finally {
      dir.cleanup();
    }
  });

  it('a port lost between a probe and the bind is what a try is repeated for', () => {
    assert.equal(startupLostPort('panic: failed assigning ephemeral port: listen tcp 127.0.0.1:0: socket: too many open files'), true);
    assert.equal(startupLostPort('time=… level=ERROR msg="failed starting server: … listen tcp 127.0.0.1:41023: bind: address already in use"'), true);
    assert.equal(startupLostPort('time=… level=ERROR msg="failed starting server: unable to open database file: out of memory (14)"'), false);
  });
});

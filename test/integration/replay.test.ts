import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { installRuntime, WORKFLOW_BUNDLE_PATH } from '../../workers/worker';
import { loadHistories } from '../helpers/histories';

/**
 * Histories recorded from real runs (uninterrupted, worker killed, server killed,
 * continued as new) and committed under test/histories. A workflow change that would make
 * a running experiment nondeterministic fails here: guard such changes with `patched()`.
 * Re-record with `DLAB_RECORD_HISTORIES=1 npx mocha dist/test/integration/durability.test.js`
 * only when adding histories, never to make this pass.
 */
describe('replay of recorded histories (determinism guard)', () => {
  it('every committed history replays against the current workflow code', async () => {
    installRuntime();
    const histories = loadHistories(join(PACKAGE_ROOT, 'test', 'histories'));
    assert.ok(histories.length >= 5, `found ${histories.length} histories`);
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }, histories)) {
      replayed += 1;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    }
    assert.equal(replayed, histories.length);
    assert.deepEqual(failures, []);
  });
});

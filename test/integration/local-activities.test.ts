import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { localActivities } from '../../client/events';
import { runHistory } from '../../client/history';
import { storeForHome } from '../../lib/store/artifact-store';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { DLAB_ACTIVITY_INTERCEPTORS, installRuntime } from '../../workers/worker';
import { TestCluster } from '../helpers/cluster';

/**
 * Bookkeeping steps as local activities (docs/architecture.md "Local activities"), with dlab's
 * activities and activity interceptors on a worker in this process and test workflows
 * (test/helpers/local-step-workflows.ts): an input error fails a local activity at once, as it
 * does a regular one; `dlab history` shows local steps from their markers.
 */
describe('local activities: retries and the audit trail (real dev server)', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let worker: Worker;
  let running: Promise<void>;
  const queue = 'local-steps';

  before(async () => {
    cluster = await TestCluster.start();
    installRuntime();
    const home = cluster.home('local');
    worker = await Worker.create({
      connection: await NativeConnection.connect({ address: cluster.address }),
      taskQueue: queue,
      workflowsPath: join(PACKAGE_ROOT, 'dist', 'test', 'helpers', 'local-step-workflows.js'),
      activities: createActivities({ store: storeForHome(home), modelsDir: join(home, 'models'), worker: 'local-test' }),
      interceptors: { activity: DLAB_ACTIVITY_INTERCEPTORS },
      identity: 'local-test-worker',
    });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await cluster?.stop();
  });

  it('an input error in a local activity is final: one attempt, a DlabInputError naming the field, shown by `history` as failed', async () => {
    const client = await cluster.client();
    const handle = await client.workflow.start('planWithBadConfig', { taskQueue: queue, workflowId: 'local-bad' });
    const err = await handle.result().then(
      () => assert.fail('the workflow should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    // the DlabInputError, wherever the SDK puts it in the chain (ActivityFailure → ApplicationFailure)
    const chain: unknown[] = [];
    for (let c: unknown = err.cause; c; c = (c as { cause?: unknown }).cause) chain.push(c);
    const cause = chain.find((c): c is ApplicationFailure => c instanceof ApplicationFailure && c.type === 'DlabInputError');
    assert.ok(cause, chain.map((c) => `${(c as Error).constructor.name}: ${(c as Error).message}`).join(' ← '));
    assert.equal(cause.type, 'DlabInputError');
    assert.equal(cause.nonRetryable, true);
    assert.match(cause.message, /steps/);
    const markers = localActivities((await handle.fetchHistory()).events ?? []);
    assert.equal(markers.length, 1);
    assert.deepEqual([markers[0].activityType, markers[0].attempt, markers[0].stage], ['icrlvrPlan', 1, 'rollout']);
    assert.match(markers[0].failure ?? '', /steps/);
    const { entries } = await runHistory(client, 'local-bad');
    assert.equal(entries.length, 1, JSON.stringify(entries));
    const [e] = entries;
    assert.deepEqual([e.activity, e.stage, e.attempt, e.status, e.worker, e.inputs], ['icrlvrPlan', 'rollout', 1, 'failed', 'local-test-worker', ['a'.repeat(64)]]);
    assert.match(e.error ?? '', /steps/);
  });

  it('a completed local step: `history` shows stage, attempt, worker, start, end and its output artifact', async () => {
    const client = await cluster.client();
    const result = (await client.workflow.execute('compareLocally', { taskQueue: queue, workflowId: 'local-compare' })) as { outputs: { comparison: { sha256: string } } };
    const { entries } = await runHistory(client, 'local-compare');
    assert.equal(entries.length, 1, JSON.stringify(entries));
    const [e] = entries;
    assert.deepEqual([e.activity, e.stage, e.attempt, e.status, e.worker], ['icrlvrCompare', 'compare', 1, 'completed', 'local-test-worker']);
    assert.deepEqual(e.outputs, [result.outputs.comparison.sha256]);
    assert.ok(e.startedAt && e.endedAt && e.durationMs !== null && e.durationMs >= 0, JSON.stringify(e));
  });
});

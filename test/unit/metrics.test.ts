import { strict as assert } from 'node:assert';
import { DlabInputError } from '../../lib/errors';
import { ACTIVITY_DURATION, ACTIVITY_DURATION_BUCKETS, bindMetrics, metrics } from '../../lib/metrics';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { tableFromColumns, vectorColumn } from '../../lib/store/columns';
import { EMBEDDINGS } from '../../schemas/artifacts';
import { memoryMeter } from '../helpers/metrics';
import { tempDir } from '../helpers/tmp';
import { exporterError, metricsBindAddress, prometheusTelemetry } from '../../workers/metrics';

describe('metrics options (workers/metrics.ts)', () => {
  it('--metrics-port: PORT binds every interface, IP:PORT one; anything else is an input error naming the flag', () => {
    assert.equal(metricsBindAddress('9464'), '0.0.0.0:9464');
    assert.equal(metricsBindAddress('127.0.0.1:9464'), '127.0.0.1:9464');
    assert.equal(metricsBindAddress('[::1]:9464'), '[::1]:9464');
    for (const bad of ['', '0', '65536', 'x', 'localhost:9464', '1.2.3:9464', '999.1.1.1:9464', '127.0.0.1:', ':9464']) {
      assert.throws(
        () => metricsBindAddress(bad),
        (e: Error) => e instanceof DlabInputError && e.where === '--metrics-port' && e.message === `--metrics-port: expected a port (1-65535) or IP:PORT such as 127.0.0.1:9464, found "${bad}"`,
        bad,
      );
    }
  });

  it("the exporter keeps Temporal's names and gives the activity histogram seconds-to-hours buckets", () => {
    const t = prometheusTelemetry('127.0.0.1:9464');
    assert.deepEqual(t, { metrics: { prometheus: { bindAddress: '127.0.0.1:9464', histogramBucketOverrides: { [ACTIVITY_DURATION]: ACTIVITY_DURATION_BUCKETS } } } });
    assert.deepEqual([ACTIVITY_DURATION_BUCKETS[0], ACTIVITY_DURATION_BUCKETS.at(-1)], [0.01, 8 * 3600]);
    assert.ok(ACTIVITY_DURATION_BUCKETS.every((b, i) => i === 0 || b > ACTIVITY_DURATION_BUCKETS[i - 1]));
  });

  it("the runtime's bind failure becomes an input error naming the flag; other errors pass through", () => {
    const e = exporterError(new Error('Failed to start prometheus metrics exporter: Address already in use (os error 98)'), '0.0.0.0:9464');
    assert.ok(e instanceof DlabInputError);
    assert.equal((e as DlabInputError).message, '--metrics-port: cannot serve metrics on 0.0.0.0:9464 (Failed to start prometheus metrics exporter: Address already in use (os error 98)); choose another port');
    const other = new Error('something else');
    assert.equal(exporterError(other, '0.0.0.0:9464'), other);
  });
});

describe("dlab's series (lib/metrics.ts) as the local store and the activities record them", () => {
  let dir: ReturnType<typeof tempDir>;
  let m: ReturnType<typeof memoryMeter>;
  beforeEach(() => {
    dir = tempDir('metrics');
    m = memoryMeter();
    bindMetrics(m.meter);
  });
  afterEach(() => {
    bindMetrics(undefined);
    dir.cleanup();
  });

  it('bytes written once per content, bytes read per get; nothing recorded once unbound', async () => {
    const store = new LocalArtifactStore(dir.path);
    const table = tableFromColumns({ id: new Int32Array([1, 2, 3]), embedding: vectorColumn(new Float32Array(6).fill(0.5), 2) });
    const lineage = { experimentId: 'e', stage: 's', producer: 'p', configHash: 'c'.repeat(64), codeVersion: 'dlab@test', parents: [] };
    const ref = await store.put(table, EMBEDDINGS, lineage);
    await store.put(table, EMBEDDINGS, lineage); // already stored: not written again
    assert.equal(m.get('dlab_artifact_written_bytes_total', { store: 'local' }), ref.bytes);
    await store.get(ref);
    await store.get(ref);
    assert.equal(m.get('dlab_artifact_read_bytes_total', { store: 'local' }), 2 * ref.bytes);

    metrics.activity('icrlvrRollout', 'completed', 2.5);
    metrics.rolloutBatch(120, 0.5);
    metrics.rolloutBatch(30, 0.25);
    assert.equal(m.get('dlab_activity_duration_seconds_count', { activity_type: 'icrlvrRollout', outcome: 'completed' }), 1);
    assert.equal(m.get('dlab_activity_duration_seconds', { activity_type: 'icrlvrRollout', outcome: 'completed' }), 2.5);
    assert.equal(m.get('dlab_rollout_tokens_total'), 150);
    assert.equal(m.get('dlab_rollout_tokens_per_second'), 120, 'the last batch: 30 tokens in 0.25 s');

    bindMetrics(undefined);
    await store.get(ref);
    assert.equal(m.get('dlab_artifact_read_bytes_total', { store: 'local' }), 2 * ref.bytes);
  });
});

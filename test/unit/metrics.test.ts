import { strict as assert } from 'node:assert';
import { DlabInputError } from '../../lib/errors';
import { ACTIVITY_DURATION, ACTIVITY_DURATION_BUCKETS } from '../../lib/metrics';
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

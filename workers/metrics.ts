import { isIP } from 'node:net';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, RuntimeOptions } from '@temporalio/worker';
import { DlabInputError } from '../lib/errors';
import { ACTIVITY_DURATION, ACTIVITY_DURATION_BUCKETS, metrics } from '../lib/metrics';

/** Where `dlab worker --metrics-port` binds when given a port alone: every interface, for a Prometheus on another machine. */
export const DEFAULT_METRICS_IP = '0.0.0.0';

/**
 * `--metrics-port` → the exporter's bind address: `PORT` (on {@link DEFAULT_METRICS_IP}) or
 * `IP:PORT` (`127.0.0.1:9464`, `[::1]:9464`). Anything else is an input error naming the flag.
 */
export function metricsBindAddress(value: string, flag = '--metrics-port'): string {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):)?(\d+)$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  const ip = m?.[1] ?? DEFAULT_METRICS_IP;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535 || !isIP(ip.replace(/^\[|\]$/g, ''))) {
    throw new DlabInputError(`${flag}: expected a port (1-65535) or IP:PORT such as 127.0.0.1:9464, found "${value}"`, flag);
  }
  return `${ip}:${port}`;
}

/**
 * The runtime's telemetry options for a Prometheus exporter on `bindAddress` (GET /metrics).
 * Temporal's own series keep their documented names (temporal_ prefix, no _total suffix,
 * durations in ms); dlab's are on the same exporter, with the activity-duration buckets above.
 */
export function prometheusTelemetry(bindAddress: string): NonNullable<RuntimeOptions['telemetryOptions']> {
  return { metrics: { prometheus: { bindAddress, histogramBucketOverrides: { [ACTIVITY_DURATION]: ACTIVITY_DURATION_BUCKETS } } } };
}

/** Turns the runtime's failure to bind the exporter into an input error naming the flag. */
export function exporterError(err: unknown, bindAddress: string, flag = '--metrics-port'): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (/prometheus|socket ?addr|address/i.test(message)) {
    return new DlabInputError(`${flag}: cannot serve metrics on ${bindAddress} (${message}); choose another port`, flag);
  }
  return err;
}

class TimeActivities implements ActivityInboundCallsInterceptor {
  constructor(private readonly activityType: string) {}

  async execute(input: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[0], next: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[1]) {
    const t0 = performance.now();
    let outcome: 'completed' | 'failed' = 'failed';
    try {
      const out = await next(input);
      outcome = 'completed';
      return out;
    } finally {
      // a metric that cannot be recorded (the runtime shutting down) must not change the activity's outcome
      try {
        metrics.activity(this.activityType, outcome, (performance.now() - t0) / 1000);
      } catch {
        /* dropped */
      }
    }
  }
}

/** Records dlab_activity_duration_seconds for every attempt of every activity, regular or local. */
export const timeActivities: ActivityInterceptorsFactory = (ctx) => ({ inbound: new TimeActivities(ctx.info.activityType) });

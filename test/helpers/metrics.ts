import type { MetricMeter, MetricTags } from '@temporalio/common';

/**
 * A metric meter that keeps totals in memory, `name{k=v,…}` → the sum of what was added or
 * recorded (a gauge: the last value; a histogram also counts samples under `name_count`). Tests
 * bind it with lib/metrics bindMetrics and unbind it after.
 */
export function memoryMeter(): { meter: MetricMeter; values: Map<string, number>; get(name: string, tags?: MetricTags): number } {
  const values = new Map<string, number>();
  const key = (name: string, tags: MetricTags = {}) => `${name}{${Object.entries(tags).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
  const add = (k: string, v: number) => values.set(k, (values.get(k) ?? 0) + v);
  const meter = {
    createCounter: (name: string) => ({ add: (v: number, tags?: MetricTags) => add(key(name, tags), v) }),
    createHistogram: (name: string) => ({
      record: (v: number, tags?: MetricTags) => {
        add(key(name, tags), v);
        add(key(`${name}_count`, tags), 1);
      },
    }),
    createGauge: (name: string) => ({ set: (v: number, tags?: MetricTags) => values.set(key(name, tags), v) }),
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, values, get: (name, tags) => values.get(key(name, tags)) ?? 0 };
}

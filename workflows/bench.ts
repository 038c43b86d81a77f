import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/** Runs `n` no-op activities one after another (the platform benchmark's round trip). */
export async function noopRoundTrips(n: number): Promise<void> {
  const { noop } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });
  for (let i = 0; i < n; i++) await noop();
}

/** Runs `n` no-op local activities one after another (the platform benchmark's local round trip). */
export async function noopLocalRoundTrips(n: number): Promise<void> {
  const { noop } = proxyLocalActivities<Activities>({ startToCloseTimeout: '1 minute' });
  for (let i = 0; i < n; i++) await noop();
}

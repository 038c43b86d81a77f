import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { startDevServer } from '../client/dev-server';
import { createWorker, WorkerOptions } from '../workers/worker';
import { tempDir } from '../test/helpers/tmp';

/**
 * For benchmarks: a dev server on a temp SQLite file (dlab's dynamic config and SQLite pragmas
 * unless others are given) and a worker in this process on queue `bench`; everything is stopped and removed
 * afterwards.
 */
export async function withBenchCluster<T>(
  fn: (client: Client, home: string) => Promise<T>,
  server_?: { dynamicConfig?: Record<string, number | boolean | string>; sqlitePragmas?: Record<string, string>; worker?: Pick<WorkerOptions, 'activityInterceptors'> },
): Promise<T> {
  const dir = tempDir('bench');
  const server = await startDevServer({ dbFile: join(dir.path, 'temporal.db'), headless: true, logFile: join(dir.path, 'server.log'), dynamicConfig: server_?.dynamicConfig, sqlitePragmas: server_?.sqlitePragmas });
  const home = join(dir.path, 'home');
  const worker = await createWorker({ address: server.address, taskQueue: 'bench', dlabHome: home, ...server_?.worker });
  const running = worker.run();
  const client = await connectClient({ address: server.address, namespace: 'default' });
  try {
    return await fn(client, home);
  } finally {
    await client.connection.close();
    worker.shutdown();
    await running;
    await server.stop();
    dir.cleanup();
  }
}

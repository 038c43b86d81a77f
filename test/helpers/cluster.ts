import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { DevServer, DevServerOptions, freePort, startDevServer } from '../../client/dev-server';
import { runStatus, StatusReport } from '../../client/status';
import type { GoracsMetrics, IcrlvrMetrics } from '../../schemas/status';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { tempDir } from './tmp';

export const DLAB_BIN = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
const PACED_WORKER = join(PACKAGE_ROOT, 'dist', 'test', 'helpers', 'paced-worker.js');

/** A status as tests read it: any kind's metrics by name (a test knows which kind it started). */
export type TestStatus = StatusReport & { metrics?: Partial<IcrlvrMetrics & GoracsMetrics> };

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `dlab …` as a user would, in a child process. */
export function dlab(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DLAB_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

export interface WorkerProcess {
  process: ChildProcess;
  identity: string;
  /** SIGKILL, as a crash would */
  kill(): Promise<void>;
  /** SIGTERM: graceful shutdown */
  stop(): Promise<void>;
  /** what the process has written to stderr so far */
  stderr(): string;
}

/**
 * A real dev server on a free port with its own SQLite file (headless), plus helpers to
 * start `dlab worker` processes against it and to run the CLI.
 */
export class TestCluster {
  readonly root = tempDir('cluster');
  readonly dbFile = join(this.root.path, 'temporal.db');
  server!: DevServer;
  port!: number;
  private clientPromise?: Promise<Client>;
  private readonly workers: WorkerProcess[] = [];
  /** further dev server options (e.g. a metrics port), kept across restarts */
  private serverOptions: Partial<DevServerOptions> = {};

  static async start(serverOptions: Partial<DevServerOptions> = {}): Promise<TestCluster> {
    const c = new TestCluster();
    c.port = await freePort();
    c.serverOptions = serverOptions;
    await c.startServer();
    return c;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async startServer(): Promise<void> {
    this.server = await startDevServer({ ...this.serverOptions, dbFile: this.dbFile, port: this.port, headless: true, logFile: join(this.root.path, 'server.log') });
    this.clientPromise = undefined;
  }

  client(): Promise<Client> {
    this.clientPromise ??= connectClient({ address: this.address, namespace: 'default' });
    return this.clientPromise;
  }

  /** DLAB_HOME and task queue of one scenario, so its workers and artifacts stay its own. */
  env(home: string, taskQueue: string): NodeJS.ProcessEnv {
    return { TEMPORAL_ADDRESS: this.address, DLAB_HOME: home, DLAB_TASK_QUEUE: taskQueue };
  }

  home(name: string): string {
    return join(this.root.path, 'homes', name);
  }

  /**
   * Starts `dlab worker` and resolves once it polls. With `pace` (workflow id or activity type →
   * ms, "*" for the rest), a test worker instead that waits that long after each batch and short
   * step, so a test can kill it mid-stage (test/helpers/paced-worker.ts). `extra` adds
   * `dlab worker` arguments (e.g. --serve) and environment (e.g. DLAB_QUEUES).
   */
  async startWorker(home: string, taskQueue: string, pace?: Record<string, number>, extra: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<WorkerProcess> {
    const args = pace ? [PACED_WORKER] : [DLAB_BIN, 'worker', ...(extra.args ?? [])];
    const env = { ...process.env, ...this.env(home, taskQueue), ...(pace ? { DLAB_TEST_PACE: JSON.stringify(pace) } : {}), ...extra.env };
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const identity = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d) => {
        log += d;
        const m = /dlab worker (\S+) on/.exec(log);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`worker exited with ${code} before starting:\n${log}`)));
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const w: WorkerProcess = {
      process: child,
      identity,
      kill: async () => {
        child.kill('SIGKILL');
        await exited;
      },
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
      },
      stderr: () => log,
    };
    this.workers.push(w);
    return w;
  }

  /** Polls `dlab status` (in-process) until `predicate` holds. */
  async waitFor(id: string, predicate: (s: TestStatus) => boolean, timeoutMs = 60_000): Promise<TestStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: TestStatus | undefined;
    while (Date.now() < deadline) {
      try {
        last = await runStatus(await this.client(), id);
        if (predicate(last)) return last;
      } catch {
        /* not started yet, or the server is restarting */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting on ${id}; last status: ${JSON.stringify(last)}`);
  }

  async stop(): Promise<void> {
    for (const w of this.workers) if (w.process.exitCode === null && w.process.signalCode === null) await w.kill();
    const client = await this.clientPromise?.catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await this.server?.stop();
    this.root.cleanup();
  }
}

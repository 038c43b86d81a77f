import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { DLAB_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { ensureTemporalCli } from './cli-binary';
import { DlabInputError } from '../lib/errors';

/** Search attributes every dlab run sets, name → type (registered when the dev server starts). */
export const SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  DLAB_SEARCH_ATTRIBUTES.map((k) => [k.name, TypedSearchAttributes.toMetadataType(k.type)]),
);

/**
 * Dynamic config of every dev server dlab starts (`dlab server`, `npm start`, tests, benches).
 * The dev server runs one history shard whose transfer queue is polled at 20/s by default, and
 * each sequential activity needs two transfer tasks: a workflow of sequential activities then
 * plateaus at ~100 ms per activity. Raising the poll rate removes that floor. Writing every task
 * to one task-queue partition removes the ~2 s outliers of tasks written to a partition no
 * poller is on; the read partitions stay at the default, so tasks a database holds from an
 * earlier setting are still read (one read partition alone would strand them, and does not
 * remove the outliers). Figures: docs/benchmarks.md.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, number | boolean>> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'matching.numTaskqueueWritePartitions': 1,
};

/**
 * SQLite pragmas of every dev server dlab starts. Every history event is a SQLite transaction;
 * in SQLite's default rollback-journal mode each commit writes and fsyncs a journal, the
 * database and the journal's deletion, in write-ahead-log mode it appends to the log with one
 * fsync (synchronous stays FULL: a committed event survives a power cut, not only a crash). A
 * no-op activity's round trip measured 16.0 → 10.4 ms median on the 2-core VM (synchronous
 * NORMAL, which can lose the last commits on a power cut, 8.3 ms; not taken). The log and its
 * index sit next to the database file (`temporal.db-wal`, `-shm`); SQLite's WAL needs a local
 * filesystem (shared memory between its connections), so a database on NFS wants
 * `--sqlite-pragma journal_mode=delete`. Figures: docs/benchmarks.md.
 */
export const DEV_SERVER_SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'wal',
};

export interface DevServerOptions {
  /** SQLite file: the server's whole state; restarting on the same file resumes every run. */
  dbFile: string;
  port?: number;
  uiPort?: number;
  /** No web UI (tests). */
  headless?: boolean;
  /** Port of the server's Prometheus endpoint (http://ip:metricsPort/metrics); default: a free port the CLI picks. */
  metricsPort?: number;
  ip?: string;
  /** Server stdout/stderr go here (appended); default: inherited. */
  logFile?: string;
  /** How long to wait for the frontend to answer. */
  readyTimeoutMs?: number;
  /** Dynamic config values (default DEV_SERVER_DYNAMIC_CONFIG; `{}`: the CLI's own defaults). */
  dynamicConfig?: Readonly<Record<string, number | boolean | string>>;
  /** SQLite pragmas, name → value (default DEV_SERVER_SQLITE_PRAGMAS; `{}`: SQLite's own defaults). */
  sqlitePragmas?: Readonly<Record<string, string>>;
}

export interface DevServer {
  readonly address: string;
  readonly uiUrl?: string;
  /** the Prometheus endpoint, when a metrics port was asked for */
  readonly metricsUrl?: string;
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

/** True if nothing listens on ip:port right now (we could bind it). */
export async function portIsFree(port: number, ip = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, ip, () => srv.close(() => resolve(true)));
  });
}

/** A TCP port nobody listens on right now. */
export async function freePort(ip = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, ip, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts the dev server; with no port given, on a free one. When the server exits during start-up
 * because a port was taken, it is started once more, up to 3 tries: the ports it picks for its own
 * services (HTTP, history, matching, worker) are free ports of the moment, which another process
 * starting at the same time can take before the server binds them, and with no port given ours
 * may have gone the same way (the next try probes a new one). Any other start-up failure (a
 * database file it cannot open, say) is reported at once, and a port given that another process
 * holds is an input error before any try.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const tries = 3;
  for (let t = 1; ; t++) {
    try {
      return await startDevServerOnce(opts);
    } catch (err) {
      if (t >= tries || !(err instanceof ServerExitedError) || !err.portTaken) throw err;
    }
  }
}

/** The server process ended before it served; `portTaken` when its log says a port was in use. */
class ServerExitedError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

/** Whether a dev server's start-up log says it could not bind a port (or find a free one). */
export function startupLostPort(log: string): boolean {
  return /address already in use|failed assigning ephemeral port/i.test(log);
}

async function startDevServerOnce(opts: DevServerOptions): Promise<DevServer> {
  const cli = await ensureTemporalCli();
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(ip));
  // a port asked for that another process holds: an error now (the server's own bind error would
  // scroll by, and the frontend we then reached would be the other process's)
  if (opts.port !== undefined) {
    for (const [what, p] of [['port', port], ['UI port', opts.headless ? undefined : (opts.uiPort ?? port + 1000)]] as const) {
      if (p !== undefined && !(await portIsFree(p, ip))) throw new DlabInputError(`${what} ${p} on ${ip} is taken (another Temporal server?); stop it, or choose another with --${what === 'port' ? 'port' : 'ui-port'}`, what);
    }
  }
  if (opts.metricsPort !== undefined && !(await portIsFree(opts.metricsPort, ip))) {
    throw new DlabInputError(`metrics port ${opts.metricsPort} on ${ip} is taken; stop what holds it, or choose another with --metrics-port`, '--metrics-port');
  }
  mkdirSync(dirname(opts.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  if (opts.headless) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort ?? port + 1000));
  if (opts.metricsPort !== undefined) args.push('--metrics-port', String(opts.metricsPort));
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? DEV_SERVER_DYNAMIC_CONFIG)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  for (const [key, value] of Object.entries(opts.sqlitePragmas ?? DEV_SERVER_SQLITE_PRAGMAS)) args.push('--sqlite-pragma', `${key}=${value}`);

  let logFd: number | undefined;
  let logStart = 0; // this try's part of the log (the file is appended to across tries and restarts)
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    logFd = openSync(opts.logFile, 'a');
    logStart = fstatSync(logFd).size;
  }
  const child = spawn(cli, args, { stdio: ['ignore', logFd ?? 'inherit', logFd ?? 'inherit'] });
  if (logFd !== undefined) closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const address = `${ip}:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let lastError: unknown;
  let ready = false;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      await waitUntilServing(address, 1000);
      ready = true;
      break;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (!ready) {
    const exitedEarly = child.exitCode !== null || child.signalCode !== null;
    child.kill('SIGKILL');
    // the server's own reason first (a panic's message comes before its goroutine stacks), then the log's end
    const lines = opts.logFile ? readFileSync(opts.logFile).subarray(logStart).toString('utf8').split('\n') : [];
    const end = lines.slice(-20);
    const reasons = lines.filter((l) => /^panic:|level=(ERROR|FATAL)|"level":"(error|fatal)"/.test(l) && !end.includes(l)).slice(0, 3);
    const tail = lines.length ? '\n' + [...reasons, ...(reasons.length ? ['…'] : []), ...end].join('\n') : '';
    const message = `Temporal dev server on ${address} did not become ready (${exitedEarly ? `it exited with ${child.exitCode ?? child.signalCode}` : String(lastError)})${tail}`;
    // without a log file (the server's output went to ours) the reason is unknown: retried only on a port of our choosing, as before
    throw exitedEarly ? new ServerExitedError(message, opts.logFile ? startupLostPort(lines.join('\n')) : opts.port === undefined) : new Error(message);
  }

  const waitExit = async (graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    address,
    uiUrl: opts.headless ? undefined : `http://${ip}:${opts.uiPort ?? port + 1000}`,
    metricsUrl: opts.metricsPort !== undefined ? `http://${ip}:${opts.metricsPort}/metrics` : undefined,
    process: child,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await waitExit(graceMs);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await waitExit(5000);
    },
  };
}

/** Resolves once the frontend answers and the `default` namespace is registered. */
async function waitUntilServing(address: string, timeoutMs: number): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'default' });
  } finally {
    await connection.close();
  }
}

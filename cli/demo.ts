import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { MultiBar, Presets } from 'cli-progress';
import { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { DevServer, freePort, startDevServer } from '../client/dev-server';
import { writeRunReport } from '../client/report';
import { readConfigFile, startExperiment } from '../client/start';
import { runStatus, StatusReport } from '../client/status';
import { storeForHome } from '../lib/store/artifact-store';
import { parseConfig } from '../schemas/config';
import { createWorker } from '../workers/worker';
import { dlabHome, taskQueue } from './env';

const POLL_MS = 500;
const isOpen = (s: StatusReport) => s.state === 'running' || s.state === 'paused';

/** What a bar shows for a run: the run's steps as the bar, the running stage with its batches (from heartbeats) as text. */
function barValues(s: StatusReport): { done: number; total: number; payload: Record<string, string> } {
  let metric = '';
  if (s.kind === 'icrlvr' && typeof s.metrics?.heldOutAccuracy === 'number') metric = `| held-out acc ${s.metrics.heldOutAccuracy.toFixed(3)}`;
  if (s.kind === 'goracs' && typeof s.metrics?.poo === 'number') metric = `| POO ${s.metrics.poo.toFixed(4)}, ${s.metrics.swapsAccepted ?? 0} swaps`;
  const batches = s.stageProgress && s.stageProgress.total > 1 ? ` ${s.stageProgress.done}/${s.stageProgress.total}` : '';
  return { done: s.progress.done, total: Math.max(1, s.progress.total), payload: { stage: `${s.stage}${batches}`, metric } };
}

const BAR_FORMAT = '{label} [{bar}] step {value}/{total} | {stage} {metric}';

/** Several runs at once, one bar each, until all have closed. */
async function followRuns(client: Client, runs: { id: string; label: string }[]): Promise<StatusReport[]> {
  const multi = new MultiBar({ format: BAR_FORMAT, hideCursor: true, clearOnComplete: false, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 15000 }, Presets.shades_classic);
  const bars = runs.map((r) => multi.create(1, 0, { label: r.label.padEnd(8), stage: 'starting', metric: '' }));
  const last: (StatusReport | undefined)[] = runs.map(() => undefined);
  for (;;) {
    for (const [i, r] of runs.entries()) {
      if (last[i] && !isOpen(last[i]!)) continue;
      const s = await runStatus(client, r.id);
      const v = barValues(s);
      bars[i].setTotal(v.total);
      bars[i].update(isOpen(s) ? v.done : v.total, { label: r.label.padEnd(8), ...v.payload });
      last[i] = s;
    }
    if (last.every((s) => s && !isOpen(s))) break;
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  multi.stop();
  return last as StatusReport[];
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** The usual ports (7233, UI 8233) when both are free, so the web UI is where Temporal's docs say; else free ones. */
async function demoPorts(): Promise<{ port: number; uiPort: number }> {
  const fixed = Number(process.env.DLAB_DEMO_PORT);
  if (fixed) return { port: fixed, uiPort: fixed + 1000 };
  if ((await portFree(7233)) && (await portFree(8233))) return { port: 7233, uiPort: 8233 };
  for (;;) {
    const port = await freePort();
    if (port + 1000 < 65536 && (await portFree(port + 1000))) return { port, uiPort: port + 1000 };
  }
}

function summary(s: StatusReport): string[] {
  const f = (x: number | null | undefined, d = 3) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');
  const lines = [`${s.id}  (${s.kind})  ${s.state}${s.error ? `: ${s.error}` : ''}`];
  if (s.kind === 'icrlvr') {
    const m = s.metrics ?? {};
    lines.push(`  held-out avg@k ${f(m.initialHeldOutAccuracy)} at the start → ${f(m.heldOutAccuracy)} after ${m.step ?? s.step} RL steps; pass@k ${f(m.passAtK)}`);
    lines.push(`  training reward ${f(m.rewardMean)}; mean Evidence Gain of correct rollouts ${f(m.egCorrectMean, 2)} vs incorrect ${f(m.egIncorrectMean, 2)}`);
  } else if (s.kind === 'goracs') {
    const m = s.metrics ?? {};
    lines.push(`  coreset of ${m.selected ?? '?'}: POO ${f(m.pooInitial, 4)} (greedy start) → ${f(m.poo, 4)} after ${m.swapsAccepted ?? 0} accepted swaps`);
    for (const e of s.evaluation ?? []) {
      lines.push(`  ${e.method.padEnd(8)} seed ${e.seed}  HR@10 ${f(e.hr10)}  NDCG@10 ${f(e.ndcg10)}`);
    }
  }
  return lines;
}

export interface DemoOptions {
  icrlvr: string;
  goracs: string;
  /** stop the server when the runs are done (default: keep it up for the web UI while stdin is a terminal) */
  exit?: boolean;
}

/**
 * `dlab demo` (= `npm start`): a dev server on SQLite under DLAB_HOME, a worker in this
 * process, a small In-Context RLVR run and a small GORACS run side by side with progress
 * bars fed by their status queries, then one HTML report of both and the web UI address.
 * Ctrl-C stops the runs, the worker and the server: nothing is left running.
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const home = dlabHome();
  const runs: { id: string; label: string }[] = [];
  let server: DevServer | undefined;
  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let running: Promise<void> | undefined;
  let client: Client | undefined;
  let finished = false;
  let stopped: Promise<void> | undefined;
  /**
   * Stops whatever has started so far (and the runs, when `interrupted`), once: every caller —
   * Ctrl-C, or the end of the demo — waits for that one shutdown, so nobody exits before the
   * server is gone.
   */
  const shutdown = (interrupted: boolean): Promise<void> =>
    (stopped ??= (async () => {
      if (interrupted && client) {
        // the demo's runs end with it (a real experiment would simply resume with the next worker)
        for (const { id } of runs) await client.workflow.getHandle(id).terminate('dlab demo interrupted').catch(() => undefined);
      }
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running?.catch(() => undefined);
      await server?.stop();
    })());
  // Ctrl-C is heard from the first moment: one during start-up is acted on as soon as the step
  // under way has finished, so a server or worker being started cannot outlive the demo
  let interruptedWith: number | undefined;
  let startedUp = false;
  const stopNow = (code: number) => void shutdown(true).then(() => process.exit(code));
  const onSignal = (code: number) => () => {
    process.stderr.write('\nstopping the demo: runs, worker, server…\n');
    interruptedWith = code;
    if (startedUp) stopNow(code);
  };
  process.once('SIGINT', onSignal(130));
  process.once('SIGTERM', onSignal(143));

  const { port, uiPort } = await demoPorts();
  const db = join(home, 'temporal.db');
  process.stderr.write(`dlab demo: DLAB_HOME=${home}\nstarting the Temporal dev server (database ${db})…\n`);
  server = await startDevServer({ dbFile: db, port, uiPort, logFile: join(home, 'temporal-server.log') });
  if (interruptedWith !== undefined) return stopNow(interruptedWith);
  process.stderr.write(`server ${server.address}, web UI ${server.uiUrl}\n\n`);
  worker = await createWorker({ address: server.address, taskQueue: taskQueue(), dlabHome: home, maxConcurrentActivities: 2 });
  running = worker.run();
  startedUp = true;
  if (interruptedWith !== undefined) return stopNow(interruptedWith);
  try {
    process.env.TEMPORAL_ADDRESS = server.address;
    client = await connectClient({ address: server.address, namespace: 'default' });
    const stamp = Date.now();
    const configs = (['icrlvr', 'goracs'] as const).map((kind) => {
      const file = kind === 'icrlvr' ? opts.icrlvr : opts.goracs;
      const config = readConfigFile(file);
      parseConfig(kind, config, file); // both configs are checked before either run starts
      return { kind, file, config };
    });
    for (const { kind, file, config } of configs) {
      const { id } = await startExperiment(client, { kind, config, configSource: file, id: `demo-${kind}-${stamp}`, taskQueue: taskQueue() });
      runs.push({ id, label: kind });
    }
    const finals = await followRuns(client, runs);
    process.stdout.write('\n' + finals.flatMap(summary).join('\n') + '\n\n');
    const reportDir = resolve(home, 'reports', `demo-${stamp}`);
    const written = await writeRunReport(client, storeForHome(home), runs.map((r) => r.id), reportDir);
    const ui = (id: string) => `${server.uiUrl}/namespaces/default/workflows/${id}`;
    process.stdout.write(
      [
        `report:   ${written.html}`,
        `web UI:   ${server.uiUrl}  (every step, attempt and heartbeat of both runs)`,
        ...runs.map((r) => `          ${ui(r.id)}`),
        'audit:    npx dlab runs · npx dlab history ID · npx dlab verify ID · npx dlab lineage SHA256 · npx dlab report ID… --out DIR',
        `          (with TEMPORAL_ADDRESS=${server.address} while a server runs on this database: \`npx dlab server\`)`,
        '',
      ].join('\n'),
    );
    if (finals.some((s) => s.state !== 'completed')) process.exitCode = 1;
    finished = true;
    if (!opts.exit && process.stdin.isTTY) {
      process.stderr.write(`The server stays up for the web UI at ${server.uiUrl}; Ctrl-C stops it.\n`);
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await new Promise<void>((res) => server.process.once('exit', () => res()));
    }
  } finally {
    await shutdown(!finished); // a failure half-way (e.g. writing the report) ends the demo's runs too
  }
}

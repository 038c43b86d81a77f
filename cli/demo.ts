import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { DevServer, freePort, startDevServer } from '../client/dev-server';
import { readConfigFile, startExperiment } from '../client/start';
import { runStatus, StatusReport } from '../client/status';
import { createWorker } from '../workers/worker';
import { dlabHome, taskQueue } from './env';
import { formatStatus } from './format';

/** Live progress of one run from its status (query + heartbeats), until it closes. */
export async function followRun(client: Client, id: string, label: string): Promise<StatusReport> {
  const bar = new SingleBar(
    { format: `${label.padEnd(8)} [{bar}] {percentage}% | {stage} {value}/{total} | step {step}`, hideCursor: true, clearOnComplete: false, stream: process.stderr },
    Presets.shades_classic,
  );
  bar.start(1, 0, { stage: 'starting', step: 0 });
  for (;;) {
    const s = await runStatus(client, id);
    const p = s.stageProgress ?? s.progress;
    bar.setTotal(Math.max(1, p.total));
    bar.update(p.done, { stage: s.stage, step: `${s.progress.done}/${s.progress.total}` });
    if (s.state !== 'running' && s.state !== 'paused') {
      bar.stop();
      return s;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * `dlab demo` (= `npm start`): a dev server on SQLite under DLAB_HOME, a worker in this
 * process, a small experiment end to end with progress bars, then a pointer to its report,
 * history and the web UI. Ctrl-C stops everything it started.
 */
export async function runDemo(opts: { config: string }): Promise<void> {
  const home = dlabHome();
  const port = Number(process.env.DLAB_DEMO_PORT) || (await freePort());
  process.stderr.write(`dlab demo: DLAB_HOME=${home}\nstarting the Temporal dev server (database ${join(home, 'temporal.db')})…\n`);
  const server: DevServer = await startDevServer({ dbFile: join(home, 'temporal.db'), port, logFile: join(home, 'temporal-server.log') });
  process.stderr.write(`server ${server.address}, web UI ${server.uiUrl}\n`);
  const worker = await createWorker({ address: server.address, taskQueue: taskQueue(), dlabHome: home });
  const running = worker.run();
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await server.stop();
  };
  process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));
  process.once('SIGTERM', () => void shutdown().then(() => process.exit(143)));
  try {
    process.env.TEMPORAL_ADDRESS = server.address;
    const client = await connectClient({ address: server.address, namespace: 'default' });
    const { id } = await startExperiment(client, {
      kind: 'smoke',
      config: readConfigFile(opts.config),
      configSource: opts.config,
      id: `demo-smoke-${Date.now()}`,
      taskQueue: taskQueue(),
    });
    const status = await followRun(client, id, 'smoke');
    process.stdout.write('\n' + formatStatus(status) + '\n\n');
    process.stdout.write(
      [
        `Every step of ${id} is in the Temporal history (database ${join(home, 'temporal.db')}).`,
        `  audit trail:   TEMPORAL_ADDRESS=<server> npx dlab history ${id}`,
        `  re-hash:       npx dlab verify ${id}`,
        `  web UI:        \`npx dlab server\`, then http://127.0.0.1:8233/namespaces/default/workflows/${id}`,
        `                 (this run's server, ${server.uiUrl}, stops with the demo)`,
        '',
      ].join('\n'),
    );
    if (status.state !== 'completed') process.exitCode = 1;
  } finally {
    await shutdown();
  }
}

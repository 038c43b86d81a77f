#!/usr/bin/env node
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { connectClient, targetFromEnv, tlsOptions } from '../client/connection';
import { DEV_SERVER_SQLITE_PRAGMAS, startDevServer } from '../client/dev-server';
import { runHistory } from '../client/history';
import { readConfigFile, startExperiment } from '../client/start';
import { runStatus } from '../client/status';
import { formatWaiting, waitingQueues } from '../client/waiting';
import { stateOf } from '../client/events';
import { verifyRun } from '../client/verify';
import { writeRunReport } from '../client/report';
import { storeFromEnv } from '../lib/store/from-env';
import { listRuns } from '../client/runs';
import { artifactLineage } from '../client/lineage';
import { ensureSearchAttributes } from '../client/search-attributes';
import { renderLineageTree } from '../lib/store/lineage';
import { DlabInputError } from '../lib/errors';
import { createWorkers, installRuntime } from '../workers/worker';
import { metricsBindAddress } from '../workers/metrics';
import { parseRoles, planQueues, WORKER_ROLES } from '../lib/queues';
import { executionProviders, intraOpThreads, physicalCores, setExecutionProviders, setIntraOpThreads } from '../lib/model/session-cache';
import { oversubscription, registerLocalWorker } from '../workers/local-peers';
import { formatDoctor, runDoctor } from '../client/doctor';
import { runDemo } from './demo';
import { modelCommand } from './model';
import { dlabHome, queueMap, taskQueue, writableDlabHome } from './env';
import { intOption, portOption } from '../lib/config/options';
import { formatHistory, formatRuns, formatStatus } from './format';

const program = new Command();
program.name('dlab').description('Durable ML experiments on Temporal').showHelpAfterError();

const out = (json: boolean | undefined, value: unknown, human: () => string) =>
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');

/** Search attributes for `dlab runs` on a server dlab did not start: registered if missing; a warning, never a failure. */
async function ensureRegistered(client: Awaited<ReturnType<typeof connectClient>>): Promise<void> {
  const { added, warning } = await ensureSearchAttributes(client.connection, client.options.namespace);
  if (added.length) process.stderr.write(`dlab: registered search attributes ${added.join(', ')}\n`);
  if (warning) process.stderr.write(`dlab: warning: ${warning}\n`);
}

program
  .command('server')
  .description('run the Temporal dev server in the foreground (SQLite under DLAB_HOME, web UI on)')
  .option('--db <path>', 'SQLite database file (default: $DLAB_HOME/temporal.db)')
  .option('--port <port>', 'frontend gRPC port', '7233')
  .option('--ip <address>', 'address to listen on: 0.0.0.0 for workers on other machines (default 127.0.0.1: this machine only)', '127.0.0.1')
  .option('--ui-port <port>', 'web UI port (default: port + 1000)')
  .option('--headless', 'no web UI')
  .option('--metrics-port <port>', "the server's Prometheus metrics at http://127.0.0.1:PORT/metrics")
  .option(
    '--sqlite-pragma <name=value>',
    "a SQLite pragma of the database, over dlab's (journal_mode=wal); repeatable. A database on NFS or another network filesystem needs journal_mode=delete",
    (value: string, prev: string[]) => [...prev, value],
    [] as string[],
  )
  .action(async (opts: { db?: string; port: string; ip: string; uiPort?: string; headless?: boolean; metricsPort?: string; sqlitePragma: string[] }) => {
    const port = portOption('--port', opts.port);
    const uiPort = opts.uiPort !== undefined ? portOption('--ui-port', opts.uiPort) : undefined;
    const metricsPort = opts.metricsPort !== undefined ? portOption('--metrics-port', opts.metricsPort) : undefined;
    const db = resolve(opts.db ?? join(writableDlabHome(), 'temporal.db'));
    const sqlitePragmas: Record<string, string> = { ...DEV_SERVER_SQLITE_PRAGMAS };
    for (const p of opts.sqlitePragma) {
      const m = /^([a-z_]+)=([A-Za-z0-9_-]+)$/.exec(p.trim());
      if (!m) throw new DlabInputError(`--sqlite-pragma ${JSON.stringify(p)}: expected name=value, e.g. journal_mode=delete`, '--sqlite-pragma');
      sqlitePragmas[m[1]] = m[2];
    }
    const server = await startDevServer({ dbFile: db, port, ip: opts.ip, uiPort, headless: opts.headless, metricsPort, sqlitePragmas });
    process.stderr.write(`Temporal dev server at ${server.address}${server.uiUrl ? `, web UI ${server.uiUrl}` : ''}${server.metricsUrl ? `, metrics ${server.metricsUrl}` : ''}, database ${db}\n`);
    const stop = () => void server.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await new Promise((r) => server.process.once('exit', r));
  });

program
  .command('worker')
  .description('run a worker in the foreground: every dlab workflow and activity, or the roles of --serve')
  .option('--task-queue <queue>', 'task queue of the workflows, and of every activity group DLAB_QUEUES does not route (default DLAB_TASK_QUEUE or "dlab")')
  .option('--serve <roles>', `what to serve, comma-separated: ${WORKER_ROLES.join(', ')} (default: all)`, 'all')
  .option('--ort-providers <list>', 'ONNX Runtime execution providers in order of preference, e.g. cuda,cpu (default DLAB_ORT_PROVIDERS or cpu)')
  .option('--ort-threads <n>', "ONNX Runtime intra-op threads of each model session (default DLAB_ORT_THREADS or one per physical core; divide the cores between workers sharing a machine)")
  .option('--max-concurrent <n>', 'activities run at once per task queue polled', '2')
  .option('--metrics-port <[ip:]port>', 'serve Prometheus metrics (Temporal SDK and dlab series) at http://IP:PORT/metrics; IP default 0.0.0.0 (default: no metrics)')
  .action(async (opts: { taskQueue?: string; serve: string; ortProviders?: string; ortThreads?: string; maxConcurrent: string; metricsPort?: string }) => {
    const maxConcurrent = intOption('--max-concurrent', opts.maxConcurrent, 1);
    const metrics = opts.metricsPort !== undefined ? metricsBindAddress(opts.metricsPort) : undefined;
    const serve = parseRoles(opts.serve);
    const queues = queueMap();
    const workflowQueue = opts.taskQueue ?? taskQueue();
    planQueues(serve, queues, workflowQueue); // a --serve that cannot work is refused before any connection
    const providers = opts.ortProviders ?? process.env.DLAB_ORT_PROVIDERS;
    if (providers !== undefined) await setExecutionProviders(providers.split(','), opts.ortProviders !== undefined ? '--ort-providers' : 'DLAB_ORT_PROVIDERS');
    if (opts.ortThreads !== undefined) setIntraOpThreads(opts.ortThreads);
    const threads = intraOpThreads(); // a bad DLAB_ORT_THREADS fails now, not in the first activity
    writableDlabHome(); // artifacts and models go there: a home under a file fails now, not in the first activity
    storeFromEnv(dlabHome()); // so does a DLAB_STORE (or DLAB_CACHE_MAX_GB) that names no store
    installRuntime({ metrics }); // a metrics port that is taken fails now, before any connection
    const target = targetFromEnv();
    await ensureRegistered(await connectClient(target)); // fails fast with a clear message when no server answers
    const workers = await createWorkers({
      address: target.address,
      namespace: target.namespace,
      taskQueue: workflowQueue,
      serve,
      queues,
      dlabHome: dlabHome(),
      maxConcurrentActivities: maxConcurrent,
      tls: await tlsOptions(target), // system roots, or TEMPORAL_TLS_CERT/KEY's client pair
      apiKey: target.apiKey,
    });
    const polled = workers.plans.map((p) => `queue "${p.queue}" (${[...(p.workflows ? ['workflows'] : []), ...p.groups].join(', ')})`).join(', ');
    process.stderr.write(`dlab worker ${workers.identity} on ${target.address} ${polled}, ONNX Runtime on ${executionProviders().join(', ')} (${threads} intra-op thread${threads === 1 ? '' : 's'} a session), artifacts in ${process.env.DLAB_STORE?.trim() || dlabHome()}${metrics ? `, metrics on http://${metrics}/metrics` : ''}\n`);
    // a worker that runs models says so when the model-running workers of this machine ask for more threads than it has cores
    if (workers.plans.some((p) => p.groups.some((g) => g === 'inference' || g === 'training'))) {
      const warning = oversubscription(threads, registerLocalWorker(threads), physicalCores());
      if (warning) process.stderr.write(`dlab worker: ${warning}\n`);
    }
    await workers.run();
  });

program
  .command('run')
  .description('start an experiment')
  .argument('<kind>', 'icrlvr | goracs | smoke')
  .requiredOption('--config <file>', 'experiment config (JSON)')
  .option('--id <id>', 'experiment id (the workflow id)')
  .option('--wait', 'wait for the end and print the final status; exit 0 only if it completed')
  .option('--rerun', 'run again under the id of an experiment that has already run (its earlier run stays in the history)')
  .option('--json', 'one JSON document on stdout')
  .action(async (kind: string, opts: { config: string; id?: string; wait?: boolean; rerun?: boolean; json?: boolean }) => {
    const config = readConfigFile(opts.config); // bad file → error before any connection
    const queues = queueMap();
    const client = await connectClient();
    await ensureRegistered(client);
    const queue = taskQueue();
    // with DLAB_STORE set (workers elsewhere), the model directory and input files go into the store
    const store = storeFromEnv(dlabHome());
    const publish = !!process.env.DLAB_STORE?.trim();
    const started = await startExperiment(client, { kind, config, configSource: opts.config, id: opts.id, taskQueue: queue, queues, rerun: opts.rerun, store, publish });
    for (const w of started.warnings) process.stderr.write(`dlab: warning: ${w}\n`);
    if (started.published && !opts.json) {
      const p = started.published;
      process.stderr.write(`stored the run's inputs in DLAB_STORE=${process.env.DLAB_STORE?.trim()}: ${p.files} files, ${(p.bytes / 1e6).toFixed(1)} MB (${(p.sent / 1e6).toFixed(1)} MB sent)\n`);
    }
    if (!opts.wait) {
      out(opts.json, { id: started.id, runId: started.runId }, () => `started ${kind} experiment ${started.id} (run ${started.runId})`);
      return;
    }
    if (!opts.json) process.stderr.write(`started ${started.id}; waiting…\n`);
    const watch = warnWithoutPoller(client, queue, Date.now(), started.id);
    await client.workflow.getHandle(started.id).result().catch(() => undefined);
    watch.stop();
    const status = await runStatus(client, started.id);
    out(opts.json, status, () => formatStatus(status));
    process.exitCode = status.state === 'completed' ? 0 : 1;
  });

program
  .command('status')
  .description('state, stage, step, progress and artifacts of an experiment')
  .argument('<id>')
  .option('--json', 'one JSON document on stdout')
  .action(async (id: string, opts: { json?: boolean }) => {
    const status = await runStatus(await connectClient(), id);
    out(opts.json, status, () => formatStatus(status));
  });

for (const [name, description] of [
  ['pause', 'pause an experiment at its next stage boundary'],
  ['resume', 'resume a paused experiment'],
  ['cancel', 'cancel an experiment (the running activity stops at its next heartbeat)'],
] as const) {
  program
    .command(name)
    .description(description)
    .argument('<id>')
    .action(async (id: string) => {
      const client = await connectClient();
      const handle = client.workflow.getHandle(id);
      // the state the request needs: open for all three; for pause not paused, for resume paused —
      // known only when a worker answers the status query (otherwise the signal is sent anyway)
      const state = stateOf(await handle.describe());
      const paused =
        state === 'running'
          ? await client.connection
              .withDeadline(Date.now() + 4000, () => handle.query<{ state: string }>('status'))
              .then((s) => s.state === 'paused', () => undefined)
          : undefined;
      const wrong =
        state !== 'running' ? `it is ${state}` : name === 'pause' && paused === true ? 'it is already paused' : name === 'resume' && paused === false ? 'it is not paused' : undefined;
      if (wrong) throw new DlabInputError(`${name} ${id}: ${wrong}; nothing sent`, 'id');
      if (name === 'cancel') await handle.cancel();
      else await handle.signal(name);
      process.stderr.write(`${name}: sent to ${id}${paused === undefined ? '' : ` (it was ${paused ? 'paused' : 'running'})`}\n`);
    });
}

program
  .command('history')
  .description('audit trail: one entry per activity attempt, from the Temporal history')
  .argument('<id>')
  .option('--json', 'one JSON document on stdout')
  .action(async (id: string, opts: { json?: boolean }) => {
    const history = await runHistory(await connectClient(), id);
    out(opts.json, history, () => formatHistory(id, history.entries));
  });

program
  .command('verify')
  .description('re-hash every artifact of an experiment; exit 1 on a mismatch')
  .argument('<id>')
  .action(async (id: string) => {
    const result = await verifyRun(await connectClient(), id);
    for (const b of result.bad) process.stdout.write(b.sha256 ? `BAD ${b.file}: expected sha256 ${b.sha256}, ${b.problem}\n` : `BAD ${b.problem}\n`);
    const badArtifacts = result.bad.filter((b) => b.sha256).length;
    process.stdout.write(`${result.checked - badArtifacts}/${result.checked} artifacts of ${id} verified\n`);
    for (const m of result.models) {
      if (m.sha256 && !result.bad.some((b) => !b.sha256 && b.problem.includes(m.sha256!))) process.stdout.write(`model ${m.sha256}: ${m.files} files in the artifact store verified\n`);
      if (m.local && !result.bad.some((b) => !b.sha256 && b.file.startsWith(m.dir))) process.stdout.write(`model directory ${m.dir}: every file matches its model.json\n`);
      else if (!m.local) process.stdout.write(`model directory ${m.dir}: not on this machine${m.sha256 ? '' : ' (BAD: the run stored no copy)'}\n`);
    }
    process.exitCode = result.bad.length ? 1 : 0;
  });

program
  .command('runs')
  .description('the experiments on the server, newest first: id, kind, state, started, step, headline metric')
  .option('--kind <kind>', 'only this kind (icrlvr includes sweeps)')
  .option('--limit <n>', 'at most this many', '50')
  .option('--json', 'one JSON document on stdout')
  .action(async (opts: { kind?: string; limit: string; json?: boolean }) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new DlabInputError(`--limit: expected a positive integer, found "${opts.limit}"`, 'limit');
    const { runs, total } = await listRuns(await connectClient(), { kind: opts.kind, limit });
    out(opts.json, { runs, total }, () => formatRuns(runs, total));
  });

program
  .command('lineage')
  .description('which run, stage and activity attempt produced an artifact, from which inputs (recursively), with which config and code')
  .argument('<sha256>', 'the artifact (a unique prefix will do)')
  .option('--json', 'one JSON document on stdout')
  .action(async (sha: string, opts: { json?: boolean }) => {
    const report = await artifactLineage(dlabHome(), sha, () => connectClient(targetFromEnv(), 3000));
    out(opts.json, report, () => [...renderLineageTree(report.tree), ...report.notes.map((n) => `note: ${n}`)].join('\n'));
    for (const p of report.problems) process.stderr.write(`dlab: CORRUPT ${p}\n`);
    process.exitCode = report.problems.length ? 1 : 0;
  });

program
  .command('report')
  .description('one self-contained HTML page of runs (plots as SVG, config, artifacts, step durations); several ids: a comparison')
  .argument('<ids...>', 'experiment ids')
  .requiredOption('--out <dir>', 'directory for index.html and plots/ (Vega-Lite specs with their data, SVGs)')
  .option('--json', 'one JSON document on stdout: {html, plots: [{name, spec, svg}]}')
  .action(async (ids: string[], opts: { out: string; json?: boolean }) => {
    const written = await writeRunReport(await connectClient(), storeFromEnv(dlabHome()), ids, opts.out);
    out(opts.json, written, () => written.html);
    // the report is written all the same (it shows each problem beside its artifact)
    for (const p of written.problems) process.stderr.write(`dlab: warning: ${p}\n`);
  });

program
  .command('doctor')
  .description('check this machine: Node, npm, ONNX Runtime, the Temporal CLI, the server, DLAB_HOME, disk, Chromium; a fix for each failure')
  .option('--json', 'one JSON document on stdout: {ok, checks: [{name, status, required, detail, fix?}]}')
  .action(async (opts: { json?: boolean }) => {
    const report = await runDoctor({ dlabHome: dlabHome(), target: targetFromEnv(), serverExpected: !!process.env.TEMPORAL_ADDRESS });
    out(opts.json, report, () => formatDoctor(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program.addCommand(modelCommand());

program
  .command('demo')
  .description('everything embedded: dev server + worker + a small In-Context RLVR and a small GORACS run, progress bars, a report (`npm start`)')
  .addOption(new Option('--icrlvr <file>', 'In-Context RLVR config').default('examples/icrlvr/small.json'))
  .addOption(new Option('--goracs <file>', 'GORACS config').default('examples/goracs/small.json'))
  .option('--exit', 'stop the server when the runs are done (default: keep it up for the web UI until Ctrl-C when run from a terminal)')
  .action(async (opts: { icrlvr: string; goracs: string; exit?: boolean }) => {
    intraOpThreads(); // a bad DLAB_ORT_THREADS fails now, before the server starts
    return runDemo(opts);
  });

/**
 * With `run --wait`: if no worker polls the run's task queue ~10 s after the start, says so on
 * stderr (once), and keeps waiting; a worker started later picks the run up. Likewise, once per
 * task queue, for activities waiting ≥ 10 s on a queue no worker polls (a group without a worker).
 */
function warnWithoutPoller(client: Awaited<ReturnType<typeof connectClient>>, queue: string, since: number, id: string): { stop(): void } {
  const warned = new Set<string>();
  const timer = setTimeout(async () => {
    try {
      const d = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: queue }, taskQueueType: 1 });
      if ((d.pollers ?? []).length === 0) {
        process.stderr.write(`dlab: no worker polls task queue "${queue}" (${Math.round((Date.now() - since) / 1000)} s since the start); start one with \`dlab worker\` (DLAB_TASK_QUEUE=${queue}); still waiting…\n`);
      }
    } catch {
      /* the server is busy or restarting: no notice */
    }
  }, 10_000);
  const activities = setInterval(async () => {
    try {
      for (const w of await waitingQueues(client, await client.workflow.getHandle(id).describe())) {
        if (w.kind !== 'activity' || w.pollers !== 0 || w.waitingSeconds < 10 || warned.has(w.taskQueue)) continue;
        warned.add(w.taskQueue);
        process.stderr.write(`dlab: waiting: ${formatWaiting(w)}; still waiting…\n`);
      }
    } catch {
      /* the server is busy or restarting: no notice */
    }
  }, 5_000);
  timer.unref();
  activities.unref();
  return {
    stop: () => {
      clearTimeout(timer);
      clearInterval(activities);
    },
  };
}

program.parseAsync(process.argv).catch((err: unknown) => {
  // an id the server does not know is bad input like any other
  const unknownId = err instanceof Error && err.name === 'WorkflowNotFoundError';
  const message = unknownId ? `no experiment with id "${(err as { workflowId?: string }).workflowId ?? '?'}" on the server (${err.message})` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`dlab: ${message}\n`);
  process.exit(err instanceof DlabInputError || unknownId ? 2 : 1);
});

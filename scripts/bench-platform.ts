// `npm run bench:platform`: what the platform itself costs.
//  1. no-op activity round trips through a real dev server, N sequential ones in one workflow:
//     regular (schedule → worker → complete → next workflow task → next schedule, from the
//     server's event times; on the dev server as the Temporal CLI configures it and as dlab
//     starts it) and local (proxyLocalActivities: start to start, as the worker sees it),
//     median, p90 and the workflow's wall time per activity, side by side, with where a
//     regular round trip's time goes;
//  2. write + read throughput of a 1e6 × 64 float32 embedding artifact (hash, IPC, fsync,
//     rename; read, verify, zero-copy vectors) next to a plain copy of the same bytes.
// Ends with one line: a JSON object of the figures.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { localActivities } from '../client/events';
import { EMBEDDINGS } from '../schemas/artifacts';
import { LocalArtifactStore } from '../lib/store/artifact-store';
import { readVectors, tableFromColumns, vectorColumn } from '../lib/store/columns';
import { Rng } from '../lib/rng';
import { withBenchCluster } from './bench-cluster';
import { DEV_SERVER_DYNAMIC_CONFIG, DEV_SERVER_SQLITE_PRAGMAS } from '../client/dev-server';
import { tempDir } from '../test/helpers/tmp';

const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 200);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const DIM = 64;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

type Event = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events'] extends (infer E)[] | null | undefined ? E : never;
/** An event's time in ms since the epoch, with the server's sub-millisecond part. */
const at = (e: Event) => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Median and p90 of the gaps between consecutive times. */
function gaps(times: number[]) {
  const d = times.slice(1).map((t, i) => t - times[i]);
  return { medianMs: median(d), p90Ms: quantile(d, 0.9), maxMs: Math.max(...d) };
}

/**
 * Where a regular round trip's time goes, from the server's event times (medians over the
 * round trips): schedule → start (the task reaches the worker's poll), start → complete (the
 * worker runs the no-op and reports it), complete → next workflow task started (scheduled and
 * handed to the worker), that task → its completion (the worker's workflow code), completion →
 * next schedule.
 */
function regularBreakdown(events: Event[]) {
  const seg: Record<string, number[]> = { scheduleToStart: [], startToComplete: [], completeToWorkflowTaskStart: [], workflowTask: [], workflowTaskCompleteToSchedule: [] };
  let sched: number | undefined, started: number | undefined, done: number | undefined, wftStart: number | undefined, wftDone: number | undefined;
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes) {
      if (wftDone !== undefined && done !== undefined) seg.workflowTaskCompleteToSchedule.push(at(e) - wftDone);
      sched = at(e);
      started = done = wftStart = wftDone = undefined;
    } else if (e.activityTaskStartedEventAttributes && sched !== undefined) {
      started = at(e);
      seg.scheduleToStart.push(started - sched);
    } else if (e.activityTaskCompletedEventAttributes && started !== undefined) {
      done = at(e);
      seg.startToComplete.push(done - started);
    } else if (e.workflowTaskStartedEventAttributes && done !== undefined && wftStart === undefined) {
      wftStart = at(e);
      seg.completeToWorkflowTaskStart.push(wftStart - done);
    } else if (e.workflowTaskCompletedEventAttributes && wftStart !== undefined && wftDone === undefined) {
      wftDone = at(e);
      seg.workflowTask.push(wftDone - wftStart);
    }
  }
  return Object.fromEntries(Object.entries(seg).map(([k, v]) => [k, +median(v).toFixed(2)])) as Record<keyof typeof seg, number>;
}

/** Activity starts and ends as the worker sees them (process.hrtime, ms), recorded by an activity interceptor. */
const timings: { local: boolean; startMs: number; endMs: number }[] = [];
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const timed: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const startMs = nowMs();
      try {
        return await next(input);
      } finally {
        timings.push({ local: ctx.info.isLocal, startMs, endMs: nowMs() });
      }
    },
  },
});

/** The worker's view of a run: start → start of consecutive activities, and the time inside each. */
function workerView() {
  const starts = timings.map((t) => t.startMs);
  const cycle = gaps(starts);
  return { cycleMedianMs: cycle.medianMs, cycleP90Ms: cycle.p90Ms, insideMedianMs: median(timings.map((t) => t.endMs - t.startMs)), local: timings.every((t) => t.local) };
}

/** `n` sequential no-op activities, regular (`noopRoundTrips`) or local (`noopLocalRoundTrips`), in one workflow. */
async function run(client: Client, type: 'noopRoundTrips' | 'noopLocalRoundTrips', n: number) {
  const handle = await client.workflow.start(type, { taskQueue: 'bench', workflowId: `bench-${type}-${n}`, args: [n] });
  timings.length = 0;
  const t0 = process.hrtime.bigint();
  await handle.result();
  const wallMs = seconds(t0) * 1000;
  const worker = workerView();
  if (timings.length !== n || worker.local !== (type === 'noopLocalRoundTrips')) throw new Error(`the worker ran ${timings.length} activities (local: ${worker.local}), expected ${n}`);
  return { events: (await handle.fetchHistory()).events ?? [], wallMs, worker };
}

/** Regular round trips: the cycle from one ActivityTaskScheduled to the next (server event times). */
async function regular(client: Client) {
  await run(client, 'noopRoundTrips', 5); // warm: workflow code loaded, sticky queue in use
  const { events, wallMs, worker } = await run(client, 'noopRoundTrips', ROUND_TRIPS);
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map(at);
  return { ...gaps(scheduled), wallPerActivityMs: wallMs / ROUND_TRIPS, breakdown: regularBreakdown(events), worker };
}

/**
 * Local round trips: the cycle from one local activity's start to the next, as the worker sees
 * it (the server sees local activities only when the workflow task that ran them completes, all
 * at once, as markers); how many workflow tasks carried them; where the wall time goes.
 */
async function local(client: Client) {
  await run(client, 'noopLocalRoundTrips', 5);
  const { events, wallMs, worker } = await run(client, 'noopLocalRoundTrips', ROUND_TRIPS);
  const markers = localActivities(events).length;
  if (markers !== ROUND_TRIPS) throw new Error(`${markers} local activity markers, expected ${ROUND_TRIPS}`);
  const workflowTasks = events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
  // where the wall time goes, from the server's event times: the run reaching the worker, the
  // workflow task(s) that ran the local activities (their span as the worker saw it), the run
  // closing
  const started = at(events[0]);
  const firstTask = at(events.find((e) => e.workflowTaskStartedEventAttributes)!);
  const lastTaskDone = at(events.filter((e) => e.workflowTaskCompletedEventAttributes).pop()!);
  const closed = at(events[events.length - 1]);
  const breakdown = {
    startToFirstWorkflowTask: firstTask - started,
    workflowTasks: lastTaskDone - firstTask,
    localActivitiesInThem: timings[timings.length - 1].endMs - timings[0].startMs,
    lastTaskToClosed: closed - lastTaskDone,
  };
  return { medianMs: worker.cycleMedianMs, p90Ms: worker.cycleP90Ms, maxMs: gaps(timings.map((t) => t.startMs)).maxMs, wallPerActivityMs: wallMs / ROUND_TRIPS, workflowTasks, worker, breakdown: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, +v.toFixed(2)])) as typeof breakdown };
}

async function artifactThroughput(dir: string) {
  const flat = new Float32Array(ROWS * DIM);
  new Rng(1).fillNormal(flat);
  const ids = new Int32Array(ROWS).map((_, i) => i);
  const gb = flat.byteLength / 1e9;
  const store = new LocalArtifactStore(join(dir, 'store'));
  const lineage = { experimentId: 'bench', stage: 'bench', producer: 'bench', configHash: '0', codeVersion: 'bench', parents: [] };

  let t0 = process.hrtime.bigint();
  const ref = await store.put(tableFromColumns({ id: ids, embedding: vectorColumn(flat, DIM) }), EMBEDDINGS, lineage);
  const writeS = seconds(t0);

  t0 = process.hrtime.bigint();
  const back = readVectors(await store.get(ref), 'embedding');
  const readS = seconds(t0);
  if (back.data.length !== flat.length || back.data[12345] !== flat[12345]) throw new Error('read back different floats');

  t0 = process.hrtime.bigint();
  const copy = Buffer.from(new Uint8Array(flat.buffer)); // a plain copy of the same bytes
  const copyS = seconds(t0);
  if (copy.length !== flat.byteLength) throw new Error('copy');

  t0 = process.hrtime.bigint();
  createHash('sha256').update(new Uint8Array(flat.buffer)).digest('hex');
  const hashS = seconds(t0);
  return {
    bytes: ref.bytes,
    writeGBps: gb / writeS,
    readGBps: gb / readS,
    copyGBps: gb / copyS,
    sha256GBps: gb / hashS,
    writeVsCopy: gb / writeS / (gb / copyS),
    readVsCopy: gb / readS / (gb / copyS),
  };
}

async function main() {
  const dir = tempDir('bench');
  try {
    // the dev server as the Temporal CLI configures it (regular round trips only), with dlab's dynamic
    // config but SQLite's default rollback journal, then as dlab starts it (DEV_SERVER_DYNAMIC_CONFIG, DEV_SERVER_SQLITE_PRAGMAS)
    const stock = await withBenchCluster((client) => regular(client), { dynamicConfig: {}, sqlitePragmas: {}, worker: { activityInterceptors: [timed] } });
    const noWal = await withBenchCluster((client) => regular(client), { sqlitePragmas: {}, worker: { activityInterceptors: [timed] } });
    const { reg, loc } = await withBenchCluster(async (client) => ({ reg: await regular(client), loc: await local(client) }), { worker: { activityInterceptors: [timed] } });
    const settings = [...Object.entries(DEV_SERVER_DYNAMIC_CONFIG), ...Object.entries(DEV_SERVER_SQLITE_PRAGMAS)].map(([k, v]) => `${k}=${v}`).join(', ');
    const row = (label: string, r: { medianMs: number; p90Ms: number; maxMs: number; wallPerActivityMs: number }) =>
      console.log(`  ${label.padEnd(34)} median ${r.medianMs.toFixed(1).padStart(5)} ms   p90 ${r.p90Ms.toFixed(1).padStart(5)} ms   max ${r.maxMs.toFixed(0).padStart(4)} ms   wall ${r.wallPerActivityMs.toFixed(2).padStart(6)} ms/activity`);
    console.log(`no-op activity round trips, ${ROUND_TRIPS} sequential in one workflow (wall: workflow start → result, per activity):`);
    row('regular, stock dev server', stock);
    row('regular, dlab config, no WAL', noWal);
    row('regular, dlab dev server', reg);
    row('local, dlab dev server', loc);
    console.log(`  (dlab dev server: ${settings}; regular from server event times, local from the worker's activity start times, ${loc.workflowTasks} workflow task(s) for ${ROUND_TRIPS} local activities)`);
    console.log(`  ratios: regular stock / dlab ${(stock.medianMs / reg.medianMs).toFixed(2)}× (median), no WAL / dlab ${(noWal.medianMs / reg.medianMs).toFixed(2)}×; regular / local ${(reg.medianMs / loc.medianMs).toFixed(1)}× (median), ${(reg.wallPerActivityMs / loc.wallPerActivityMs).toFixed(1)}× (wall per activity)`);
    const b = reg.breakdown;
    console.log(
      `  where a regular round trip goes (dlab, medians of server event times): schedule→start ${b.scheduleToStart} ms, start→complete ${b.startToComplete} ms, ` +
        `complete→workflow task started ${b.completeToWorkflowTaskStart} ms, workflow task ${b.workflowTask} ms, task completed→next schedule ${b.workflowTaskCompleteToSchedule} ms`,
    );
    console.log(
      `  the worker's view (activity start → next start; time inside the activity): regular ${reg.worker.cycleMedianMs.toFixed(2)} ms median, p90 ${reg.worker.cycleP90Ms.toFixed(2)}; inside ${reg.worker.insideMedianMs.toFixed(3)} ms | ` +
        `local ${loc.worker.cycleMedianMs.toFixed(2)} ms median, p90 ${loc.worker.cycleP90Ms.toFixed(2)}; inside ${loc.worker.insideMedianMs.toFixed(3)} ms`,
    );
    const l = loc.breakdown;
    console.log(
      `  where the local workflow's wall time goes (ms; server event times, the local activities' span from the worker's times): start→first workflow task ${l.startToFirstWorkflowTask}, ` +
        `workflow task(s) ${l.workflowTasks} (of which first local start→last end ${l.localActivitiesInThem}), →run closed ${l.lastTaskToClosed}`,
    );
    const targets = { regularMedianMs: 25, localMedianMs: 5 };
    console.log(`  targets: regular ≤ ${targets.regularMedianMs} ms median: ${reg.medianMs <= targets.regularMedianMs ? 'met' : 'NOT met'}; local ≤ ${targets.localMedianMs} ms median: ${loc.medianMs <= targets.localMedianMs ? 'met' : 'NOT met'}`);
    const io = await artifactThroughput(dir.path);
    console.log(`embedding artifact ${ROWS} × ${DIM} float32 (${(io.bytes / 1e6).toFixed(0)} MB file):`);
    console.log(`  write (IPC + sha256 + fsync + rename) ${io.writeGBps.toFixed(2)} GB/s   read (read + verify + zero-copy vectors) ${io.readGBps.toFixed(2)} GB/s`);
    console.log(`  plain buffer copy ${io.copyGBps.toFixed(2)} GB/s; sha256 alone ${io.sha256GBps.toFixed(2)} GB/s; write/copy ${io.writeVsCopy.toFixed(3)}, read/copy ${io.readVsCopy.toFixed(3)}`);
    const r2 = (x: number) => +x.toFixed(3);
    console.log(
      JSON.stringify({
        bench: 'platform',
        roundTrips: ROUND_TRIPS,
        stockRoundTripMedianMs: r2(stock.medianMs),
        stockRoundTripP90Ms: r2(stock.p90Ms),
        noWalRoundTripMedianMs: r2(noWal.medianMs),
        noWalRoundTripP90Ms: r2(noWal.p90Ms),
        noopRoundTripMedianMs: r2(reg.medianMs),
        noopRoundTripP90Ms: r2(reg.p90Ms),
        noopRoundTripMaxMs: r2(reg.maxMs),
        noopWallPerActivityMs: r2(reg.wallPerActivityMs),
        localRoundTripMedianMs: r2(loc.medianMs),
        localRoundTripP90Ms: r2(loc.p90Ms),
        localRoundTripMaxMs: r2(loc.maxMs),
        localWallPerActivityMs: r2(loc.wallPerActivityMs),
        localWorkflowTasks: loc.workflowTasks,
        localBreakdownMs: loc.breakdown,
        regularWorkerCycleMedianMs: r2(reg.worker.cycleMedianMs),
        regularWorkerInsideMedianMs: r2(reg.worker.insideMedianMs),
        localWorkerInsideMedianMs: r2(loc.worker.insideMedianMs),
        regularOverLocalMedian: r2(reg.medianMs / loc.medianMs),
        regularOverLocalWall: r2(reg.wallPerActivityMs / loc.wallPerActivityMs),
        regularBreakdownMs: reg.breakdown,
        regularTargetMet: reg.medianMs <= targets.regularMedianMs,
        localTargetMet: loc.medianMs <= targets.localMedianMs,
        artifactRows: ROWS,
        artifactDim: DIM,
        artifactBytes: io.bytes,
        writeGBps: +io.writeGBps.toFixed(3),
        readGBps: +io.readGBps.toFixed(3),
        copyGBps: +io.copyGBps.toFixed(3),
        sha256GBps: +io.sha256GBps.toFixed(3),
        writeVsCopy: +io.writeVsCopy.toFixed(4),
        readVsCopy: +io.readVsCopy.toFixed(4),
      }),
    );
  } finally {
    dir.cleanup();
    rmSync(dir.path, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

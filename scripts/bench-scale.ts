// `npm run bench:scale`: what a second worker process buys, and what the S3 store costs next to
// the local one, in one run.
//  1. Store throughput: 8 artifacts of 4 MiB (one PUT each) and one of 64 MiB (a multipart
//     upload) through LocalArtifactStore and S3ArtifactStore against versitygw on this machine:
//     put (new content), put again (already stored: the local store re-hashes the file, the S3
//     store sends a HEAD), get with a cold cache (the S3 store fetches from the server; the local
//     store reads its file, which the OS still caches) and get again (the S3 store's local cache).
//     MB/s (10^6 bytes) of the artifacts' bytes, medians over BENCH_STORE_REPS repetitions.
//  2. Scaling: one dev server; for N = 1 and N = 2 `dlab worker` processes (each
//     `--max-concurrent 1`, so N is the number of activities running at once: process-level
//     parallelism, one per core here; `--ort-threads` the physical cores divided by N, as
//     workers sharing a machine should be run, or DLAB_ORT_THREADS when set), the same GORACS
//     run (refinement fanned out over goracsRefineChunk activities, 2 in flight) and the same
//     icrlvr run (2 rollout shards a step), each with its own DLAB_HOME per N. The refinement
//     stage's wall time is its first refinement activity scheduled → its last completed; the
//     rollout stage's is, per sampling round, the shards scheduled → the last one completed,
//     summed over the rounds (server event times).
//     Speedup T1/T2. The runs' artifacts must hold the same data across N (their sha256s differ:
//     the experiment id is in each artifact's metadata). Before each N and after the last, two
//     busy-loop processes next to one show how many cores the machine had free.
// Ends with one line: a JSON object of the figures.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { RecordBatch, Schema, Table, tableToIPC } from 'apache-arrow';
import { decodeFirst, fetchRunChain, HistoryEvent } from '../client/events';
import { startExperiment } from '../client/start';
import { LocalArtifactStore, sha256Hex, storeForHome } from '../lib/store/artifact-store';
import { tableFromColumns, vectorColumn } from '../lib/store/columns';
import { ArtifactRef } from '../lib/store/ref';
import { S3ArtifactStore } from '../lib/store/s3-store';
import { intraOpThreads, physicalCores } from '../lib/model/session-cache';
import { Rng } from '../lib/rng';
import { EMBEDDINGS } from '../schemas/artifacts';
import type { RunStatus } from '../workflows/run-state';
import { TestCluster, WorkerProcess } from '../test/helpers/cluster';
import { S3TestServer } from '../test/helpers/s3-server';
import { tempDir } from '../test/helpers/tmp';

const REPS = Number(process.env.BENCH_STORE_REPS ?? 3);
const MiB = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---- 1. store throughput ------------------------------------------------------------------

type Op = 'put' | 'putStored' | 'getCold' | 'getWarm';
const OPS: Op[] = ['put', 'putStored', 'getCold', 'getWarm'];
type Store = LocalArtifactStore | S3ArtifactStore;

/** id int32 + 64 float32 = 260 bytes a row: tables of about `bytes` each, content made distinct by `tag`. */
function tables(count: number, bytes: number, tag: number) {
  const rows = Math.round(bytes / 260);
  const flat = new Float32Array(rows * 64);
  new Rng(tag).fillNormal(flat);
  return Array.from({ length: count }, (_, k) => tableFromColumns({ id: new Int32Array(rows).map((_, i) => i + (tag * 100 + k) * rows), embedding: vectorColumn(flat, 64) }));
}

const lineage = { experimentId: 'bench-scale', stage: 'store', producer: 'bench', configHash: '0', codeVersion: 'bench', parents: [] };

/** One repetition of every operation on one set of artifacts: seconds per op and the bytes moved. */
async function storeRep(store: Store, coldReader: Store, set: ReturnType<typeof tables>) {
  const s: Record<Op, number> = { put: 0, putStored: 0, getCold: 0, getWarm: 0 };
  const time = async (op: Op, fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    s[op] = (performance.now() - t0) / 1000;
  };
  let refs: ArtifactRef[] = [];
  await time('put', async () => (refs = await Promise.all(set.map((t) => store.put(t, EMBEDDINGS, lineage)))).length);
  await time('putStored', () => Promise.all(set.map((t) => store.put(t, EMBEDDINGS, lineage))));
  await time('getCold', () => Promise.all(refs.map((r) => coldReader.get(r))));
  await time('getWarm', () => Promise.all(refs.map((r) => coldReader.get(r))));
  return { seconds: s, bytes: refs.reduce((a, r) => a + r.bytes, 0) };
}

async function storeThroughput() {
  const dir = tempDir('bench-store');
  const s3 = await S3TestServer.start(['dlab']);
  try {
    const sizes = { small: { count: 8, bytes: 4 * MiB }, large: { count: 1, bytes: 64 * MiB } } as const;
    const secs: Record<string, Record<Op, number[]>> = {};
    const bytesOf: Record<string, number> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const [size, { count, bytes }] of Object.entries(sizes)) {
        for (const kind of ['local', 's3'] as const) {
          const tag = rep * 10 + (size === 'large' ? 1 : 0) + (kind === 's3' ? 5 : 0) + 1;
          const set = tables(count, bytes, tag);
          const root = join(dir.path, `${kind}-${size}-${rep}`);
          const s3Store = (cache: string) =>
            new S3ArtifactStore({ bucket: 'dlab', prefix: 'bench', cacheDir: join(root, cache), cacheMaxBytes: 1024 ** 3, client: s3.client(), endpoint: s3.endpoint });
          // the S3 store that wrote keeps a copy in its cache: a second store with an empty cache reads cold
          const [writer, reader] = kind === 'local' ? [new LocalArtifactStore(root), new LocalArtifactStore(root)] : [s3Store('cache-writer'), s3Store('cache-reader')];
          const r = await storeRep(writer, reader, set);
          const key = `${kind}.${size}`;
          secs[key] ??= { put: [], putStored: [], getCold: [], getWarm: [] };
          for (const op of OPS) secs[key][op].push(r.seconds[op]);
          bytesOf[key] = r.bytes;
          for (const st of [writer, reader]) if (st instanceof S3ArtifactStore) st.client.destroy();
          rmSync(root, { recursive: true, force: true });
        }
      }
    }
    return Object.fromEntries(
      Object.entries(secs).map(([key, ops]) => [key, { bytes: bytesOf[key], ...Object.fromEntries(OPS.map((op) => [`${op}MBps`, +(bytesOf[key] / 1e6 / median(ops[op])).toFixed(1)])) }]),
    ) as Record<string, { bytes: number } & Record<`${Op}MBps`, number>>;
  } finally {
    await s3.stop();
    dir.cleanup();
  }
}

// ---- 2. scaling -----------------------------------------------------------------------------

/** GORACS without evaluation, sized so that refinement runs many waves of 2 chunk activities with real work in each. */
const GORACS_CONFIG = {
  seed: 1,
  budget: 500,
  lambda: 0.1,
  maxIters: 20,
  cutNum: 24,
  cost: 'reference',
  model: { build: { vocab: 200, dModel: 64, nLayer: 1, nHead: 4, dFf: 128, maxPos: 16, seed: 1, tokenizer: { items: 100 } } },
  data: { type: 'synthetic', items: 100, clusters: 10, poolUsers: 8000, valUsers: 2000, testUsers: 10, seed: 1 },
  evaluation: { enabled: false },
  embedShards: 2,
  batchSize: 64,
  swapChunk: 72,
  swapConcurrency: 2,
};

/** examples/icrlvr/small.json's model and task, a short pretraining, 2 rollout shards a step. */
const ICRLVR_CONFIG = {
  mode: 'icrlvr',
  seed: 1,
  model: { build: { vocab: 104, dModel: 64, nLayer: 2, nHead: 4, dFf: 256, maxPos: 128, seed: 1 } },
  pretrain: { steps: 50, batchSize: 32, lr: 0.003 },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 60, heldOutQuestions: 20, demoPool: 20 },
  steps: 6,
  questionsPerStep: 16,
  groupSize: 8,
  demosPerGroup: 6,
  egDemos: 2,
  maxTokens: 24,
  lr: 0.003,
  evalEvery: 100,
  evalSamples: 4,
  rolloutShards: 2,
};

interface Activity {
  type: string;
  input: Record<string, unknown>;
  /** the workflow task that scheduled it: activities scheduled together share it */
  wave: string;
  scheduled: number;
  started: number;
  completed: number;
  worker: string;
}

const at = (e: HistoryEvent) => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Every completed activity of a run (all runs of its continue-as-new chain), from the server's events. */
async function activities(client: Client, id: string): Promise<Activity[]> {
  const out: Activity[] = [];
  for (const { runId, events } of await fetchRunChain(client, id)) {
    const byId = new Map(events.map((e) => [String(e.eventId), e]));
    for (const e of events) {
      const c = e.activityTaskCompletedEventAttributes;
      if (!c) continue;
      const s = byId.get(String(c.scheduledEventId))!;
      const st = byId.get(String(c.startedEventId))!;
      const a = s.activityTaskScheduledEventAttributes!;
      out.push({
        type: a.activityType!.name!,
        input: decodeFirst(a.input) as Record<string, unknown>,
        wave: `${runId}/${String(a.workflowTaskCompletedEventId)}`,
        scheduled: at(s),
        started: at(st),
        completed: at(e),
        worker: st.activityTaskStartedEventAttributes!.identity ?? '?',
      });
    }
  }
  return out;
}

/** Wall time of a stage's activities (first scheduled → last completed), summed over waves when `perWave`. */
function stageFigures(acts: Activity[], perWave: boolean) {
  const span = (xs: Activity[]) => Math.max(...xs.map((a) => a.completed)) - Math.min(...xs.map((a) => a.scheduled));
  const waves = new Map<string, Activity[]>();
  for (const a of acts) waves.set(a.wave, [...(waves.get(a.wave) ?? []), a]);
  const workers = new Map<string, number>();
  for (const a of acts) workers.set(a.worker, (workers.get(a.worker) ?? 0) + 1);
  // a worker's first activity of the stage loads what it has not loaded yet (model, problem, session)
  const firsts = [...workers.keys()].map((w) => acts.filter((a) => a.worker === w).reduce((x, y) => (y.started < x.started ? y : x)));
  const busy = acts.reduce((s, a) => s + (a.completed - a.started), 0);
  const wallMs = perWave ? [...waves.values()].reduce((s, w) => s + span(w), 0) : span(acts);
  return {
    wallMs: +wallMs.toFixed(1),
    activities: acts.length,
    waves: waves.size,
    /** started → completed, summed over the stage's activities */
    busyMs: +busy.toFixed(1),
    scheduleToStartMedianMs: +median(acts.map((a) => a.started - a.scheduled)).toFixed(1),
    activitiesPerWorker: [...workers.values()].sort((a, b) => b - a),
    firstActivityPerWorkerMs: firsts.map((a) => +(a.completed - a.started).toFixed(1)).sort((a, b) => b - a),
  };
}

/** sha256 of an artifact's data without its schema metadata (lineage: the experiment id, the stage, …). */
async function dataHash(store: LocalArtifactStore, ref: ArtifactRef): Promise<string> {
  const t = await store.get(ref);
  const bare = new Schema(t.schema.fields);
  return sha256Hex(tableToIPC(new Table(t.batches.map((b) => new RecordBatch(bare, b.data))), 'file'));
}

/** Wall time of a fixed busy loop in `n` processes at once. */
function busyLoops(n: number): Promise<number> {
  const t0 = performance.now();
  const loop = 'let x = 0; for (let i = 0; i < 4e8; i++) x += i % 7; if (x < 0) console.log(x);';
  return Promise.all(Array.from({ length: n }, () => new Promise((r) => spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }).once('exit', r)))).then(() => performance.now() - t0);
}

/** Cores free for this bench right now: 2 · T(one loop) / T(two loops at once); 2 on an idle 2-core machine, 1 if only one core's worth is free. */
async function freeCores(): Promise<number> {
  const one = await busyLoops(1);
  const two = await busyLoops(2);
  return +((2 * one) / two).toFixed(2);
}

/** Starts a run on `queue`, waits for it, and returns its stage's figures and its artifacts' data hashes. */
async function runStage(client: Client, kind: 'goracs' | 'icrlvr', config: object, id: string, queue: string, home: string) {
  const t0 = Date.now();
  await startExperiment(client, { kind, config, id, taskQueue: queue });
  const result = (await client.workflow.getHandle(id).result()) as RunStatus;
  const runMs = Date.now() - t0;
  const acts = await activities(client, id);
  const stage =
    kind === 'goracs'
      ? stageFigures(acts.filter((a) => ['goracsRefineStart', 'goracsRefineChunk', 'goracsRefineWrite'].includes(a.type)), false)
      : stageFigures(acts.filter((a) => a.type === 'icrlvrRollout'), true);
  const store = storeForHome(home);
  const artifacts: Record<string, string> = {};
  for (const a of result.artifacts) artifacts[a.name] = await dataHash(store, a);
  return { ...stage, runMs, artifacts, metrics: result.metrics };
}

async function scaling() {
  const cluster = await TestCluster.start();
  try {
    const client = await cluster.client();
    const out: Record<number, { goracs: Awaited<ReturnType<typeof runStage>>; icrlvr: Awaited<ReturnType<typeof runStage>> }> = {};
    const cores: number[] = [];
    const threads: Record<number, number> = {};
    for (const n of [1, 2]) {
      cores.push(await freeCores());
      const home = cluster.home(`n${n}`);
      mkdirSync(home, { recursive: true });
      const queue = `scale-n${n}`;
      const workers: WorkerProcess[] = [];
      // the machine's cores divided between the workers, as docs/several-machines.md asks of
      // workers sharing a machine (DLAB_ORT_THREADS, when set, for every worker instead)
      threads[n] = process.env.DLAB_ORT_THREADS ? intraOpThreads() : Math.max(1, Math.floor(physicalCores() / n));
      for (let k = 0; k < n; k++) workers.push(await cluster.startWorker(home, queue, undefined, { args: ['--max-concurrent', '1', '--ort-threads', String(threads[n])] }));
      process.stderr.write(`N=${n}: ${workers.length} worker process(es) on queue ${queue}, ${threads[n]} intra-op thread(s) each: goracs…\n`);
      const goracs = await runStage(client, 'goracs', GORACS_CONFIG, `bench-scale-goracs-n${n}`, queue, home);
      process.stderr.write(`N=${n}: icrlvr…\n`);
      const icrlvr = await runStage(client, 'icrlvr', ICRLVR_CONFIG, `bench-scale-icrlvr-n${n}`, queue, home);
      out[n] = { goracs, icrlvr };
      for (const w of workers) await w.stop();
    }
    cores.push(await freeCores());
    return { runs: out, freeCores: cores, threads };
  } finally {
    await cluster.stop();
  }
}

async function main() {
  process.stderr.write(`store throughput (${REPS} repetitions)…\n`);
  const store = await storeThroughput();
  const { runs: scale, freeCores: cores, threads } = await scaling();

  console.log(`store throughput, MB/s (10^6 bytes of artifact), median of ${REPS}; S3 = S3ArtifactStore against versitygw (POSIX backend) on this machine:`);
  const label: Record<Op, string> = { put: 'put (new)', putStored: 'put (stored)', getCold: 'get (cold cache)', getWarm: 'get (warm cache)' };
  console.log(`  ${''.padEnd(30)}${OPS.map((op) => label[op].padStart(18)).join('')}`);
  for (const [key, f] of Object.entries(store)) {
    const [kind, size] = key.split('.');
    const what = `${kind} ${size === 'small' ? '8 × 4 MiB' : '1 × 64 MiB'}`;
    console.log(`  ${what.padEnd(30)}${OPS.map((op) => String(f[`${op}MBps`]).padStart(18)).join('')}`);
  }
  for (const size of ['small', 'large']) {
    const l = store[`local.${size}`];
    const s = store[`s3.${size}`];
    console.log(`  s3 / local, ${size === 'small' ? '8 × 4 MiB' : '1 × 64 MiB'}: ${OPS.map((op) => `${label[op]} ${(s[`${op}MBps`] / l[`${op}MBps`]).toFixed(2)}`).join(', ')}`);
  }

  console.log(`\nscaling: the same runs with 1 and 2 \`dlab worker --max-concurrent 1\` processes, at ${threads[1]} and ${threads[2]} intra-op thread(s) each (wall times from server events):`);
  console.log(`  cores free (2 busy loops vs 1) before N=1, before N=2, after: ${cores.join(', ')} of 2`);
  const speedup = (k: 'goracs' | 'icrlvr') => scale[1][k].wallMs / scale[2][k].wallMs;
  const differing = (k: 'goracs' | 'icrlvr') => {
    const [a, b] = [scale[1][k].artifacts, scale[2][k].artifacts];
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((name) => a[name] !== b[name]);
  };
  for (const [k, what] of [
    ['goracs', 'GORACS refinement (start → write)'],
    ['icrlvr', 'icrlvr rollout stage, summed over steps'],
  ] as const) {
    for (const n of [1, 2]) {
      const f = scale[n][k];
      console.log(
        `  ${what}, N=${n}: ${(f.wallMs / 1000).toFixed(2)} s  (${f.activities} activities in ${f.waves} waves, busy ${(f.busyMs / 1000).toFixed(2)} s, ` +
          `scheduled → started median ${f.scheduleToStartMedianMs} ms, activities per worker ${f.activitiesPerWorker.join('/')}, ` +
          `the first on each worker ${f.firstActivityPerWorkerMs.map((x) => (x / 1000).toFixed(2)).join('/')} s; whole run ${(f.runMs / 1000).toFixed(1)} s)`,
      );
    }
    const differ = differing(k);
    console.log(`  ${what}: speedup T1/T2 = ${speedup(k).toFixed(2)}×; the ${Object.keys(scale[1][k].artifacts).length} artifacts hold the same data across N: ${differ.length ? `NO (${differ.join(', ')})` : 'yes'}`);
  }
  const strip = ({ artifacts: _, metrics: __, ...f }: Awaited<ReturnType<typeof runStage>>) => f;
  console.log(
    JSON.stringify({
      bench: 'scale',
      storeReps: REPS,
      store,
      freeCores: cores,
      ortThreads: { n1: threads[1], n2: threads[2] },
      goracsRefinement: { n1: strip(scale[1].goracs), n2: strip(scale[2].goracs), speedup: +speedup('goracs').toFixed(3), artifactsEqual: differing('goracs').length === 0, swapsAccepted: (scale[1].goracs.metrics as { swapsAccepted?: number } | undefined)?.swapsAccepted },
      icrlvrRollout: { n1: strip(scale[1].icrlvr), n2: strip(scale[2].icrlvr), speedup: +speedup('icrlvr').toFixed(3), artifactsEqual: differing('icrlvr').length === 0 },
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

// `npm run bench:platform`: what the platform itself costs.
//  1. one no-op activity round trip through a real dev server (schedule → worker → complete →
//     next workflow task → next schedule), median over N, from the server's own event times —
//     on the dev server as the Temporal CLI configures it and as dlab starts it, side by side;
//  2. write + read throughput of a 1e6 × 64 float32 embedding artifact (hash, IPC, fsync,
//     rename; read, verify, zero-copy vectors) next to a plain copy of the same bytes.
// Ends with one line: a JSON object of the figures.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tsToIso } from '../client/events';
import { EMBEDDINGS } from '../schemas/artifacts';
import { LocalArtifactStore } from '../lib/store/artifact-store';
import { readVectors, tableFromColumns, vectorColumn } from '../lib/store/columns';
import { Rng } from '../lib/rng';
import { withBenchCluster } from './bench-cluster';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../client/dev-server';
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

async function roundTrips(dynamicConfig?: Record<string, number | boolean>) {
  return withBenchCluster(async (client) => {
    const handle = await client.workflow.start('noopRoundTrips', { taskQueue: 'bench', workflowId: 'bench-noop', args: [ROUND_TRIPS] });
    const t0 = process.hrtime.bigint();
    await handle.result();
    const wall = seconds(t0);
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => Date.parse(tsToIso(e.eventTime)!));
    const cycles = scheduled.slice(1).map((t, i) => t - scheduled[i]);
    return { medianMs: median(cycles), p90Ms: quantile(cycles, 0.9), maxMs: Math.max(...cycles), wallPerActivityMs: (wall * 1000) / ROUND_TRIPS };
  }, { dynamicConfig });
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
    // the dev server as the Temporal CLI configures it, then as dlab starts it (DEV_SERVER_DYNAMIC_CONFIG)
    const stock = await roundTrips({});
    const rt = await roundTrips(undefined);
    const show = (label: string, r: typeof rt) =>
      console.log(`no-op activity round trip, ${label} (${ROUND_TRIPS}, from server event times): median ${r.medianMs.toFixed(1)} ms, p90 ${r.p90Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(0)} ms; wall ${r.wallPerActivityMs.toFixed(1)} ms per activity`);
    show('stock dev server', stock);
    show(`dlab's dev server (${Object.entries(DEV_SERVER_DYNAMIC_CONFIG).map(([k, v]) => `${k}=${v}`).join(', ')})`, rt);
    console.log(`  median ratio stock / dlab: ${(stock.medianMs / rt.medianMs).toFixed(2)}×`);
    const io = await artifactThroughput(dir.path);
    console.log(`embedding artifact ${ROWS} × ${DIM} float32 (${(io.bytes / 1e6).toFixed(0)} MB file):`);
    console.log(`  write (IPC + sha256 + fsync + rename) ${io.writeGBps.toFixed(2)} GB/s   read (read + verify + zero-copy vectors) ${io.readGBps.toFixed(2)} GB/s`);
    console.log(`  plain buffer copy ${io.copyGBps.toFixed(2)} GB/s; sha256 alone ${io.sha256GBps.toFixed(2)} GB/s; write/copy ${io.writeVsCopy.toFixed(3)}, read/copy ${io.readVsCopy.toFixed(3)}`);
    console.log(
      JSON.stringify({
        bench: 'platform',
        stockRoundTripMedianMs: +stock.medianMs.toFixed(2),
        stockRoundTripP90Ms: +stock.p90Ms.toFixed(2),
        noopRoundTripMedianMs: +rt.medianMs.toFixed(2),
        noopRoundTripMaxMs: +rt.maxMs.toFixed(2),
        noopRoundTripP90Ms: +rt.p90Ms.toFixed(2),
        noopWallPerActivityMs: +rt.wallPerActivityMs.toFixed(2),
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

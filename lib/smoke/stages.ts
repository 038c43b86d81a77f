import { SMOKE_CHUNK, SMOKE_SUMMARY, SMOKE_TABLE, SMOKE_TRANSFORMED } from '../../schemas/artifacts';
import { BatchState, LoopHooks, StageOutcome, batchCount, batchRange, runBatches } from '../batches';
import { Rng } from '../rng';
import { readNumbers, readVectors, tableFromColumns, vectorColumn } from '../store/columns';
import { ArtifactIO, ChunkRef, chunkRef } from '../store/io';
import { ArtifactRef } from '../store/ref';

/**
 * The smoke experiment's three stages, each a resumable batch loop:
 *   generate:  x[i, :] ~ N(0, I_dim), batch b drawn from RNG stream b      → smoke.table
 *   transform: y = f(x) with an ONNX model, batch by batch                 → smoke.transformed
 *   summarise: mean, std, min, max of y per dimension, accumulated per batch → smoke.summary
 * Batches that finish are persisted (chunks, or accumulators in the state) so a retried
 * attempt continues from its last heartbeat; the final artifact does not depend on where
 * or how often the stage was interrupted.
 */

export interface ChunkedState extends BatchState {
  chunks: ChunkRef[];
}

export interface TableSpec {
  seed: number;
  rows: number;
  dim: number;
  batchSize: number;
}

/** Stage 1 — a seeded table; each batch's rows come from their own RNG stream, so batches are independent. */
export async function generateTable(spec: TableSpec, io: ArtifactIO, hooks: LoopHooks<ChunkedState> = {}): Promise<StageOutcome> {
  const state: ChunkedState = hooks.resume ?? { nextBatch: 0, batches: batchCount(spec.rows, spec.batchSize), chunks: [] };
  const resumedFromBatch = state.nextBatch;
  const batchesRun = await runBatches({ state, onProgress: hooks.onProgress, signal: hooks.signal }, async (b) => {
    const [start, end] = batchRange(b, spec.rows, spec.batchSize);
    const x = new Float32Array((end - start) * spec.dim);
    new Rng(spec.seed, b).fillNormal(x);
    const ids = rowIds(start, end);
    const ref = await io.write(tableFromColumns({ id: ids, y: vectorColumn(x, spec.dim) }), SMOKE_CHUNK, []);
    state.chunks.push(chunkRef(ref));
  });
  const { ids, values } = await concatChunks(io, state.chunks, spec.dim);
  const output = await io.write(tableFromColumns({ id: ids, x: vectorColumn(values, spec.dim) }), SMOKE_TABLE, []);
  return { output, resumedFromBatch, batchesRun, batches: state.batches };
}

/** A batch function: `rows` row-major inputs of width inDim → rows × outDim outputs. */
export type BatchModel = (x: Float32Array, rows: number) => Promise<Float32Array>;

export interface TransformSpec {
  batchSize: number;
  outDim: number;
  /** hash of the model file, recorded as a parent of the output */
  modelSha256: string;
}

/** Stage 2 — y = model(x) batch by batch; input is a smoke.table (column x) or a previous smoke.transformed (column y). */
export async function transformTable(
  input: ArtifactRef,
  model: BatchModel,
  spec: TransformSpec,
  io: ArtifactIO,
  hooks: LoopHooks<ChunkedState> = {},
): Promise<StageOutcome> {
  const table = await io.read(input);
  const column = input.schema === SMOKE_TABLE.name + '@' + SMOKE_TABLE.version ? 'x' : 'y';
  const { data, rows, dim } = readVectors(table, column);
  const state: ChunkedState = hooks.resume ?? { nextBatch: 0, batches: batchCount(rows, spec.batchSize), chunks: [] };
  const resumedFromBatch = state.nextBatch;
  const batchesRun = await runBatches({ state, onProgress: hooks.onProgress, signal: hooks.signal }, async (b) => {
    const [start, end] = batchRange(b, rows, spec.batchSize);
    const y = await model(data.subarray(start * dim, end * dim), end - start);
    const ref = await io.write(tableFromColumns({ id: rowIds(start, end), y: vectorColumn(y, spec.outDim) }), SMOKE_CHUNK, [input.sha256]);
    state.chunks.push(chunkRef(ref));
  });
  const { ids, values } = await concatChunks(io, state.chunks, spec.outDim);
  const output = await io.write(tableFromColumns({ id: ids, y: vectorColumn(values, spec.outDim) }), SMOKE_TRANSFORMED, [input.sha256, spec.modelSha256]);
  return { output, resumedFromBatch, batchesRun, batches: state.batches };
}

export interface SummaryState extends BatchState {
  count: number;
  sum: number[];
  sumSq: number[];
  min: number[];
  max: number[];
}

/** Stage 3 — per dimension d: mean = Σy/n, std = sqrt(Σy²/n − mean²), min, max; accumulators live in the heartbeat. */
export async function summariseTable(input: ArtifactRef, batchSize: number, io: ArtifactIO, hooks: LoopHooks<SummaryState> = {}): Promise<StageOutcome> {
  const { data, rows, dim } = readVectors(await io.read(input), 'y');
  const state: SummaryState = hooks.resume ?? {
    nextBatch: 0,
    batches: batchCount(rows, batchSize),
    count: 0,
    sum: new Array(dim).fill(0),
    sumSq: new Array(dim).fill(0),
    min: new Array(dim).fill(Infinity),
    max: new Array(dim).fill(-Infinity),
  };
  const resumedFromBatch = state.nextBatch;
  const batchesRun = await runBatches({ state, onProgress: hooks.onProgress, signal: hooks.signal }, (b) => {
    const [start, end] = batchRange(b, rows, batchSize);
    for (let i = start; i < end; i++) {
      for (let d = 0; d < dim; d++) {
        const v = data[i * dim + d];
        state.sum[d] += v;
        state.sumSq[d] += v * v;
        if (v < state.min[d]) state.min[d] = v;
        if (v > state.max[d]) state.max[d] = v;
      }
    }
    state.count += end - start;
  });
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let d = 0; d < dim; d++) {
    mean[d] = state.sum[d] / state.count;
    std[d] = Math.sqrt(Math.max(0, state.sumSq[d] / state.count - mean[d] * mean[d]));
  }
  const output = await io.write(
    tableFromColumns({ dim: rowIds(0, dim), mean, std, min: Float64Array.from(state.min), max: Float64Array.from(state.max) }),
    SMOKE_SUMMARY,
    [input.sha256],
  );
  return { output, resumedFromBatch, batchesRun, batches: state.batches };
}

function rowIds(start: number, end: number): Int32Array {
  const ids = new Int32Array(end - start);
  for (let i = 0; i < ids.length; i++) ids[i] = start + i;
  return ids;
}

/** Reads chunks in order and joins their rows into one flat array. */
async function concatChunks(io: ArtifactIO, chunks: ChunkRef[], dim: number): Promise<{ ids: Int32Array; values: Float32Array }> {
  const parts = [];
  let rows = 0;
  for (const c of chunks) {
    const t = await io.read(c);
    const v = readVectors(t, 'y');
    if (v.dim !== dim) throw new Error(`chunk ${c.sha256}: dim ${v.dim}, expected ${dim}`);
    parts.push({ ids: readNumbers(t, 'id') as Int32Array, values: v.data });
    rows += v.rows;
  }
  const ids = new Int32Array(rows);
  const values = new Float32Array(rows * dim);
  let at = 0;
  for (const p of parts) {
    ids.set(p.ids, at);
    values.set(p.values, at * dim);
    at += p.ids.length;
  }
  return { ids, values };
}

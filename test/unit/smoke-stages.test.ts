import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { InferenceSession } from 'onnxruntime-node';
import { ChunkedState, generateTable, summariseTable, transformTable } from '../../lib/smoke/stages';
import { buildMlp, mlpBatchModel } from '../../lib/model/mlp';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { readNumbers, readVectors } from '../../lib/store/columns';
import { ArtifactIO } from '../../lib/store/io';
import { Rng } from '../../lib/rng';
import { tempDir } from '../helpers/tmp';

function ioFor(store: LocalArtifactStore, stage: string): ArtifactIO {
  const lineage = { experimentId: 'unit', stage, producer: 'test', configHash: 'h', codeVersion: 'v' };
  return { write: (t, s, parents) => store.put(t, s, { ...lineage, parents }), read: (ref) => store.get(ref) };
}

/** y = tanh(x W1 + b1) W2 + b2 in plain float64 loops, weights drawn exactly as buildMlp draws them. */
function mlpByHand(x: Float32Array, rows: number, inDim: number, hidden: number, outDim: number, seed: number): Float64Array {
  const rng = new Rng(seed, 0x6d6c70);
  const w1 = new Float32Array(inDim * hidden);
  rng.fillNormal(w1, 1 / Math.sqrt(inDim));
  const b1 = new Float32Array(hidden);
  rng.fillNormal(b1, 0.1);
  const w2 = new Float32Array(hidden * outDim);
  rng.fillNormal(w2, 1 / Math.sqrt(hidden));
  const b2 = new Float32Array(outDim);
  rng.fillNormal(b2, 0.1);
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const h = new Float64Array(hidden);
    for (let j = 0; j < hidden; j++) {
      let s = b1[j];
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w1[i * hidden + j];
      h[j] = Math.tanh(s);
    }
    for (let k = 0; k < outDim; k++) {
      let s = b2[k];
      for (let j = 0; j < hidden; j++) s += h[j] * w2[j * outDim + k];
      y[r * outDim + k] = s;
    }
  }
  return y;
}

describe('smoke stages (lib/smoke) with a real store and ONNX Runtime', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  const spec = { seed: 3, rows: 50, dim: 4, batchSize: 8 };
  let session: InferenceSession;
  before(async () => {
    session = await InferenceSession.create(buildMlp({ inDim: 4, hidden: 6, outDim: 4, seed: 3 }));
  });
  beforeEach(() => {
    dir = tempDir('smoke');
    store = new LocalArtifactStore(dir.path);
  });
  afterEach(() => dir.cleanup());

  it('generate: 50 rows in 7 batches, ids 0…49, each batch from its own RNG stream', async () => {
    const out = await generateTable(spec, ioFor(store, 'generate'));
    assert.deepEqual([out.batches, out.batchesRun, out.resumedFromBatch, out.output.rows], [7, 7, 0, 50]);
    const table = await store.get(out.output);
    assert.deepEqual(Array.from(readNumbers(table, 'id')).slice(-3), [47, 48, 49]);
    const x = readVectors(table, 'x').data;
    const batch2 = new Float32Array(8 * 4);
    new Rng(3, 2).fillNormal(batch2);
    assert.deepEqual(x.subarray(16 * 4, 24 * 4), batch2);
  });

  it('transform: the ONNX MLP equals the formula computed by hand (|Δ| < 1e-5)', async () => {
    const table = (await generateTable(spec, ioFor(store, 'generate'))).output;
    const out = await transformTable(table, mlpBatchModel(session, 4), { batchSize: 8, outDim: 4, modelSha256: 'm'.repeat(64) }, ioFor(store, 'transform'));
    const x = readVectors(await store.get(table), 'x').data;
    const y = readVectors(await store.get(out.output), 'y').data;
    const expected = mlpByHand(x, 50, 4, 6, 4, 3);
    let maxDiff = 0;
    for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - expected[i]));
    assert.ok(maxDiff < 1e-5, `max |Δ| ${maxDiff}`);
  });

  it('transform interrupted after 3 batches resumes at batch 3 and writes the same bytes as an uninterrupted run', async () => {
    const io = ioFor(store, 'transform');
    const table = (await generateTable(spec, ioFor(store, 'generate'))).output;
    const model = mlpBatchModel(session, 4);
    const tspec = { batchSize: 8, outDim: 4, modelSha256: 'm'.repeat(64) };
    const whole = await transformTable(table, model, tspec, io);

    let lastBeat: ChunkedState | undefined;
    await assert.rejects(
      transformTable(table, model, tspec, io, {
        onProgress: (s) => {
          lastBeat = JSON.parse(JSON.stringify(s)); // what a heartbeat carries: a JSON copy
          if (s.nextBatch === 3) throw new Error('worker killed');
        },
      }),
      /worker killed/,
    );
    assert.equal(lastBeat!.nextBatch, 3);
    const resumed = await transformTable(table, model, tspec, io, { resume: lastBeat });
    assert.deepEqual([resumed.resumedFromBatch, resumed.batchesRun], [3, 4]);
    assert.equal(resumed.output.sha256, whole.output.sha256);
    assert.deepEqual(readFileSync(store.locate(resumed.output.sha256)), readFileSync(store.locate(whole.output.sha256)));
  });

  it('summarise: mean, std, min, max per dimension match a direct computation, also when resumed mid-way', async () => {
    const table = (await generateTable(spec, ioFor(store, 'generate'))).output;
    const t = await transformTable(table, mlpBatchModel(session, 4), { batchSize: 8, outDim: 4, modelSha256: 'm'.repeat(64) }, ioFor(store, 'transform'));
    const y = readVectors(await store.get(t.output), 'y').data;
    const io = ioFor(store, 'summarise');
    const whole = await summariseTable(t.output, 8, io);
    let beat: unknown;
    await assert.rejects(
      summariseTable(t.output, 8, io, {
        onProgress: (s) => {
          beat = JSON.parse(JSON.stringify(s));
          if (s.nextBatch === 5) throw new Error('killed');
        },
      }),
    );
    const resumed = await summariseTable(t.output, 8, io, { resume: beat as never });
    assert.equal(resumed.output.sha256, whole.output.sha256);
    const summary = await store.get(whole.output);
    for (let d = 0; d < 4; d++) {
      let s = 0;
      let lo = Infinity;
      for (let i = 0; i < 50; i++) {
        s += y[i * 4 + d];
        lo = Math.min(lo, y[i * 4 + d]);
      }
      const mean = s / 50;
      let v = 0;
      for (let i = 0; i < 50; i++) v += (y[i * 4 + d] - mean) ** 2;
      assert.ok(Math.abs(readNumbers(summary, 'mean')[d] - mean) < 1e-12);
      assert.ok(Math.abs(readNumbers(summary, 'std')[d] - Math.sqrt(v / 50)) < 1e-9);
      assert.equal(readNumbers(summary, 'min')[d], lo);
    }
  });
});

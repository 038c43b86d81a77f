/**
 * Speed of the head-gradient kernels (lib/model/head-gradient.ts, lib/model/projection.ts):
 *  1. dW = gᵀh, g [T, V], h [T, d], in GFLOP/s (2·T·V·d flops) at T=4096, V=512, d=256 and
 *     T=256 (one packed block) and T=32 (one sample), V=512, d=256: the typed-array kernel `headGradient`, the ONNX
 *     Runtime path `OrtHeadGradient` (1 and 2 intra-op threads), and as the reference a plain
 *     ORT MatMul [V, T]·[T, d] with the transpose already done; plus each one's error
 *     against a float64 loop, and what summing across packed blocks in float64 costs;
 *  2. Gram-identity gradient norms for 1000 samples of 32 tokens at V=512, d=256 (per second);
 *  3. the seeded projection (kA = kH = 16) of the same 1000 samples.
 * Medians over interleaved rounds (see timeInterleaved): the machine may be shared. The last
 * line is one JSON object of all figures. BENCH_SECONDS (default 1.5) sets the time per figure.
 *
 *   node dist/scripts/bench-head-gradient.js
 */
import { cpus } from 'node:os';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { OrtHeadGradient, headGradient, perSampleGradNorms } from '../lib/model/head-gradient';
import { FLOAT, GraphBuilder } from '../lib/model/onnx-graph';
import { GradientProjector } from '../lib/model/projection';
import { sessionOptions } from '../lib/model/session-cache';
import { Rng } from '../lib/rng';

const MIN_SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Median seconds per call of each function, timed in interleaved rounds (one call of each
 * per round, after one warm-up call each) so load from other processes on the shared
 * machine hits all of them alike; at least 3 rounds and MIN_SECONDS per function.
 */
async function timeInterleaved(fns: Record<string, () => unknown>): Promise<Record<string, number>> {
  const names = Object.keys(fns);
  const times: Record<string, number[]> = {};
  for (const n of names) {
    await fns[n]();
    times[n] = [];
  }
  const start = process.hrtime.bigint();
  while (times[names[0]].length < 3 || Number(process.hrtime.bigint() - start) / 1e9 < MIN_SECONDS * names.length) {
    for (const n of names) {
      const t0 = process.hrtime.bigint();
      await fns[n]();
      times[n].push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  const medians: Record<string, number> = {};
  for (const n of names) medians[n] = median(times[n]);
  return medians;
}

function normals(n: number, rng: Rng): Float32Array {
  const x = new Float32Array(n);
  rng.fillNormal(x);
  return x;
}

/** Reference graph: dW = MatMul(gT, h), gT [V, T], h [T, d], dims dynamic. */
function plainMatMulGraph(): Uint8Array {
  const b = new GraphBuilder('bench_matmul');
  b.input('gT', FLOAT, ['V', 'T']);
  b.input('h', FLOAT, ['T', 'd']);
  b.output('dW', FLOAT, ['V', 'd']);
  b.op('MatMul', ['gT', 'h'], undefined, 'dW');
  return b.toBytes();
}

function maxRelError(got: Float32Array, want: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let e = 0; e < want.length; e++) {
    diff = Math.max(diff, Math.abs(got[e] - want[e]));
    scale = Math.max(scale, Math.abs(want[e]));
  }
  return diff / scale;
}

async function benchDw(T: number, V: number, d: number, withAccuracy: boolean) {
  const rng = new Rng(1, T);
  const g = normals(T * V, rng);
  const h = normals(T * d, rng);
  const gT = new Float32Array(V * T);
  for (let t = 0; t < T; t++) for (let v = 0; v < V; v++) gT[v * T + t] = g[t * V + v];
  const flops = 2 * T * V * d;
  const gflops = (s: number) => Math.round((flops / s / 1e9) * 100) / 100;

  const out = { dW: new Float32Array(V * d), db: new Float32Array(V) };
  const fns: Record<string, () => unknown> = { typedArray: () => headGradient(g, h, T, V, d, out) };
  if (T > 256) {
    // the same work as T/256 calls of one packed block each, summed in float32 between calls
    fns.typedArrayFloat32AcrossBlocks = () => {
      for (let t0 = 0; t0 < T; t0 += 256) headGradient(g.subarray(t0 * V, (t0 + 256) * V), h.subarray(t0 * d, (t0 + 256) * d), 256, V, d, out);
    };
  }
  // the typed-array figures are taken before any ORT session exists, so ORT's thread pool
  // cannot compete with them for the two cores
  const js = await timeInterleaved(fns);
  const ortFns: Record<string, () => unknown> = {};
  const results: Record<string, Float32Array> = {};
  const sessions: InferenceSession[] = [];
  for (const threads of [1, 2]) {
    const path = await OrtHeadGradient.create({ intraOpNumThreads: threads });
    ortFns[`ortThreads${threads}`] = () => path.run(g, h, T, V, d);
    results[`ort${threads}`] = await path.run(g, h, T, V, d);
    const session = await InferenceSession.create(plainMatMulGraph(), sessionOptions(threads));
    sessions.push(session);
    const feeds = { gT: new Tensor('float32', gT, [V, T]), h: new Tensor('float32', h, [T, d]) };
    ortFns[`plainMatMulThreads${threads}`] = () => session.run(feeds);
  }
  const sec = { ...js, ...(await timeInterleaved(ortFns)) };
  for (const s of sessions) await s.release();

  const figure: Record<string, unknown> = {
    T, V, d,
    typedArrayGflops: gflops(sec.typedArray),
    ortGflops: { threads1: gflops(sec.ortThreads1), threads2: gflops(sec.ortThreads2) },
    plainMatMulGflops: { threads1: gflops(sec.plainMatMulThreads1), threads2: gflops(sec.plainMatMulThreads2) },
  };
  if (T > 256) figure.float64AcrossBlocksOverheadPct = Math.round((sec.typedArray / sec.typedArrayFloat32AcrossBlocks - 1) * 1000) / 10;
  if (withAccuracy) {
    const exact = new Float64Array(V * d);
    for (let t = 0; t < T; t++) {
      for (let v = 0; v < V; v++) {
        const gv = g[t * V + v];
        const o = v * d;
        for (let j = 0; j < d; j++) exact[o + j] += gv * h[t * d + j];
      }
    }
    figure.maxRelErrorVsFloat64 = {
      typedArray: maxRelError(headGradient(g, h, T, V, d).dW, exact),
      ortThreads1: maxRelError(results.ort1, exact),
      ortThreads2: maxRelError(results.ort2, exact),
    };
  }
  return figure;
}

function benchPerSample(nSamples: number, tokens: number, V: number, d: number) {
  const rng = new Rng(2);
  const a = normals(nSamples * tokens * V, rng);
  const h = normals(nSamples * tokens * d, rng);
  const offsets = new Int32Array(nSamples + 1);
  for (let i = 0; i <= nSamples; i++) offsets[i] = i * tokens;
  return { a, h, offsets };
}

async function main() {
  const shapes: [number, number, number][] = [
    [4096, 512, 256],
    [256, 512, 256],
    [32, 512, 256],
  ];
  const dw = [];
  for (const [T, V, d] of shapes) {
    const f = await benchDw(T, V, d, T === 4096);
    console.log(`dW T=${T} V=${V} d=${d}: typed-array ${f.typedArrayGflops} GFLOP/s; ORT ${JSON.stringify(f.ortGflops)}; plain ORT MatMul ${JSON.stringify(f.plainMatMulGflops)}` +
      (f.float64AcrossBlocksOverheadPct !== undefined ? `; float64 across blocks costs ${f.float64AcrossBlocksOverheadPct} %` : '') +
      (f.maxRelErrorVsFloat64 ? `; max rel error vs float64 ${JSON.stringify(f.maxRelErrorVsFloat64)}` : ''));
    dw.push(f);
  }

  const nSamples = 1000, tokens = 32, V = 512, d = 256, kA = 16, kH = 16;
  const { a, h, offsets } = benchPerSample(nSamples, tokens, V, d);
  const projector = new GradientProjector(V, d, kA, kH, 3);
  const sec = await timeInterleaved({
    gram: () => perSampleGradNorms(a, h, offsets, V, d, 'mean'),
    projection: () => projector.projectSamples(a, h, offsets, 'mean'),
    // for scale: forming one G_i explicitly with the typed-array kernel
    formOne: () => headGradient(a.subarray(0, tokens * V), h.subarray(0, tokens * d), tokens, V, d),
  });
  const gramSeconds = sec.gram;
  const projSeconds = sec.projection;
  const formOne = sec.formOne;
  const perSample = {
    samples: nSamples, tokens, V, d,
    gramNormsPerSecond: Math.round(nSamples / gramSeconds),
    gramNormsSeconds: Math.round(gramSeconds * 1000) / 1000,
    explicitGPerSecond: Math.round(1 / formOne),
    projection: { kA, kH, seconds: Math.round(projSeconds * 1000) / 1000, samplesPerSecond: Math.round(nSamples / projSeconds) },
  };
  console.log(`per-sample norms (${nSamples} × ${tokens} tokens, V=${V}, d=${d}): ${perSample.gramNormsPerSecond}/s (forming G_i explicitly: ${perSample.explicitGPerSecond}/s); projection to ${kA}×${kH}: ${perSample.projection.seconds} s (${perSample.projection.samplesPerSecond}/s)`);
  console.log(JSON.stringify({ dW: dw, perSample, node: process.version, cpus: cpus().length }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

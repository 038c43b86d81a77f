import { strict as assert } from 'node:assert';
import { OrtHeadGradient, gramNormSquared, headGradient, perSampleGradNorms } from '../../lib/model/head-gradient';
import { GradientProjector } from '../../lib/model/projection';
import { Rng } from '../../lib/rng';

function normals(n: number, rng: Rng): Float32Array {
  const x = new Float32Array(n);
  rng.fillNormal(x);
  return x;
}

/** Σ_t a_t h_tᵀ formed explicitly in float64: [V, d]. */
function explicitOuterSum(a: Float32Array, h: Float32Array, T: number, V: number, d: number): Float64Array {
  const G = new Float64Array(V * d);
  for (let t = 0; t < T; t++) for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) G[v * d + j] += a[t * V + v] * h[t * d + j];
  return G;
}

function sumSquares(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff += (got[i] - want[i]) ** 2;
  return Math.sqrt(diff / sumSquares(want));
}

/** Mean token cross-entropy of softmax(W h_t + b) against labels y, in float64. */
function meanCrossEntropy(W: Float64Array, b: Float64Array, h: Float32Array, y: number[], V: number, d: number): number {
  let loss = 0;
  for (let t = 0; t < y.length; t++) {
    const z = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      z[v] = b[v];
      for (let j = 0; j < d; j++) z[v] += W[v * d + j] * h[t * d + j];
    }
    const max = Math.max(...z);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(z[v] - max);
    loss += Math.log(sum) + max - z[y[t]];
  }
  return loss / y.length;
}

describe('head gradient dW = gᵀh, db = Σ_t g_t', () => {
  it('matches a 2-token, V=3, d=2 example worked by hand', () => {
    // g = [[1, 2, 0], [-1, 0, 3]], h = [[1, 2], [3, 4]]
    // dW row v = Σ_t g[t,v] h_t: v0 = [1,2] - [3,4] = [-2,-2]; v1 = 2·[1,2] = [2,4]; v2 = 3·[3,4] = [9,12]
    const g = Float32Array.of(1, 2, 0, -1, 0, 3);
    const h = Float32Array.of(1, 2, 3, 4);
    const { dW, db } = headGradient(g, h, 2, 3, 2);
    assert.deepEqual(Array.from(dW), [-2, -2, 2, 4, 9, 12]);
    assert.deepEqual(Array.from(db), [0, 2, 3]);
  });

  it('equals finite differences of the mean token cross-entropy (float64 reference)', () => {
    const T = 4, V = 5, d = 3;
    const rng = new Rng(11);
    const W = Float64Array.from(normals(V * d, rng), (x) => 0.5 * x);
    const b = Float64Array.from(normals(V, rng), (x) => 0.5 * x);
    const h = normals(T * d, rng);
    const y = [0, 3, 3, 4];
    // analytic g_t = (softmax(z_t) - e_{y_t}) / T
    const g = new Float32Array(T * V);
    for (let t = 0; t < T; t++) {
      const z = new Float64Array(V);
      for (let v = 0; v < V; v++) {
        z[v] = b[v];
        for (let j = 0; j < d; j++) z[v] += W[v * d + j] * h[t * d + j];
      }
      const max = Math.max(...z);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(z[v] - max);
      for (let v = 0; v < V; v++) g[t * V + v] = (Math.exp(z[v] - max) / sum - (v === y[t] ? 1 : 0)) / T;
    }
    const { dW, db } = headGradient(g, h, T, V, d);
    const eps = 1e-6;
    const numW = new Float64Array(V * d);
    for (let e = 0; e < V * d; e++) {
      const w0 = W[e];
      W[e] = w0 + eps;
      const up = meanCrossEntropy(W, b, h, y, V, d);
      W[e] = w0 - eps;
      const down = meanCrossEntropy(W, b, h, y, V, d);
      W[e] = w0;
      numW[e] = (up - down) / (2 * eps);
    }
    const numB = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      const b0 = b[v];
      b[v] = b0 + eps;
      const up = meanCrossEntropy(W, b, h, y, V, d);
      b[v] = b0 - eps;
      const down = meanCrossEntropy(W, b, h, y, V, d);
      b[v] = b0;
      numB[v] = (up - down) / (2 * eps);
    }
    assert.ok(relError(dW, numW) < 1e-3, `dW rel err ${relError(dW, numW)}`);
    assert.ok(relError(db, numB) < 1e-3, `db rel err ${relError(db, numB)}`);
  });

  it('accumulates into out: two batches summed equal one concatenated batch', () => {
    const V = 7, d = 6, T1 = 5, T2 = 300; // T2 > 256 exercises the multi-block path
    const rng = new Rng(12);
    const g = normals((T1 + T2) * V, rng);
    const h = normals((T1 + T2) * d, rng);
    const whole = headGradient(g, h, T1 + T2, V, d);
    const out = { dW: new Float32Array(V * d), db: new Float32Array(V) };
    headGradient(g.subarray(0, T1 * V), h.subarray(0, T1 * d), T1, V, d, out);
    const returned = headGradient(g.subarray(T1 * V), h.subarray(T1 * d), T2, V, d, out);
    assert.equal(returned.dW, out.dW);
    assert.equal(returned.db, out.db);
    for (let e = 0; e < V * d; e++) assert.ok(Math.abs(out.dW[e] - whole.dW[e]) < 1e-4, `dW[${e}]: ${out.dW[e]} vs ${whole.dW[e]}`);
    for (let v = 0; v < V; v++) assert.ok(Math.abs(out.db[v] - whole.db[v]) < 1e-4, `db[${v}]: ${out.db[v]} vs ${whole.db[v]}`);
  });

  it('adds to what out already holds', () => {
    const out = { dW: Float32Array.of(10, 10, 10, 10, 10, 10), db: Float32Array.of(1, 1, 1) };
    headGradient(Float32Array.of(1, 2, 0, -1, 0, 3), Float32Array.of(1, 2, 3, 4), 2, 3, 2, out);
    assert.deepEqual(Array.from(out.dW), [8, 8, 12, 14, 19, 22]);
    assert.deepEqual(Array.from(out.db), [1, 3, 4]);
  });

  it('refuses arrays whose length does not match the shape, naming both', () => {
    assert.throws(() => headGradient(new Float32Array(5), new Float32Array(4), 2, 3, 2), /g must hold 2 × 3 = 6 floats, found 5/);
  });

  it('the ONNX Runtime path equals the typed-array kernel at T=300, V=97, d=33, and accumulates into out', async function () {
    this.timeout(20000);
    const T = 300, V = 97, d = 33;
    const rng = new Rng(13);
    const g = normals(T * V, rng);
    const h = normals(T * d, rng);
    const ort = await OrtHeadGradient.create();
    const viaOrt = await ort.run(g, h, T, V, d);
    const { dW } = headGradient(g, h, T, V, d);
    let maxDiff = 0;
    for (let e = 0; e < V * d; e++) maxDiff = Math.max(maxDiff, Math.abs(viaOrt[e] - dW[e]));
    assert.equal(viaOrt.length, V * d);
    assert.ok(maxDiff < 1e-4, `max abs diff ${maxDiff}`);
    const out = new Float32Array(V * d).fill(1);
    assert.equal(await ort.run(g, h, T, V, d, out), out, 'run(…, out) returns out');
    for (let e = 0; e < V * d; e++) assert.ok(Math.abs(out[e] - 1 - viaOrt[e]) < 1e-4, `out[${e}] = 1 + dW`);
  });
});

describe('per-sample gradient norms by the Gram identity', () => {
  it('two orthogonal a_t give ‖G‖² = 2; opposite a_t on equal h_t cancel to 0', () => {
    // a = [[1,0],[0,1]], h = [[1,0],[1,0]]: G = [[1,0],[1,0]], ‖G‖² = 1 + 1
    assert.equal(gramNormSquared(Float32Array.of(1, 0, 0, 1), Float32Array.of(1, 0, 1, 0), 2, 2, 2), 2);
    // a = [[1,0],[-1,0]], h = [[1,1],[1,1]]: G = 0; Gram terms 2 + 2 − 2·2
    assert.equal(gramNormSquared(Float32Array.of(1, 0, -1, 0), Float32Array.of(1, 1, 1, 1), 2, 2, 2), 0);
  });

  it('equals ‖Σ_t a_t h_tᵀ‖²_F of the explicitly formed matrix (T=7, V=6, d=5)', () => {
    const T = 7, V = 6, d = 5;
    const rng = new Rng(21);
    const a = normals(T * V, rng);
    const h = normals(T * d, rng);
    const want = sumSquares(explicitOuterSum(a, h, T, V, d));
    const got = gramNormSquared(a, h, T, V, d);
    assert.ok(Math.abs(got - want) / want < 1e-5, `${got} vs ${want}`);
  });

  it('perSampleGradNorms over offsets matches each sample formed explicitly, mean and sum', () => {
    const V = 9, d = 5;
    const offsets = Int32Array.of(0, 3, 3, 8, 9, 14); // sample 1 is empty
    const N = offsets[offsets.length - 1];
    const rng = new Rng(22);
    const a = normals(N * V, rng);
    const h = normals(N * d, rng);
    const sums = perSampleGradNorms(a, h, offsets, V, d, 'sum');
    const means = perSampleGradNorms(a, h, offsets, V, d, 'mean');
    assert.equal(sums.length, 5);
    for (let i = 0; i < 5; i++) {
      const t0 = offsets[i], T = offsets[i + 1] - t0;
      const want = Math.sqrt(sumSquares(explicitOuterSum(a.subarray(t0 * V, (t0 + T) * V), h.subarray(t0 * d, (t0 + T) * d), T, V, d)));
      if (T === 0) {
        assert.equal(sums[i], 0);
        assert.equal(means[i], 0);
        continue;
      }
      assert.ok(Math.abs(sums[i] - want) / want < 1e-5, `sample ${i} sum: ${sums[i]} vs ${want}`);
      assert.ok(Math.abs(means[i] - want / T) / (want / T) < 1e-5, `sample ${i} mean: ${means[i]} vs ${want / T}`);
    }
  });
});

describe('seeded random projection of vec(G)', () => {
  it('equals Ra·G·Rhᵀ / √(kA·kH) computed from the explicit G (mean over tokens)', () => {
    const T = 5, V = 6, d = 5, kA = 3, kH = 5;
    const rng = new Rng(31);
    const a = normals(T * V, rng);
    const h = normals(T * d, rng);
    const G = explicitOuterSum(a, h, T, V, d).map((x) => x / T);
    const p = new GradientProjector(V, d, kA, kH, 7);
    const want = new Float64Array(kA * kH);
    for (let i = 0; i < kA; i++) {
      for (let j = 0; j < kH; j++) {
        let s = 0;
        for (let v = 0; v < V; v++) for (let c = 0; c < d; c++) s += p.ra[i * V + v] * G[v * d + c] * p.rh[j * d + c];
        want[i * kH + j] = s / Math.sqrt(kA * kH);
      }
    }
    const out = new Float32Array(2 + kA * kH);
    p.project(a, h, T, out, 2, 'mean');
    assert.ok(relError(out.subarray(2), want) < 1e-5, `rel err ${relError(out.subarray(2), want)}`);
  });

  it('projectSamples returns each sample’s projection in row i, zeros for an empty sample', () => {
    const V = 6, d = 5, p = new GradientProjector(V, d, 4, 4, 8);
    const offsets = Int32Array.of(0, 2, 2, 7);
    const rng = new Rng(32);
    const a = normals(7 * V, rng);
    const h = normals(7 * d, rng);
    const all = p.projectSamples(a, h, offsets, 'sum');
    assert.equal(all.length, 3 * 16);
    const one = new Float32Array(16);
    p.project(a.subarray(2 * V), h.subarray(2 * d), 5, one, 0, 'sum');
    assert.deepEqual(Array.from(all.subarray(32, 48)), Array.from(one));
    assert.deepEqual(Array.from(all.subarray(16, 32)), new Array(16).fill(0));
  });

  it('is seeded: the same seed gives the same bytes, another seed different ones', () => {
    const V = 10, d = 4, T = 3;
    const rng = new Rng(33);
    const a = normals(T * V, rng);
    const h = normals(T * d, rng);
    const run = (seed: number) => {
      const out = new Float32Array(16);
      new GradientProjector(V, d, 4, 4, seed).project(a, h, T, out);
      return Buffer.from(out.buffer);
    };
    assert.ok(run(5).equals(run(5)));
    assert.ok(!run(5).equals(run(6)));
  });

  it('preserves ‖G‖² and ⟨G, G′⟩ in expectation: mean over 1000 seeds at k = 16×16 within 3 %', () => {
    const T = 6, V = 8, d = 6, k = 256;
    const rng = new Rng(34);
    const a = normals(2 * T * V, rng);
    const h = normals(2 * T * d, rng);
    const offsets = Int32Array.of(0, T, 2 * T);
    const G1 = explicitOuterSum(a.subarray(0, T * V), h.subarray(0, T * d), T, V, d);
    const G2 = explicitOuterSum(a.subarray(T * V), h.subarray(T * d), T, V, d);
    const norm2 = sumSquares(G1);
    let inner = 0;
    for (let e = 0; e < V * d; e++) inner += G1[e] * G2[e];
    const seeds = 1000;
    let meanNorm2 = 0;
    let meanInner = 0;
    for (let s = 0; s < seeds; s++) {
      const proj = new GradientProjector(V, d, 16, 16, s).projectSamples(a, h, offsets, 'sum');
      let n2 = 0, ip = 0;
      for (let e = 0; e < k; e++) {
        n2 += proj[e] * proj[e];
        ip += proj[e] * proj[k + e];
      }
      meanNorm2 += n2 / seeds;
      meanInner += ip / seeds;
    }
    assert.ok(Math.abs(meanNorm2 / norm2 - 1) < 0.03, `E‖proj‖² / ‖G‖² = ${meanNorm2 / norm2}`);
    assert.ok(Math.abs(meanInner - inner) < 0.03 * Math.sqrt(norm2 * sumSquares(G2)), `E⟨proj⟩ = ${meanInner} vs ⟨G,G′⟩ = ${inner}`);
  });
});

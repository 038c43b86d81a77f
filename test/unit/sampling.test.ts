import { strict as assert } from 'node:assert';
import { isGreedy, NonFiniteLogitsError, sampleProbs, sampleToken, topOrder } from '../../lib/model/sampling';
import { Rng } from '../../lib/rng';

/** The sampling order by a full sort: probability desc, ties by the lower id. */
function fullOrder(p: Float32Array | Float64Array): number[] {
  return Array.from({ length: p.length }, (_, v) => v).sort((a, b) => p[b] - p[a] || a - b);
}

/** top-k / top-p sampling as a full sort of the vocabulary defines it (the reference). */
function referenceSample(z: Float32Array, opts: { temperature: number; topK: number; topP: number }, u: number): { token: number; logprob: number; keep: number } {
  const V = z.length;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (z[v] > max) max = z[v];
  const p = new Float64Array(V);
  let total = 0;
  const invT = 1 / opts.temperature;
  for (let v = 0; v < V; v++) {
    p[v] = Math.exp((z[v] - max) * invT);
    total += p[v];
  }
  return { ...referenceDraw(p, total, opts, u) };
}

/** The unrestricted draw: the first id (in id order) where the running sum passes u · total. */
function inverseCdf(p: Float32Array, total: number, u: number): { token: number; logprob: number; keep: number } {
  let target = u * total;
  for (let v = 0; v < p.length; v++) {
    target -= p[v];
    if (target < 0) return { token: v, logprob: Math.log(p[v] / total), keep: p.length };
  }
  return { token: p.length - 1, logprob: Math.log(p[p.length - 1] / total), keep: p.length };
}

/** The draw from weights p summing to `total` (float64), as a full sort defines it. */
function referenceDraw(p: Float32Array | Float64Array, total: number, opts: { topK: number; topP: number }, u: number): { token: number; logprob: number; keep: number } {
  const V = p.length;
  const order = fullOrder(p);
  let keep = opts.topK > 0 ? Math.min(opts.topK, V) : V;
  if (opts.topP < 1) {
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += p[order[i]] / total;
      if (cum >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += p[order[i]];
  let target = u * kept;
  // past the end of the running sum: the last kept id with p > 0
  let token = order[keep - 1];
  for (let i = keep - 1; i > 0 && p[token] === 0; i--) token = order[i - 1];
  for (let i = 0; i < keep; i++) {
    target -= p[order[i]];
    if (target < 0) {
      token = order[i];
      break;
    }
  }
  return { token, logprob: Math.log(p[token] / kept), keep };
}

/**
 * Logits over V: uniform in [−scale, scale] (flat for a small scale), with runs of exactly tied
 * values (`ties`), or Zipf-like as a language model's (`zipf`: z = −1.1 log rank, ranks shuffled).
 */
function logits(V: number, seed: number, scale: number, shape: 'uniform' | 'ties' | 'zipf'): Float32Array {
  const rng = new Rng(seed, 0);
  const z = new Float32Array(V);
  for (let v = 0; v < V; v++) z[v] = shape === 'ties' ? Math.round(rng.next() * 6) * scale : (rng.next() * 2 - 1) * scale;
  if (shape === 'zipf') {
    const rank = Array.from({ length: V }, (_, v) => v + 1);
    rng.shuffle(rank);
    for (let v = 0; v < V; v++) z[v] = -1.1 * Math.log(rank[v]);
  }
  return z;
}

/** Vocabulary sizes and logit shapes the draws are checked on: peaked, flat, tied, Zipf-like. */
const LOGIT_ROWS = [[512, 8, 'uniform'], [512, 0.5, 'uniform'], [3000, 2, 'ties'], [20000, 1, 'zipf'], [20000, 0.05, 'uniform']] as const;

/** Temperatures with top-k / top-p cuts from a few ids to the whole vocabulary V. */
const restrictions = (V: number) => [
  { temperature: 1, topK: 0, topP: 0.9 },
  { temperature: 0.7, topK: 0, topP: 0.999 },
  { temperature: 1, topK: 50, topP: 1 },
  { temperature: 1.3, topK: 40, topP: 0.5 },
  { temperature: 1, topK: V, topP: 0.95 },
];

describe('sampling: top-k / top-p without sorting the vocabulary (lib/model/sampling.ts)', () => {
  it('logits with a NaN or +∞, or all −∞, are refused on every path (greedy, full, top-k, top-p on a large vocabulary); −∞ next to finite logits samples', () => {
    const paths = [
      { temperature: 0, topK: 0, topP: 1 },
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 5, topP: 1 },
      { temperature: 1, topK: 0, topP: 0.9 },
    ];
    const V = 3000; // > 1024: top-p takes its bucketed candidates (topPOrder)
    const base = () => Float32Array.from({ length: V }, (_, v) => Math.sin(v));
    for (const opts of paths) {
      for (const [what, z] of [
        ['NaN first', Object.assign(base(), { 0: NaN })],
        ['NaN inside', Object.assign(base(), { 1234: NaN })],
        ['+∞', Object.assign(base(), { 7: Infinity })],
        ['all −∞', new Float32Array(V).fill(-Infinity)],
      ] as const) {
        assert.throws(() => sampleToken(z, opts, new Rng(1, 0)), NonFiniteLogitsError, `${what}, ${JSON.stringify(opts)}`);
      }
      const masked = base().fill(-Infinity, 0, V - 10);
      const { token, logprob } = sampleToken(masked, opts, new Rng(1, 0));
      assert.ok(token >= V - 10 && Number.isFinite(logprob), `${token} ${logprob}`);
    }
  });

  it('a temperature of 0, −0 or so small that 1/T overflows (1e-320) is greedy, not a NaN; a NaN or negative one is refused', () => {
    const z = Float32Array.from([0.5, 2, -1, 1.5]);
    for (const temperature of [0, -0, 1e-320]) assert.deepEqual(sampleToken(z, { temperature, topK: 0, topP: 1 }, new Rng(1, 0)), { token: 1, logprob: 0 }, String(temperature));
    for (const temperature of [NaN, -0.5, -1e-320]) assert.throws(() => sampleToken(z, { temperature, topK: 0, topP: 1 }, new Rng(1, 0)), /temperature .*expected a number ≥ 0/);
  });

  it('topOrder gives the first k ids of the full sort, ties by id, for every k tried', () => {
    for (const [V, seed, shape] of [[1, 1, 'uniform'], [7, 2, 'ties'], [300, 3, 'uniform'], [300, 4, 'ties'], [5000, 5, 'ties'], [5000, 6, 'zipf']] as const) {
      const z = logits(V, seed, 3, shape);
      const p = Float64Array.from(z, (x) => Math.exp(x));
      const full = fullOrder(p);
      for (const k of [1, 2, 3, 64, 257, V - 1, V]) {
        if (k < 1 || k > V) continue;
        assert.deepEqual(Array.from(topOrder(p, V, k)), full.slice(0, k), `V ${V}, k ${k}`);
      }
    }
  });

  it('sampleToken draws the token and log-prob of the full-sort definition, bit for bit (2 000 draws over peaked, flat and tied logits)', () => {
    let draws = 0;
    const keeps: number[] = [];
    for (const [V, scale, shape] of LOGIT_ROWS) {
      const z = logits(V, V + Math.round(scale * 100), scale, shape);
      for (const opts of restrictions(V)) {
        const rngA = new Rng(9, V);
        const rngB = new Rng(9, V);
        const scratch = { order: new Int32Array(V), p: new Float64Array(V) };
        for (let i = 0; i < 80; i++) {
          const got = sampleToken(z, opts, rngA, scratch);
          const want = referenceSample(z, opts, rngB.next());
          assert.equal(got.token, want.token, `V ${V} scale ${scale} ${JSON.stringify(opts)} draw ${i}`);
          assert.ok(Object.is(got.logprob, want.logprob), `log-prob ${got.logprob} vs ${want.logprob}`);
          keeps.push(want.keep);
          draws++;
        }
      }
    }
    assert.equal(draws, 2000);
    // kept sets within the first 64 ids, within the widened searches (64–1024 of 20 000), and past a
    // quarter of the vocabulary (one full sort)
    assert.ok(keeps.some((k) => k < 64) && keeps.some((k) => k > 64 && k <= 1024) && keeps.some((k) => k > 5000), `kept sizes ${Math.min(...keeps)}–${Math.max(...keeps)}`);
  });

  it('sampleProbs draws the token and log-prob of the full-sort definition from float32 probabilities, bit for bit (3 360 draws, zeros and subnormals among them; top-p buckets by float bits)', () => {
    let draws = 0;
    const keeps: number[] = [];
    const tails: number[] = [];
    // [3000, 40]: logits 80 apart, 266 nats at T = 0.3: float32 zeros and subnormals in the tail
    for (const [V, scale, shape] of [...LOGIT_ROWS, [3000, 40, 'uniform'] as const]) {
      const z = logits(V, V + Math.round(scale * 100), scale, shape);
      for (const opts of [
        ...restrictions(V),
        { temperature: 1, topK: 0, topP: 1 },
        { temperature: 0.3, topK: 0, topP: 0.999999 },
      ]) {
        // what the graph returns: softmax(z / T) in float32 (here rounded from float64)
        const max = z.reduce((m, x) => Math.max(m, x), -Infinity);
        const e = Float64Array.from(z, (x) => Math.exp((x - max) / opts.temperature));
        const sum = e.reduce((x, y) => x + y, 0);
        const p = Float32Array.from(e, (x) => x / sum);
        let total = 0;
        for (let v = 0; v < V; v++) total += p[v];
        const rngA = new Rng(9, V);
        const rngB = new Rng(9, V);
        const scratch = { order: new Int32Array(V) };
        for (let i = 0; i < 80; i++) {
          const got = sampleProbs(p, opts, rngA, scratch);
          const u = rngB.next();
          // unrestricted: the inverse CDF in id order (no order to build), as sampleToken's
          const want = opts.topK === 0 && opts.topP === 1 ? inverseCdf(p, total, u) : referenceDraw(p, total, opts, u);
          assert.equal(got.token, want.token, `V ${V} scale ${scale} ${JSON.stringify(opts)} draw ${i}`);
          assert.ok(Object.is(got.logprob, want.logprob), `log-prob ${got.logprob} vs ${want.logprob}`);
          keeps.push(want.keep);
          draws++;
        }
        if (scale === 40) tails.push(p.filter((x) => x === 0).length, p.filter((x) => x > 0 && x < 2 ** -126).length);
      }
    }
    assert.equal(draws, 3360);
    assert.ok(tails.some((n, j) => j % 2 === 0 && n > 0) && tails.some((n, j) => j % 2 === 1 && n > 0), `zeros and subnormals: ${tails}`);
    assert.ok(keeps.some((k) => k < 64) && keeps.some((k) => k > 64 && k <= 1024) && keeps.some((k) => k > 5000), `kept sizes ${Math.min(...keeps)}–${Math.max(...keeps)}`);
  });

  it('sampleProbs refuses a row with a NaN (what a NaN or +∞ logit, or z / T beyond float32, gives the softmax) and a greedy temperature; greedy is T = 0 or 1/T beyond float32 (1e-39)', () => {
    const V = 3000;
    const p = Float32Array.from({ length: V }, () => 1 / V);
    for (const opts of [{ temperature: 1, topK: 0, topP: 1 }, { temperature: 1, topK: 5, topP: 1 }, { temperature: 1, topK: 0, topP: 0.9 }]) {
      assert.throws(() => sampleProbs(Object.assign(p.slice(), { 17: NaN }), opts, new Rng(1, 0)), NonFiniteLogitsError, JSON.stringify(opts));
      assert.throws(() => sampleProbs(new Float32Array(V).fill(NaN), opts, new Rng(1, 0)), NonFiniteLogitsError);
      assert.ok(sampleProbs(p, opts, new Rng(1, 0)).token < V);
    }
    assert.throws(() => sampleProbs(p, { temperature: 0, topK: 0, topP: 1 }, new Rng(1, 0)), /greedyToken/);
    assert.deepEqual([0, -0, 1e-39, 1e-320, 3e-38, 1].map(isGreedy), [true, true, true, true, false, false]);
  });

  it('a draw at the very end of the range (u = 1 − 2⁻⁵³) takes the last kept id of p > 0, never a kept id of p = 0 after it', () => {
    const rng = new Rng(7, 0);
    let restricted = 0;
    for (const u of [1 - 2 ** -53, 1 - 2 ** -52, 1 - 3 * 2 ** -53]) {
      const end = { next: () => u } as unknown as Rng;
      for (let t = 0; t < 20_000; t++) {
        // k positive ids (then 20 zeros, underflowed), top-k keeping 10 of the zeros too
        const k = 2 + (t % 40);
        const p = new Float32Array(k + 20);
        for (let i = 0; i < k; i++) p[i] = Math.fround(rng.next() ** (1 + (t % 7)));
        for (const opts of [{ temperature: 1, topK: k + 10, topP: 1 }, { temperature: 1, topK: 0, topP: 1 }]) {
          const { token, logprob } = sampleProbs(p, opts, end);
          assert.ok(p[token] > 0 && Number.isFinite(logprob), `u ${u}, k ${k}, ${JSON.stringify(opts)}: token ${token}, log-prob ${logprob}`);
          if (opts.topK) restricted++;
        }
      }
    }
    assert.equal(restricted, 60_000);
  });
});

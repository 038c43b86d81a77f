import { Rng } from '../rng';

export interface SamplingOptions {
  /** 0 ⇒ greedy */
  temperature: number;
  /** keep the k most likely tokens; 0 ⇒ all */
  topK: number;
  /** keep the smallest set of most likely tokens whose probability reaches p; 1 ⇒ all */
  topP: number;
}

/**
 * Greedy: T = 0 (or −0), or so small that τ⁻¹ = 1/T overflows float32 (the precision the graph
 * applies it in): the limit of softmax(z / T), the most likely token.
 */
export function isGreedy(temperature: number): boolean {
  return !(Math.abs(Math.fround(1 / temperature)) < Infinity);
}

/**
 * Draws one token from softmax(z / T) restricted to top-k / top-p, with one uniform
 * from `rng`. Returns the token and its log-probability under that (renormalised)
 * sampling distribution. z: logits [V] (a view). The distribution is computed here in float64
 * (generation draws from the probabilities its graph computed instead: sampleProbs). Greedy
 * (isGreedy) returns the most likely token and log-prob 0.
 * Ties are broken by the lower token id, so the draw is a pure function of (z, u).
 */
export function sampleToken(z: Float32Array, opts: SamplingOptions, rng: Rng, scratch?: SamplingScratch): { token: number; logprob: number } {
  const V = z.length;
  if (!(opts.temperature >= 0)) throw new RangeError(`temperature ${opts.temperature}: expected a number ≥ 0`);
  const u = rng.next(); // always exactly one draw per token: streams stay aligned
  if (isGreedy(opts.temperature)) return { token: greedyToken(z), logprob: 0 };
  const invT = 1 / opts.temperature;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (z[v] > max) max = z[v];
  const p = scratch?.p && scratch.p.length >= V ? scratch.p : new Float64Array(V);
  let total = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp((z[v] - max) * invT);
    p[v] = e;
    total += e;
  }
  // the largest logit contributes exp(0) = 1: anything less is a NaN, a +∞ or every logit −∞
  if (!(total >= 1)) throw new NonFiniteLogitsError();
  // top-p buckets: −log(p / p_max) = (max − z) / T, 8 a nat
  const buckets = (bucket: Uint16Array) => {
    for (let v = 0; v < V; v++) bucket[v] = Math.min(BUCKETS - 1, Math.floor((max - z[v]) * invT * 8));
  };
  return draw(p.subarray(0, V), total, opts, u, buckets, scratch);
}

/**
 * Draws one token from the distribution p [V] (a view; probabilities, or any non-negative
 * weights: they are renormalised by their float64 sum) restricted to top-k / top-p, with one
 * uniform from `rng`, exactly as sampleToken draws from its own float64 softmax(z / T): the
 * same order, ties and renormalisation. Generation's p is the graph's softmax(z · τ⁻¹) in
 * float32 (decode-graph.ts dlab.probs); a greedy step takes the logits' argmax instead
 * (greedyToken), so `opts.temperature` must not be greedy here.
 */
export function sampleProbs(p: Float32Array, opts: SamplingOptions, rng: Rng, scratch?: SamplingScratch): { token: number; logprob: number } {
  const V = p.length;
  if (!(opts.temperature >= 0) || isGreedy(opts.temperature)) throw new RangeError(`temperature ${opts.temperature}: sampleProbs draws at a temperature > 0 (a greedy step takes greedyToken of the logits)`);
  const u = rng.next();
  let total = 0;
  for (let v = 0; v < V; v++) total += p[v];
  // a softmax of finite logits sums to ~1; a NaN or +∞ logit (or z · τ⁻¹ beyond float32) makes its row NaN
  if (!(total > 0 && total < Infinity)) throw new NonFiniteLogitsError();
  // top-p buckets by the float32 bits: sign, exponent and the 3 leading mantissa bits (bits >>> 20)
  // are monotone in p ≥ 0 (subnormals included), eighths of an octave (0.06–0.12 nats each); 0
  // (underflow) lands in the last bucket
  const buckets = (bucket: Uint16Array) => {
    const bits = new Uint32Array(p.buffer, p.byteOffset, V);
    let top = 0;
    for (let v = 0; v < V; v++) if (bits[v] >>> 20 > top) top = bits[v] >>> 20;
    for (let v = 0; v < V; v++) bucket[v] = Math.min(BUCKETS - 1, top - (bits[v] >>> 20));
  };
  return draw(p, total, opts, u, buckets, scratch);
}

/** The most likely token of logits z [V], ties by the lower id; a NaN, a +∞ or every logit −∞ is an error. */
export function greedyToken(z: Float32Array): number {
  let best = 0;
  let nan = false;
  for (let v = 1; v < z.length; v++) {
    const x = z[v];
    if (x > z[best]) best = v;
    else if (x !== x) nan = true;
  }
  if (nan || !Number.isFinite(z[best])) throw new NonFiniteLogitsError();
  return best;
}

/**
 * The draw of sampleToken and sampleProbs: p [V] ≥ 0 summing to `total`, u uniform in [0, 1);
 * `buckets` fills the top-p buckets (topPOrder) of p's ids.
 */
function draw(p: Float32Array | Float64Array, total: number, opts: SamplingOptions, u: number, buckets: (bucket: Uint16Array) => void, scratch?: SamplingScratch): { token: number; logprob: number } {
  const V = p.length;
  const restricted = (opts.topK > 0 && opts.topK < V) || opts.topP < 1;
  if (!restricted) {
    let target = u * total;
    let token = V - 1;
    for (let v = 0; v < V; v++) {
      target -= p[v];
      if (target < 0) {
        token = v;
        break;
      }
    }
    while (p[token] === 0 && token > 0) token--; // u·total at the very end of the range
    return { token, logprob: Math.log(p[token] / total) };
  }
  // ids by probability (desc), ties by id: the top-k, then the top-p prefix of them. Only the
  // part of that order that can be kept is built: with top-k, the k most likely (topOrder);
  // with top-p, the ids above the probability where the mass reaches p (topPOrder), a few
  // hundred of a 150k vocabulary for a peaked distribution. Either is an exact prefix of the
  // full sort, so the ids kept and every sum below are the full sort's, bit for bit.
  let keep = opts.topK > 0 ? Math.min(opts.topK, V) : V;
  let order: Int32Array = opts.topP < 1 && keep > 1024 ? topPOrder(p, total, opts.topP, buckets, scratch) : topOrder(p, V, keep, scratch);
  if (opts.topP < 1) {
    const prefix = (o: Int32Array) => {
      let cum = 0;
      for (let i = 0; i < Math.min(keep, o.length); i++) {
        cum += p[o[i]] / total;
        if (cum >= opts.topP) return i + 1;
      }
      return -1;
    };
    let found = prefix(order);
    // the candidates fell short (the buckets' sums round otherwise than this one): order the top-k
    if (found < 0 && order.length < keep) found = prefix((order = topOrder(p, V, keep, scratch)));
    if (found > 0) keep = found;
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += p[order[i]];
  let target = u * kept;
  // u·kept at the very end of the range (the running sum rounds short of it): the last kept id
  // with p > 0, not a kept id of p = 0 (underflowed) after it
  let at = keep - 1;
  while (p[order[at]] === 0 && at > 0) at--;
  let token = order[at];
  for (let i = 0; i < keep; i++) {
    target -= p[order[i]];
    if (target < 0) {
      token = order[i];
      break;
    }
  }
  return { token, logprob: Math.log(p[token] / kept) };
}

/** Logits no token can be drawn from: a NaN, a +∞, or every logit −∞ (or, in the graph, z / T beyond float32). */
export class NonFiniteLogitsError extends RangeError {
  constructor() {
    super('the logits hold a NaN or +∞, or every logit is −∞ (or z / T overflows float32): no token can be sampled');
    this.name = 'NonFiniteLogitsError';
  }
}

/** Buffers of the vocabulary's size, reused across tokens. */
export interface SamplingScratch {
  order?: Int32Array;
  p?: Float64Array;
  bucket?: Uint16Array;
}

/** a ranks before b: higher probability, ties by the lower id (the sampling order). */
const before = (p: Float32Array | Float64Array, a: number, b: number) => p[a] > p[b] || (p[a] === p[b] && a < b);
/** The sampling order as a sort comparator. */
const byRank = (p: Float32Array | Float64Array) => (a: number, b: number) => p[b] - p[a] || a - b;
/** scratch.order as a buffer of V ids, or a new one. */
const orderBuffer = (V: number, scratch?: SamplingScratch) => (scratch?.order && scratch.order.length >= V ? scratch.order.subarray(0, V) : new Int32Array(V));

/**
 * The k ids of p[0, V) first in the sampling order (probability desc, ties by id), in that
 * order: order[0, k) of the returned view. The same ids in the same order as sorting all V and
 * taking the first k. k = V sorts; otherwise a heap of the k best so far whose root is the worst
 * of them, so an id that does not beat the root costs one comparison: O(V + m log k) for m
 * replacements, then the k sorted.
 */
export function topOrder(p: Float32Array | Float64Array, V: number, k: number, scratch?: SamplingScratch): Int32Array {
  const order = orderBuffer(V, scratch);
  if (k >= V) {
    for (let v = 0; v < V; v++) order[v] = v;
    return order.sort(byRank(p));
  }
  // heap[0] is the worst of the kept: every parent ranks after its children
  const heap = order;
  const siftDown = (i: number, n: number) => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      let w = l;
      if (l + 1 < n && before(p, heap[w], heap[l + 1])) w = l + 1; // the worse child
      if (!before(p, heap[i], heap[w])) return; // heap[i] already ranks after both
      const t = heap[i];
      heap[i] = heap[w];
      heap[w] = t;
      i = w;
    }
  };
  for (let v = 0; v < k; v++) heap[v] = v;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i, k);
  for (let v = k; v < V; v++) {
    if (before(p, v, heap[0])) {
      heap[0] = v;
      siftDown(0, k);
    }
  }
  const top = heap.subarray(0, k);
  return top.sort(byRank(p));
}

const BUCKETS = 512; // the last bucket holds everything below the others

/**
 * The ids in the sampling order down to (at least) where their probability mass reaches
 * `topP · total`, as an exact prefix of the full sort: `buckets` puts every id in a bucket
 * monotone in p (bucket 0 the most likely: −log p in steps of 1/8 nat from logits, of an eighth
 * of an octave from float32 bits) and this sums each bucket's p; the buckets are taken from the top until
 * their mass reaches topP · total, and one more (so that a sum rounded otherwise, or two ids of
 * equal p on either side of a bucket edge, cannot cut the prefix short); their ids, sorted, are
 * the result. Every id left out is less likely than every id in it. O(V + m log m) for the m
 * ids kept.
 */
export function topPOrder(p: Float32Array | Float64Array, total: number, topP: number, buckets: (bucket: Uint16Array) => void, scratch?: SamplingScratch): Int32Array {
  const V = p.length;
  const order = orderBuffer(V, scratch);
  const bucket = scratch && scratch.bucket && scratch.bucket.length >= V ? scratch.bucket : new Uint16Array(V);
  if (scratch) scratch.bucket = bucket;
  buckets(bucket);
  const mass = new Float64Array(BUCKETS);
  for (let v = 0; v < V; v++) mass[bucket[v]] += p[v];
  let last = BUCKETS - 1;
  let cum = 0;
  for (let b = 0; b < BUCKETS; b++) {
    cum += mass[b];
    if (cum >= topP * total) {
      last = Math.min(BUCKETS - 1, b + 1);
      break;
    }
  }
  let m = 0;
  for (let v = 0; v < V; v++) if (bucket[v] <= last) order[m++] = v;
  return order.subarray(0, m).sort(byRank(p));
}

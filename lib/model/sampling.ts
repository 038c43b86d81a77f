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
 * Draws one token from softmax(z / T) restricted to top-k / top-p, with one uniform
 * from `rng`. Returns the token and its log-probability under that (renormalised)
 * sampling distribution. z: logits [V] (a view). Greedy (T = 0, or 1/T beyond float range)
 * returns log-prob 0.
 * Ties are broken by the lower token id, so the draw is a pure function of (z, u).
 */
export function sampleToken(z: Float32Array, opts: SamplingOptions, rng: Rng, scratch?: SamplingScratch): { token: number; logprob: number } {
  const V = z.length;
  if (!(opts.temperature >= 0)) throw new RangeError(`temperature ${opts.temperature}: expected a number ≥ 0`);
  const u = rng.next(); // always exactly one draw per token: streams stay aligned
  const invT = 1 / opts.temperature;
  // T = 0 (or −0), or so small that 1/T overflows: the limit of softmax(z / T), the most likely token
  if (!(Math.abs(invT) < Infinity)) {
    let best = 0;
    let nan = false;
    for (let v = 1; v < V; v++) {
      const x = z[v];
      if (x > z[best]) best = v;
      else if (x !== x) nan = true;
    }
    if (nan || !Number.isFinite(z[best])) throw new NonFiniteLogitsError();
    return { token: best, logprob: 0 };
  }
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
  let order: Int32Array = opts.topP < 1 && keep > 1024 ? topPOrder(z, max, invT, p, total, opts.topP, scratch) : topOrder(p, V, keep, scratch);
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
  let token = order[keep - 1];
  for (let i = 0; i < keep; i++) {
    target -= p[order[i]];
    if (target < 0) {
      token = order[i];
      break;
    }
  }
  return { token, logprob: Math.log(p[token] / kept) };
}

/** Logits no token can be drawn from: a NaN, a +∞, or every logit −∞. */
export class NonFiniteLogitsError extends RangeError {
  constructor() {
    super('the logits hold a NaN or +∞, or every logit is −∞: no token can be sampled');
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
const before = (p: Float64Array, a: number, b: number) => p[a] > p[b] || (p[a] === p[b] && a < b);
/** The sampling order as a sort comparator. */
const byRank = (p: Float64Array) => (a: number, b: number) => p[b] - p[a] || a - b;
/** scratch.order as a buffer of V ids, or a new one. */
const orderBuffer = (V: number, scratch?: SamplingScratch) => (scratch?.order && scratch.order.length >= V ? scratch.order.subarray(0, V) : new Int32Array(V));

/**
 * The k ids of p[0, V) first in the sampling order (probability desc, ties by id), in that
 * order: order[0, k) of the returned view. The same ids in the same order as sorting all V and
 * taking the first k. k = V sorts; otherwise a heap of the k best so far whose root is the worst
 * of them, so an id that does not beat the root costs one comparison: O(V + m log k) for m
 * replacements, then the k sorted.
 */
export function topOrder(p: Float64Array, V: number, k: number, scratch?: SamplingScratch): Int32Array {
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

const BUCKETS_PER_NAT = 8;
const BUCKETS = 512; // −log p up to 64 nats apart (the last bucket holds everything below)

/**
 * The ids in the sampling order down to (at least) where their probability mass reaches
 * `topP · total`, as an exact prefix of the full sort: one pass buckets every id by −log p =
 * (max − z) / T (8 buckets a nat; monotone in p) and sums each bucket's p; the buckets are taken
 * from the top until their mass reaches topP · total, and one more (so that a sum rounded
 * otherwise, or two ids of equal p on either side of a bucket edge, cannot cut the prefix
 * short); their ids, sorted, are the result. Every id left out is less likely than every id in
 * it. O(V + m log m) for the m ids kept.
 */
export function topPOrder(z: Float32Array, max: number, invT: number, p: Float64Array, total: number, topP: number, scratch?: SamplingScratch): Int32Array {
  const V = z.length;
  const order = orderBuffer(V, scratch);
  const bucket = scratch && scratch.bucket && scratch.bucket.length >= V ? scratch.bucket : new Uint16Array(V);
  if (scratch) scratch.bucket = bucket;
  const mass = new Float64Array(BUCKETS);
  for (let v = 0; v < V; v++) {
    const b = Math.min(BUCKETS - 1, Math.floor((max - z[v]) * invT * BUCKETS_PER_NAT));
    bucket[v] = b;
    mass[b] += p[v];
  }
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

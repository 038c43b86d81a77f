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
 * sampling distribution. z: logits [V] (a view). Greedy (T = 0) returns log-prob 0.
 * Ties are broken by the lower token id, so the draw is a pure function of (z, u).
 */
export function sampleToken(z: Float32Array, opts: SamplingOptions, rng: Rng, scratch?: { order?: Int32Array; p?: Float64Array }): { token: number; logprob: number } {
  const V = z.length;
  const u = rng.next(); // always exactly one draw per token: streams stay aligned
  if (opts.temperature === 0) {
    let best = 0;
    for (let v = 1; v < V; v++) if (z[v] > z[best]) best = v;
    return { token: best, logprob: 0 };
  }
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
  // sort ids by probability (desc), ties by id; keep the top-k, then the top-p prefix
  const order = scratch?.order && scratch.order.length >= V ? scratch.order.subarray(0, V) : new Int32Array(V);
  for (let v = 0; v < V; v++) order[v] = v;
  order.sort((a, b) => p[b] - p[a] || a - b);
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

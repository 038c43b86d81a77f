import { strict as assert } from 'node:assert';
import type { Policy } from '../../lib/model/policy';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { GptConfig } from '../../lib/model/gpt';
import { GptWeights, initialWeights } from '../../lib/model/gpt-weights';
import { Rng } from '../../lib/rng';
import { FUSED_LOGITS, FUSED_PROBS } from '../../lib/model/decode-graph';
import { isGreedy } from '../../lib/model/sampling';

/**
 * Full forward pass of an unprepared decoder on one unpadded sequence (empty KV cache): logits
 * [S, V]. position_ids are fed when the graph takes them; the cache has `cacheHeads` heads.
 */
export async function decoderLogits(session: InferenceSession, cfg: GptConfig, ids: number[], cacheHeads = cfg.nHead): Promise<Float32Array> {
  const S = ids.length;
  const feeds: Record<string, Tensor> = {
    input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, S]),
    attention_mask: new Tensor('int64', new BigInt64Array(S).fill(1n), [1, S]),
  };
  if (session.inputNames.includes('position_ids')) feeds.position_ids = new Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, S]);
  for (let i = 0; i < cfg.nLayer; i++) for (const k of ['key', 'value']) feeds[`past_key_values.${i}.${k}`] = new Tensor('float32', new Float32Array(0), [1, cacheHeads, 0, cfg.dModel / cfg.nHead]);
  return (await session.run(feeds)).logits.data as Float32Array;
}

/** max_i |a_i − b_i| of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − b| / max(|a|, |b|) over the entries where either is above 1e-30 (probabilities of any size alike). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const m = Math.max(Math.abs(a[i]), Math.abs(b[i]));
    if (m > 1e-30) worst = Math.max(worst, Math.abs(a[i] - b[i]) / m);
  }
  return worst;
}

/**
 * generate with the cache in slots (decoder.ts SlotDecoder, the default) and growing (the
 * export's present outputs): the slots are used on every pass (the decoding form's outputs
 * fetched), what each step draws from agrees within `tol` at every step (logits when greedy,
 * absolute; else probabilities, relative), and the tokens, log-probs (to 1e-5), texts and finishes are the same.
 * Returns the largest difference.
 */
export async function assertSlotsMatchGrowing(policy: Policy, prompts: string[], opts: Parameters<Policy['generate']>[1], tol = 1e-5): Promise<number> {
  assert.ok(policy.backbone.fused, `${policy.backbone.path}: the backbone runs its decoding form`);
  const session = policy.backbone.session;
  const run = session.run.bind(session);
  let slotPasses = 0;
  // the slot passes fetch dlab.logits or dlab.probs: by name (the prompt pass) or into a tensor of their own (one-token passes)
  (session as { run: unknown }).run = (feeds: never, fetches?: string[] | Record<string, unknown>) => {
    if (fetches && [FUSED_LOGITS, FUSED_PROBS].some((name) => (Array.isArray(fetches) ? fetches.includes(name) : name in fetches))) slotPasses++;
    return fetches ? run(feeds, fetches as never) : run(feeds);
  };
  try {
    const grow: Float32Array[] = [];
    const slots: Float32Array[] = [];
    const a = await policy.generate(prompts, { ...opts, kvCache: 'grow', onStep: (_, l) => grow.push(l.slice()) });
    assert.equal(slotPasses, 0);
    const b = await policy.generate(prompts, { ...opts, onStep: (_, l) => slots.push(l.slice()) });
    assert.equal(slotPasses, slots.length, 'every pass ran on the slots');
    assert.equal(slots.length, grow.length);
    let worst = 0;
    // logits absolute, probabilities relative (a probability of 1e-4 and one of 0.5 alike)
    const greedy = isGreedy(opts.temperature);
    for (let i = 0; i < grow.length; i++) worst = Math.max(worst, (greedy ? maxAbsDiff : maxRelDiff)(grow[i], slots[i]));
    assert.ok(worst <= tol, greedy ? `max |Δ logit| = ${worst}` : `max |Δp| / p = ${worst}`);
    assert.deepEqual(b.map((g) => [g.tokens, g.text, g.finish]), a.map((g) => [g.tokens, g.text, g.finish]));
    for (let i = 0; i < a.length; i++) assert.ok(maxAbsDiff(a[i].logprobs, b[i].logprobs) <= 1e-5);
    return worst;
  } finally {
    (session as { run: unknown }).run = run;
  }
}

/** The initial weights of `cfg` plus N(0, std²) noise everywhere (so biases, γ and attention are non-trivial). */
export function jittered(cfg: GptConfig, std: number, seed: number): GptWeights {
  const w = initialWeights(cfg);
  const rng = new Rng(seed, 1);
  for (const a of w.values()) for (let i = 0; i < a.length; i++) a[i] += rng.normal() * std;
  return w;
}

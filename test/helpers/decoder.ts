import { strict as assert } from 'node:assert';
import type { Policy } from '../../lib/model/policy';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { GptConfig } from '../../lib/model/gpt';
import { GptWeights, initialWeights } from '../../lib/model/gpt-weights';
import { Rng } from '../../lib/rng';

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

/** generate with and without the KV workspace: same logits (bytes), tokens, log-probs, texts, finishes; the workspace's preallocated fetches were run. */
export async function assertWorkspaceIdentical(policy: Policy, prompts: string[], opts: Parameters<Policy['generate']>[1]): Promise<void> {
  const session = policy.backbone.session;
  const run = session.run.bind(session);
  let preallocated = 0;
  (session as { run: unknown }).run = (feeds: never, fetches?: Record<string, unknown>) => {
    if (fetches && Object.values(fetches).some((v) => v !== null)) preallocated++;
    return fetches ? run(feeds, fetches as never) : run(feeds);
  };
  try {
    const la: Float32Array[] = [];
    const lb: Float32Array[] = [];
    const a = await policy.generate(prompts, { ...opts, kvWorkspace: false, onStep: (_, l) => la.push(l.slice()) });
    assert.equal(preallocated, 0);
    const b = await policy.generate(prompts, { ...opts, kvWorkspace: true, onStep: (_, l) => lb.push(l.slice()) });
    assert.equal(preallocated, lb.length, 'every pass ran on the workspace');
    assert.deepEqual(b, a);
    assert.equal(lb.length, la.length);
    for (let i = 0; i < la.length; i++) assert.ok(Buffer.from(la[i].buffer).equals(Buffer.from(lb[i].buffer)), `step ${i}: logits differ`);
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

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { DlabInputError } from '../../lib/errors';
import { embedBatch, embedItems, EmbedItem } from '../../lib/goracs/embedding';
import { headLogits } from '../../lib/model/head';
import { headGradient } from '../../lib/model/head-gradient';
import { buildModelDir } from '../../lib/model/model-dir';
import { Policy } from '../../lib/model/policy';
import { GradientProjector } from '../../lib/model/projection';
import { tempDir } from '../helpers/tmp';

/**
 * Gradient embedding (lib/goracs/embedding.ts) on a tiny built model, against the
 * quantities formed explicitly: G_i = (1/|t|) Σ_t (p_t − e_{y_t}) h_tᵀ as a V×d matrix, and
 * e_i = mean of the prompt's final hidden states from an unpadded single-sequence pass.
 */
const ITEMS = 20;
const MODEL = { vocab: 100 + ITEMS, dModel: 32, nLayer: 1, nHead: 4, dFf: 64, maxPos: 32, seed: 5, tied: true, headBias: false, tokenizer: { items: ITEMS } };

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('GORACS gradient embedding (tiny model on ONNX Runtime)', function () {
  this.timeout(120_000);
  const dir = tempDir('goracs-embedding');
  let policy: Policy;
  let items: EmbedItem[];
  const names = ['a', 'b', 'c', 'd'];

  before(async () => {
    await buildModelDir(MODEL, join(dir.path, 'model'));
    policy = await Policy.load(join(dir.path, 'model'));
    items = embedItems(policy, [
      { id: 'a', prompt: '<item_3><item_7><item_1>', target: '<item_4>', split: 'pool' },
      { id: 'b', prompt: '<item_0>', target: '<item_19>', split: 'pool' },
      { id: 'c', prompt: '<item_5><item_5><item_6><item_7><item_8><item_9>', target: '<item_2><item_11>', split: 'validation' }, // two target tokens
      { id: 'd', prompt: '', target: '<item_1>', split: 'pool' }, // bos only
    ]);
  });
  after(() => dir.cleanup());

  /** h_t, a_t of one item from an unpadded pass; G formed explicitly with headGradient. */
  async function explicit(it: EmbedItem) {
    const seq = [...it.context, ...it.target];
    const L = seq.length;
    const d = policy.head.dModel;
    const V = policy.head.vocab;
    const ids = BigInt64Array.from(seq.map(BigInt));
    const pos = BigInt64Array.from(seq.map((_, t) => BigInt(t)));
    const { hidden } = await policy.backbone.run(ids, pos, new BigInt64Array(L).fill(1n), 1, L, policy.backbone.emptyCache(1));
    const T = it.target.length;
    const c = it.context.length;
    const h = hidden.slice((c - 1) * d, (c - 1 + T) * d);
    const logits = await headLogits(policy.head, h, T);
    const a = new Float32Array(T * V);
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(logits[t * V + v] - max);
      for (let v = 0; v < V; v++) a[t * V + v] = Math.exp(logits[t * V + v] - max) / s;
      a[t * V + it.target[t]] -= 1;
    }
    const { dW } = headGradient(a, h, T, V, d);
    let sq = 0;
    for (let k = 0; k < dW.length; k++) sq += (dW[k] / T) ** 2;
    const p0 = c > 1 ? 1 : 0; // bos excluded when the prompt has tokens
    const e = new Float64Array(d);
    for (let p = p0; p < c; p++) for (let k = 0; k < d; k++) e[k] += hidden[p * d + k] / (c - p0);
    return { g: Math.sqrt(sq), e, a, h, T };
  }

  it('g_i equals ‖G_i‖_F of the explicitly formed mean-token head gradient (relative error ≤ 1e-4), batched and left-padded', async () => {
    const out = await embedBatch(policy, items, names);
    for (let i = 0; i < items.length; i++) {
      const want = await explicit(items[i]);
      assert.ok(want.g > 0);
      assert.ok(rel(out.g[i], want.g) <= 1e-4, `sample ${names[i]}: g = ${out.g[i]}, explicit ‖G‖ = ${want.g}`);
    }
  });

  it('e_i is the mean of the prompt positions\' final hidden states (bos excluded unless it is the whole prompt)', async () => {
    const out = await embedBatch(policy, items, names);
    const d = out.d;
    for (let i = 0; i < items.length; i++) {
      const want = (await explicit(items[i])).e;
      for (let k = 0; k < d; k++) assert.ok(Math.abs(out.e[i * d + k] - want[k]) <= 1e-4, `sample ${names[i]} dim ${k}: ${out.e[i * d + k]} vs ${want[k]}`);
    }
  });

  it('a sample embeds the same alone as in a batch', async () => {
    const batch = await embedBatch(policy, items, names);
    const alone = await embedBatch(policy, [items[2]], ['c']);
    assert.ok(rel(alone.g[0], batch.g[2]) <= 1e-5);
    for (let k = 0; k < alone.d; k++) assert.ok(Math.abs(alone.e[k] - batch.e[2 * alone.d + k]) <= 1e-5);
  });

  it('the projected gradient is GradientProjector.project of (a_t, h_t)', async () => {
    const proj = new GradientProjector(policy.head.vocab, policy.head.dModel, 4, 3, 11);
    const out = await embedBatch(policy, items, names, new GradientProjector(policy.head.vocab, policy.head.dModel, 4, 3, 11));
    for (let i = 0; i < items.length; i++) {
      const { a, h, T } = await explicit(items[i]);
      const want = new Float32Array(proj.k);
      proj.project(a, h, T, want);
      for (let k = 0; k < proj.k; k++) assert.ok(Math.abs(out.pg![i * proj.k + k] - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])), `sample ${names[i]} pg[${k}]`);
    }
  });

  it('a head with NaN weights is refused naming the tensor (g) and the sample', async () => {
    const W = policy.head.W.slice();
    W[0] = NaN;
    const bad = policy.withHead({ ...policy.head, W });
    await assert.rejects(embedBatch(bad, items.slice(0, 1), ['pool-7']), (err: Error) => err instanceof DlabInputError && /g \(‖G‖\) of sample pool-7 is NaN/.test(err.message));
  });
});

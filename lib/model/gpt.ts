import type { z } from 'zod';
import type { ModelBuildConfig } from '../../schemas/config/model';
import { checkGptWeights, GptWeights, initialWeights } from './gpt-weights';
import { BOOL_TYPE, FLOAT, GraphBuilder, INT64, floatAttr, intAttr, intsAttr } from './onnx-graph';

/**
 * GPT-style transformer graphs built in TypeScript (nanoGPT's shape, ONNX ops):
 *
 *   x = wte[input_ids] + wpe[position_ids]
 *   for each layer:  x += Wo · attn(LN₁(x))        (causal, multi-head, KV cache)
 *                    x += W₂ · gelu(W₁ · LN₂(x))
 *   h = LN_f(x);  logits = h · W_headᵀ (+ b)        (W_head = wte when tied)
 *
 * The decoder's inputs and outputs are those of a Hugging Face Optimum decoder export
 * (`input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key|value` →
 * `logits`, `present.{i}.key|value`), so `prepare` and the runtime treat the project's
 * models and users' exports the same way. Weights ~ N(0, 0.02²) from the seeded RNG
 * (residual projections scaled by 1/√(2·nLayer)), biases 0, LayerNorm γ = 1, β = 0
 * (gpt-weights.ts `initialWeights`), or given values (e.g. pretrained by gpt-train.ts).
 *
 * GptConfig: vocab, dModel, nLayer, nHead, dFf, maxPos, seed; tied (head = wte, default
 * true), headBias (default false) — the fields of `dlab model build`'s schema
 * (schemas/config/model.ts) without its tokenizer, as given (defaults not yet applied).
 */
export type GptConfig = Omit<z.input<typeof ModelBuildConfig>, 'tokenizer'>;

export function checkGptConfig(cfg: GptConfig): void {
  for (const k of ['vocab', 'dModel', 'nLayer', 'nHead', 'dFf', 'maxPos'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`model config: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.dModel % cfg.nHead !== 0) throw new Error(`model config: dModel (${cfg.dModel}) must be divisible by nHead (${cfg.nHead})`);
}

/**
 * How a decoder export lays out what other model families do differently (the math of the
 * model is unchanged):
 *   nKvHead      grouped-query attention (Llama, Qwen2): keys and values have nKvHead heads
 *                (the first nKvHead·headDim columns of the k and v weights), each shared by
 *                nHead / nKvHead query heads; the KV cache is [B, nKvHead, T, headDim];
 *   positionIds  'input' (default) or 'from-mask': no position_ids input (Gemma-style exports);
 *                position of a token = Σ_{t' ≤ t} attention_mask[b, t'] − 1 (0 on padding).
 */
export interface DecoderLayout {
  nKvHead?: number;
  positionIds?: 'input' | 'from-mask';
}

interface Shared {
  g: GraphBuilder;
  cfg: GptConfig;
  /** key/value heads (nHead unless grouped-query attention) */
  nKvHead: number;
  /** initializer values by name (gpt-weights.ts) */
  w: GptWeights;
  headDim: number;
  /** additive attention bias [B, 1, S, T]: 0 where attended, −1e9 elsewhere */
  attnBias: string;
}

/** The initializer `name` with its value from s.w. */
function weight(s: Shared, name: string, dims: number[]): string {
  return s.g.floatTensor(name, dims, s.w.get(name)!);
}

/** LayerNorm over the last axis with γ = `${name}.weight`, β = `${name}.bias`. */
function layerNorm(s: Shared, x: string, name: string): string {
  const d = s.cfg.dModel;
  return s.g.op('LayerNormalization', [x, weight(s, `${name}.weight`, [d]), weight(s, `${name}.bias`, [d])], [
    intAttr('axis', -1),
    floatAttr('epsilon', 1e-5),
  ]);
}

/** x · W + b with W [inDim, outDim]. */
function linear(s: Shared, x: string, name: string, inDim: number, outDim: number): string {
  return s.g.op('Add', [s.g.op('MatMul', [x, weight(s, `${name}.weight`, [inDim, outDim])]), weight(s, `${name}.bias`, [outDim])]);
}

/** [B, S, H·hd] → [B, H, S, hd] */
function splitHeads(s: Shared, x: string, heads = s.cfg.nHead): string {
  const shape = s.g.int64Tensor(`split_shape_${x}`, [4], [0, 0, heads, s.headDim]);
  return s.g.op('Transpose', [s.g.op('Reshape', [x, shape])], [intsAttr('perm', [0, 2, 1, 3])]);
}

/** x · W[:, :cols] + b[:cols] with W [inDim, d]: the k/v projection of nKvHead heads. */
function linearCols(s: Shared, x: string, name: string, inDim: number, cols: number): string {
  const W = s.w.get(`${name}.weight`)!;
  const b = s.w.get(`${name}.bias`)!;
  const d = W.length / inDim;
  const Wc = new Float32Array(inDim * cols);
  for (let r = 0; r < inDim; r++) Wc.set(W.subarray(r * d, r * d + cols), r * cols);
  return s.g.op('Add', [s.g.op('MatMul', [x, s.g.floatTensor(`${name}.weight`, [inDim, cols], Wc)]), s.g.floatTensor(`${name}.bias`, [cols], b.slice(0, cols))]);
}

/** [B, Hkv, T, hd] → [B, Hkv·rep, T, hd], each kv head repeated for its rep query heads. */
function repeatKv(s: Shared, x: string, i: number, kind: string): string {
  const rep = s.cfg.nHead / s.nKvHead;
  if (rep === 1) return x;
  const g = s.g;
  const x5 = g.op('Unsqueeze', [x, g.int64Tensor(`h.${i}.${kind}.rep_axis`, [1], [2])]); // [B, Hkv, 1, T, hd]
  const shape = g.op('Shape', [x5]);
  const target = g.op('Mul', [shape, g.int64Tensor(`h.${i}.${kind}.rep`, [5], [1, 1, rep, 1, 1])]);
  const expanded = g.op('Expand', [x5, target]); // [B, Hkv, rep, T, hd]
  return g.op('Reshape', [expanded, g.int64Tensor(`h.${i}.${kind}.rep_shape`, [4], [0, s.cfg.nHead, -1, s.headDim])]);
}

/** One pre-LN block; `past` = [key, value] names of the cache inputs (decoder) or undefined (encoder). */
function block(s: Shared, x: string, i: number, cache?: { pastKey: string; pastValue: string; presentKey: string; presentValue: string }): string {
  const { g, cfg } = s;
  const d = cfg.dModel;
  const h = layerNorm(s, x, `h.${i}.ln_1`);
  const q = splitHeads(s, linear(s, h, `h.${i}.attn.q`, d, d));
  const kvCols = s.nKvHead * s.headDim;
  const kvLinear = (name: string) => (kvCols === d ? linear(s, h, name, d, d) : linearCols(s, h, name, d, kvCols));
  let k = splitHeads(s, kvLinear(`h.${i}.attn.k`), s.nKvHead);
  let v = splitHeads(s, kvLinear(`h.${i}.attn.v`), s.nKvHead);
  if (cache) {
    k = g.op('Concat', [cache.pastKey, k], [intAttr('axis', 2)], cache.presentKey);
    v = g.op('Concat', [cache.pastValue, v], [intAttr('axis', 2)], cache.presentValue);
  }
  k = repeatKv(s, k, i, 'k');
  v = repeatKv(s, v, i, 'v');
  const scale = g.floatTensor(`h.${i}.attn.scale`, [], new Float32Array([1 / Math.sqrt(s.headDim)]));
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], [intsAttr('perm', [0, 1, 3, 2])])]), scale]);
  const attn = g.op('Softmax', [g.op('Add', [scores, s.attnBias])], [intAttr('axis', -1)]);
  const merged = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [attn, v])], [intsAttr('perm', [0, 2, 1, 3])]), g.int64Tensor(`h.${i}.merge_shape`, [3], [0, 0, d])]);
  x = g.op('Add', [x, linear(s, merged, `h.${i}.attn.c_proj`, d, d)]);
  const h2 = layerNorm(s, x, `h.${i}.ln_2`);
  const up = linear(s, h2, `h.${i}.mlp.c_fc`, d, cfg.dFf);
  // gelu(u) = ½ u (1 + erf(u / √2))
  const half = g.floatTensor(`h.${i}.mlp.half`, [], new Float32Array([0.5]));
  const one = g.floatTensor(`h.${i}.mlp.one`, [], new Float32Array([1]));
  const invSqrt2 = g.floatTensor(`h.${i}.mlp.inv_sqrt2`, [], new Float32Array([Math.SQRT1_2]));
  const gelu = g.op('Mul', [g.op('Mul', [up, half]), g.op('Add', [one, g.op('Erf', [g.op('Mul', [up, invSqrt2])])])]);
  return g.op('Add', [x, linear(s, gelu, `h.${i}.mlp.c_proj`, cfg.dFf, d)]);
}

/** Scalar int64 from a [1] tensor. */
function scalar(g: GraphBuilder, x: string): string {
  return g.op('Squeeze', [x, g.int64Tensor(`squeeze_axes_${x}`, [1], [0])]);
}

/**
 * attention bias [B, 1, S, T]: query s (absolute slot past + s) may attend key t iff
 * attention_mask[b, t] = 1 and (bidirectional or t ≤ past + s).
 */
function attentionBias(g: GraphBuilder, inputIds: string, attentionMask: string, causal: boolean): string {
  const pad = g.op('Unsqueeze', [g.op('Cast', [attentionMask], [intAttr('to', BOOL_TYPE)]), g.int64Tensor('pad_axes', [2], [1, 2])]); // [B,1,1,T]
  let allowed = pad;
  if (causal) {
    const T = g.op('Shape', [attentionMask], [intAttr('start', 1), intAttr('end', 2)]);
    const S = g.op('Shape', [inputIds], [intAttr('start', 1), intAttr('end', 2)]);
    const zero = g.int64Tensor('zero', [], [0]);
    const oneI = g.int64Tensor('one_i64', [], [1]);
    const tIdx = g.op('Range', [zero, scalar(g, T), oneI]); // [T]
    const sIdx = g.op('Add', [g.op('Range', [zero, scalar(g, S), oneI]), g.op('Sub', [T, S])]); // [S] absolute slots
    const causalMask = g.op('LessOrEqual', [
      g.op('Unsqueeze', [tIdx, g.int64Tensor('row_axis', [1], [0])]),
      g.op('Unsqueeze', [sIdx, g.int64Tensor('col_axis', [1], [1])]),
    ]); // [S,T]
    allowed = g.op('And', [causalMask, pad]); // [B,1,S,T]
  }
  const zeroF = g.floatTensor('bias_zero', [], new Float32Array([0]));
  const negF = g.floatTensor('bias_neg', [], new Float32Array([-1e9]));
  return g.op('Where', [allowed, zeroF, negF]);
}

/** position_ids [B, S] = (cumsum(attention_mask, 1) − 1)[:, T−S:], clamped at 0 (padding). */
function positionsFromMask(g: GraphBuilder, inputIds: string, attentionMask: string): string {
  const cum = g.op('CumSum', [attentionMask, g.int64Tensor('pos_cum_axis', [], [1])]);
  const pos = g.op('Max', [g.op('Sub', [cum, g.int64Tensor('pos_one_i64', [], [1])]), g.int64Tensor('pos_zero_i64', [], [0])]);
  const S = g.op('Shape', [inputIds], [intAttr('start', 1), intAttr('end', 2)]);
  const negS = g.op('Neg', [S]);
  return g.op('Slice', [pos, negS, g.int64Tensor('pos_end', [1], [Number.MAX_SAFE_INTEGER]), g.int64Tensor('pos_axes', [1], [1])]);
}

function embeddings(s: Shared, inputIds: string, positionIds: string): { x: string; wte: string } {
  const { g, cfg } = s;
  const wte = weight(s, 'wte', [cfg.vocab, cfg.dModel]);
  const wpe = weight(s, 'wpe', [cfg.maxPos, cfg.dModel]);
  return { x: g.op('Add', [g.op('Gather', [wte, inputIds], [intAttr('axis', 0)]), g.op('Gather', [wpe, positionIds], [intAttr('axis', 0)])]), wte };
}

/** Validated weights: the given ones, or the seeded initial ones. */
function weightsFor(cfg: GptConfig, weights?: GptWeights): GptWeights {
  checkGptConfig(cfg);
  if (!weights) return initialWeights(cfg);
  checkGptWeights(cfg, weights);
  return weights;
}

/**
 * The causal LM with KV cache, in the Optimum decoder layout; `weights` default to
 * initialWeights(cfg); `layout` as other families export it (DecoderLayout).
 */
export function buildDecoder(cfg: GptConfig, weights?: GptWeights, layout: DecoderLayout = {}): Uint8Array {
  const w = weightsFor(cfg, weights);
  const g = new GraphBuilder('dlab_gpt_decoder');
  const headDim = cfg.dModel / cfg.nHead;
  const nKvHead = layout.nKvHead ?? cfg.nHead;
  if (!Number.isInteger(nKvHead) || nKvHead < 1 || cfg.nHead % nKvHead !== 0) throw new Error(`decoder layout: nKvHead (${nKvHead}) must divide nHead (${cfg.nHead})`);
  const inputIds = g.input('input_ids', INT64, ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', INT64, ['batch_size', 'past_sequence_length + sequence_length']);
  const positionIds = layout.positionIds === 'from-mask' ? positionsFromMask(g, inputIds, attentionMask) : g.input('position_ids', INT64, ['batch_size', 'sequence_length']);
  const s: Shared = { g, cfg, nKvHead, w, headDim, attnBias: attentionBias(g, inputIds, attentionMask, true) };
  const { x: x0, wte } = embeddings(s, inputIds, positionIds);
  let x = x0;
  for (let i = 0; i < cfg.nLayer; i++) {
    const kv = ['key', 'value'].map((kind) => g.input(`past_key_values.${i}.${kind}`, FLOAT, ['batch_size', nKvHead, 'past_sequence_length', headDim]));
    for (const kind of ['key', 'value']) g.output(`present.${i}.${kind}`, FLOAT, ['batch_size', nKvHead, 'past_sequence_length + sequence_length', headDim]);
    x = block(s, x, i, { pastKey: kv[0], pastValue: kv[1], presentKey: `present.${i}.key`, presentValue: `present.${i}.value` });
  }
  const h = layerNorm(s, x, 'ln_f');
  const headW = cfg.tied === false ? weight(s, 'lm_head.weight', [cfg.dModel, cfg.vocab]) : g.op('Transpose', [wte], [intsAttr('perm', [1, 0])]);
  const out = cfg.headBias ? g.op('Add', [g.op('MatMul', [h, headW]), weight(s, 'lm_head.bias', [cfg.vocab])], undefined, 'logits') : g.op('MatMul', [h, headW], undefined, 'logits');
  g.output(out, FLOAT, ['batch_size', 'sequence_length', cfg.vocab]);
  return g.toBytes();
}

/**
 * The encoder variant: bidirectional attention over non-padding tokens, positions
 * 0…S−1, outputs `last_hidden_state` [B, S, d] and the mean-pooled `embedding` [B, d]
 * (Σ_t mask_t h_t / Σ_t mask_t). `weights` default to initialWeights(cfg); the head's are unused.
 */
export function buildEncoder(cfg: GptConfig, weights?: GptWeights): Uint8Array {
  const w = weightsFor(cfg, weights);
  const g = new GraphBuilder('dlab_gpt_encoder');
  const inputIds = g.input('input_ids', INT64, ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', INT64, ['batch_size', 'sequence_length']);
  const s: Shared = { g, cfg, nKvHead: cfg.nHead, w, headDim: cfg.dModel / cfg.nHead, attnBias: attentionBias(g, inputIds, attentionMask, false) };
  const S = g.op('Shape', [inputIds], [intAttr('start', 1), intAttr('end', 2)]);
  const positions = g.op('Range', [g.int64Tensor('pos_zero', [], [0]), scalar(g, S), g.int64Tensor('pos_one', [], [1])]);
  let x = embeddings(s, inputIds, positions).x;
  for (let i = 0; i < cfg.nLayer; i++) x = block(s, x, i);
  const h = layerNorm(s, x, 'ln_f');
  g.op('Identity', [h], undefined, 'last_hidden_state');
  g.output('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', cfg.dModel]);
  const m = g.op('Unsqueeze', [g.op('Cast', [attentionMask], [intAttr('to', FLOAT)]), g.int64Tensor('mask_axes', [1], [2])]); // [B,S,1]
  const summed = g.op('ReduceSum', [g.op('Mul', [h, m]), g.int64Tensor('seq_axis', [1], [1])], [intAttr('keepdims', 0)]);
  const count = g.op('ReduceSum', [m, g.int64Tensor('seq_axis2', [1], [1])], [intAttr('keepdims', 0)]);
  g.op('Div', [summed, g.op('Max', [count, g.floatTensor('one_f', [], new Float32Array([1]))])], undefined, 'embedding');
  g.output('embedding', FLOAT, ['batch_size', cfg.dModel]);
  return g.toBytes();
}

import { Tensor } from 'onnxruntime-node';
import type { Backbone } from './backbone';
import { FUSED_LOGITS, FUSED_PROBS, HEAD_B, HEAD_W, INV_TEMPERATURE, NEW_KV } from './decode-graph';
import { Head, headLogits, headProbs } from './head';
import { runModel } from './session-cache';

/**
 * The passes of one generation over a backbone: the left-padded prompt first (ids, positions
 * [B, L]), then one token per sequence at a time ([B, 1]). Each pass returns, for every
 * sequence's last position, the logits [B, V] (a greedy generation) or their distribution
 * softmax(logits · τ⁻¹) [B, V] (a sampled one, `invT` = τ⁻¹ given), computed by ONNX Runtime;
 * the decoder keeps the KV cache and the attention mask between passes (a fed token is attended
 * from the next pass on; the prompt's padding never is).
 */
export interface Decoder {
  /** what is returned is valid until the next step (the slot decoder reuses its buffer) */
  step(ids: BigInt64Array, positions: BigInt64Array, seq: number): Promise<Float32Array>;
}

/**
 * How the cache is kept: 'slots' (the default when the backbone runs its decoding form) in
 * buffers the decoder owns, 'grow' as the export's present.{i}.* outputs, fed back as the next
 * pass's past. `promptMask` [B, L]; `maxNew` tokens are generated at most.
 */
export function makeDecoder(backbone: Backbone, head: Head, promptMask: BigInt64Array, batch: number, maxNew: number, kind: 'slots' | 'grow' = 'slots', invT?: number): Decoder {
  const L = promptMask.length / batch;
  // the last token sampled is never fed: L + maxNew − 1 slots at most
  return kind === 'slots' && backbone.fused ? new SlotDecoder(backbone, head, promptMask, batch, L, L + maxNew - 1, invT) : new GrowingDecoder(backbone, head, promptMask, batch, invT);
}

/**
 * The export's own cache: present = Concat(past, new) [B, kvHeads, T, headDim], returned by ONNX
 * Runtime (allocated, and copied by onnxruntime-node, every pass) and fed back as the next past;
 * the mask grows by one column a pass; logits (or probabilities) from the head session on the
 * last hidden rows.
 */
class GrowingDecoder implements Decoder {
  private cache: Record<string, Tensor>;
  private mask: BigInt64Array;
  private readonly last: Float32Array;

  constructor(private readonly backbone: Backbone, private readonly head: Head, promptMask: BigInt64Array, private readonly batch: number, private readonly invT?: number) {
    this.cache = backbone.emptyCache(batch);
    this.mask = promptMask;
    this.last = new Float32Array(batch * backbone.dModel);
  }

  async step(ids: BigInt64Array, positions: BigInt64Array, seq: number): Promise<Float32Array> {
    const { batch: B, backbone } = this;
    const d = backbone.dModel;
    const r = await backbone.run(ids, positions, this.mask, B, seq, this.cache);
    this.cache = r.cache;
    for (let b = 0; b < B; b++) this.last.set(r.hidden.subarray((b * seq + seq - 1) * d, (b * seq + seq) * d), b * d);
    const T = this.mask.length / B;
    const next = new BigInt64Array(B * (T + 1));
    for (let b = 0; b < B; b++) {
      next.set(this.mask.subarray(b * T, (b + 1) * T), b * (T + 1));
      next[b * (T + 1) + T] = 1n;
    }
    this.mask = next;
    return this.invT === undefined ? headLogits(this.head, this.last, B) : headProbs(this.head, this.last, B, this.invT);
  }
}

/**
 * The capacity to grow to when n slots are needed (at most the generation's limit): room for g
 * more, C = 16·⌈(n + g − 1)/16⌉ with g = max(16, ⌈1.15·√n⌉) — or the limit itself when less
 * than g would be left past C (no last growth of a few slots). With s the bytes of one slot over
 * all layers, a growth moves the n filled slots (2n·s bytes read and written, in JavaScript)
 * and the next pass runs on new shapes (~0.1–0.2 ms more in ONNX Runtime), and every pass
 * carries the empty slots through its Concat and attention (≈ 3s bytes each): growing by g
 * costs the g passes until the next growth ≈ 2n·s/g + 3s·g/2 bytes a pass, least at
 * g ≈ 1.15·√n — 16 slots up to n ≈ 190, 32 at 512, 80 at 4096 (g rounded up to 16). A short
 * generation after a long prompt (rollouts) takes its limit at once.
 */
export function capacityFor(n: number, limit: number): number {
  const g = Math.max(16, Math.ceil(1.15 * Math.sqrt(n)));
  const C = 16 * Math.ceil((n + g - 1) / 16);
  return limit - C < g ? limit : C;
}

/**
 * The cache in buffers of the decoder's own, C slots per sequence (grown when full, capacityFor):
 * K, V [B, kvHeads, C, headDim] for each layer; slot t < used holds the key/value of the t-th
 * token fed (the prompt left-padded in slots 0 … L−1, then one token a pass), slots used … C−1
 * are empty. A pass feeds all C slots as the past with the mask
 *
 *   m [B, C + 1]:  m[b, t] = 1 for a fed real token, 0 for padding and empty slots;  m[b, C] = 1
 *
 * (slot C is the token being fed, which the graph's Concat appends after the past), fetches
 * only dlab.new [2·nLayer·B, kvHeads, S, headDim] (every layer's new keys and values, in the
 * order of the buffers) and dlab.logits or dlab.probs [B, V] (decode-graph.ts; τ⁻¹ fed as
 * dlab.inv_temperature, 0 when greedy: no probabilities computed), and writes the new keys/values
 * into slots used … used+S−1. The one-token passes fetch into tensors the decoder owns: ONNX
 * Runtime writes into them, and the appends read the same few kB, hot in cache, every pass
 * (onnxruntime-node still returns a copy of each output, unused here). Attention gives the
 * empty slots the masked weight exp(−1e9 − max) = 0, so each token attends what it does with
 * the growing cache; the softmax and the weighted sum run over more terms in another order, so
 * logits agree to float rounding, not bit for bit (unit test: ≤ 1e-5). Positions are fed as
 * before; an export that derives them from the mask (cumsum − 1) counts the same real tokens.
 */
class SlotDecoder implements Decoder {
  private capacity = 0;
  private used = 0;
  private bufs: Float32Array[] = [];
  private mask = new BigInt64Array(0);
  /** the feeds of the next pass: past_key_values.* and attention_mask over the current buffers, the head */
  private readonly feeds: Record<string, Tensor>;
  private readonly pasts: string[] = [];
  /** dlab.logits (greedy) or dlab.probs */
  private readonly fetched: string;
  private readonly fetches: string[];
  /** the one-token passes' outputs, pre-allocated (ONNX Runtime writes into them): dlab.logits or dlab.probs [B, V], dlab.new [2·nLayer·B, kvHeads, 1, headDim] */
  private readonly outputs: Record<string, Tensor>;
  /** the one-token passes' input_ids and position_ids [B, 1], filled in place */
  private readonly token: { ids: BigInt64Array; positions: BigInt64Array; idsTensor: Tensor; positionsTensor: Tensor };

  constructor(
    private readonly backbone: Backbone,
    head: Head,
    private readonly promptMask: BigInt64Array,
    private readonly batch: number,
    private readonly L: number,
    /** slots the generation can fill: the prompt and every token fed after it */
    private readonly limit: number,
    invT?: number,
  ) {
    this.fetched = invT === undefined ? FUSED_LOGITS : FUSED_PROBS;
    this.fetches = [this.fetched, NEW_KV];
    for (let i = 0; i < backbone.nLayer; i++) for (const k of ['key', 'value']) this.pasts.push(`past_key_values.${i}.${k}`);
    this.feeds = {
      ...backbone.emptyCache(batch),
      attention_mask: new Tensor('int64', promptMask, [batch, L]),
      [HEAD_W]: new Tensor('float32', head.W, [head.vocab, head.dModel]),
      [HEAD_B]: new Tensor('float32', head.b, [head.vocab]),
      [INV_TEMPERATURE]: new Tensor('float32', new Float32Array([invT ?? 0]), [1]),
    };
    const ids = new BigInt64Array(batch);
    const positions = new BigInt64Array(batch);
    this.token = { ids, positions, idsTensor: new Tensor('int64', ids, [batch, 1]), positionsTensor: new Tensor('int64', positions, [batch, 1]) };
    const kvRows = 2 * backbone.nLayer * batch;
    this.outputs = {
      [this.fetched]: new Tensor('float32', new Float32Array(batch * head.vocab), [batch, head.vocab]),
      [NEW_KV]: new Tensor('float32', new Float32Array(kvRows * backbone.cacheHeads * backbone.headDim), [kvRows, backbone.cacheHeads, 1, backbone.headDim]),
    };
  }

  async step(ids: BigInt64Array, positions: BigInt64Array, seq: number): Promise<Float32Array> {
    const { batch: B, backbone } = this;
    const feeds = this.feeds;
    let out = this.outputs;
    if (seq === 1) {
      // one token a sequence: into the decoder's own input and output tensors
      this.token.ids.set(ids);
      this.token.positions.set(positions);
      feeds.input_ids = this.token.idsTensor;
      if (backbone.hasPositionIds) feeds.position_ids = this.token.positionsTensor;
      await runModel(backbone.session, feeds, backbone.path, out);
    } else {
      // the prompt pass, once: into outputs ONNX Runtime allocates
      feeds.input_ids = new Tensor('int64', ids, [B, seq]);
      if (backbone.hasPositionIds) feeds.position_ids = new Tensor('int64', positions, [B, seq]);
      out = await runModel(backbone.session, feeds, backbone.path, this.fetches);
    }
    this.append(out, seq);
    return out[this.fetched].data as Float32Array;
  }

  /** Writes the S tokens just fed into slots used … used+S−1 (growing the buffers first if full) and unmasks them. */
  private append(out: Record<string, Tensor>, S: number): void {
    const first = this.used === 0;
    if (this.used + S > this.limit) throw new Error(`slot decoder: ${this.used + S} slots needed, made for ${this.limit} (L + maxNew − 1)`);
    if (this.used + S > this.capacity) this.grow(capacityFor(this.used + S, this.limit));
    const { batch: B, capacity: C, used } = this;
    const hd = this.backbone.headDim;
    const rows = B * this.backbone.cacheHeads;
    const n = S * hd;
    const src = out[NEW_KV].data as Float32Array;
    for (let j = 0; j < this.bufs.length; j++) {
      const buf = this.bufs[j];
      // row r (sequence, head): its S new positions after its `used` filled ones; buffer j's rows are block j of dlab.new
      for (let r = 0; r < rows; r++) {
        const from = (j * rows + r) * n;
        const to = (r * C + used) * hd;
        for (let x = 0; x < n; x++) buf[to + x] = src[from + x];
      }
    }
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) this.mask[b * (C + 1) + used + s] = first ? this.promptMask[b * this.L + s] : 1n;
    }
    this.used += S;
  }

  /**
   * C slots from now on. The buffers are allocated once, for `limit` slots (untouched pages cost
   * nothing until written), and the past feeds are their first B·heads·C·headDim floats: growing
   * moves each row's filled slots from stride old to stride C within the same buffer (the last
   * row first, so no row is overwritten before it moves), no new memory and no page faults for
   * what was already written. Slots past `used` keep stale finite values; the mask hides them.
   */
  private grow(C: number): void {
    const { batch: B, capacity: old, used } = this;
    const hd = this.backbone.headDim;
    const heads = this.backbone.cacheHeads;
    const rows = B * heads;
    if (!this.bufs.length) this.bufs = this.pasts.map(() => new Float32Array(rows * this.limit * hd));
    if (used) for (const buf of this.bufs) for (let r = rows - 1; r > 0; r--) buf.copyWithin(r * C * hd, r * old * hd, (r * old + used) * hd);
    const mask = new BigInt64Array(B * (C + 1));
    for (let b = 0; b < B; b++) {
      if (used) mask.set(this.mask.subarray(b * (old + 1), b * (old + 1) + used), b * (C + 1));
      mask[b * (C + 1) + C] = 1n;
    }
    this.mask = mask;
    this.capacity = C;
    this.feeds.attention_mask = new Tensor('int64', mask, [B, C + 1]);
    this.pasts.forEach((name, j) => (this.feeds[name] = new Tensor('float32', this.bufs[j].subarray(0, rows * C * hd), [B, heads, C, hd])));
  }
}

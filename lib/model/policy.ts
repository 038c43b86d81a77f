import { DlabInputError } from '../errors';
import { Rng } from '../rng';
import { Backbone } from './backbone';
import { makeDecoder } from './decoder';
import { Head, headLogits } from './head';
import { logSoftmaxAt } from './log-softmax';
import { backboneSha256, readHeadFile, readModelDir, ModelJson } from './model-dir';
import { greedyToken, isGreedy, NonFiniteLogitsError, SamplingOptions, sampleProbs } from './sampling';
import { PromptFormat, PromptOptions, promptFormat } from './prompt';
import type { Tokenizer } from './tokenizer';
import { loadTokenizer } from './tokenizers';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** generation of a sequence stops when its text contains one of these (excluded from `text`) */
  stop?: string[];
  seed: number;
  /** RNG stream per prompt (default: its index): a sequence's sample depends only on (seed, stream) */
  streams?: number[];
  /**
   * sees what each step draws from [B, V] (diagnostics, tests): the distribution softmax(z / T),
   * or the logits z when greedy; the array is reused by the next step: copy what you keep
   */
  onStep?: (step: number, dist: Float32Array) => void;
  /** what each prompt is, for errors (e.g. its question id and demonstration); default "prompt i" */
  names?: string[];
  /**
   * how the KV cache is kept between passes (decoder.ts): 'slots' (default) in buffers of the
   * generation's own, written with each pass's new keys/values, when the backbone runs its
   * decoding form (Backbone.fused; else as 'grow'); 'grow' as the export's present.* outputs.
   * Logits and probabilities agree to float rounding (≤ 1e-5), not bit for bit
   */
  kvCache?: 'slots' | 'grow';
}

export interface Generation {
  /** sampled token ids (the eos token included when sampled) */
  tokens: number[];
  /** decoded completion, cut before a stop string */
  text: string;
  /** log-prob of each sampled token under the sampling distribution */
  logprobs: number[];
  /** eos: an end id (any of the tokenizer's stopIds) was sampled */
  finish: 'eos' | 'stop' | 'length';
  /** prompt token ids as fed (bos included) */
  promptTokens: number[];
}

export interface ScoreItem {
  context: number[];
  target: number[];
}

export interface Scored {
  logprob: number;
  tokenLogprobs: Float64Array;
}

/**
 * backbone (ONNX Runtime) + head (W, b) + tokenizer. The head is data: `withHead` swaps in
 * a trained one without touching any graph or session.
 */
export class Policy {
  private constructor(
    readonly backbone: Backbone,
    readonly head: Head,
    readonly tokenizer: Tokenizer,
    readonly model: ModelJson,
    /** how prompts and continuations become ids (plain or chat template) */
    readonly prompts: PromptFormat,
  ) {}

  /** `ownSession`: the backbone gets an ONNX session of its own, freed by `release()` (default: the process-wide one of its sha256). */
  static async load(dir: string, opts: { threads?: number; ownSession?: boolean } & PromptOptions = {}): Promise<Policy> {
    const { json, backbonePath, headPath, tokenizerPath } = await readModelDir(dir);
    const backbone = await Backbone.load(backbonePath, opts.ownSession ? null : `backbone:${backboneSha256(json)}`, json.dims, opts.threads);
    const head = await readHeadFile(headPath, json.sha256.head);
    if (head.vocab !== json.dims.vocab || head.dModel !== json.dims.dModel) {
      throw new DlabInputError(`${headPath}: head is ${head.vocab} × ${head.dModel}, model.json says ${json.dims.vocab} × ${json.dims.dModel}`, headPath);
    }
    const tokenizer = loadTokenizer(tokenizerPath);
    return new Policy(backbone, head, tokenizer, json, promptFormat(tokenizer, opts, dir));
  }

  /** Frees the backbone's own session (Policy.load with ownSession); the policy cannot run after it. */
  release(): Promise<void> {
    return this.backbone.release();
  }

  withHead(head: Head): Policy {
    if (head.vocab !== this.head.vocab || head.dModel !== this.head.dModel) {
      throw new DlabInputError(`head is ${head.vocab} × ${head.dModel}, the policy needs ${this.head.vocab} × ${this.head.dModel}`);
    }
    return new Policy(this.backbone, head, this.tokenizer, this.model, this.prompts);
  }

  /** A prompt's ids as the model's own tokenizer (or chat template) writes it: PromptFormat.encode. */
  encodePrompt(text: string): number[] {
    return this.prompts.encode(text);
  }

  /** A prompt and the target text after it, encoded together: PromptFormat.continuation. */
  encodeContinuation(prompt: string, target: string): ScoreItem {
    return this.prompts.continuation(prompt, target);
  }

  private checkLength(len: number, what: string): void {
    const maxPos = this.model.dims.maxPos;
    if (maxPos !== null && len > maxPos) throw new DlabInputError(`${what}: ${len} tokens, but the model has only ${maxPos} positions`, what);
  }

  /**
   * Batched sampling with the KV cache. Prompts are left-padded to the longest; each
   * sequence draws from its own RNG stream, one uniform per token, so what it samples does
   * not depend on the batch it ran in. A sampled step draws from the probabilities the graph
   * computed (softmax(z · τ⁻¹) in float32 on ONNX Runtime: sampling.ts sampleProbs), a greedy one
   * takes the logits' argmax.
   */
  async generate(prompts: (string | number[])[], opts: GenerateOptions): Promise<Generation[]> {
    const B = prompts.length;
    if (!(opts.temperature >= 0)) throw new DlabInputError(`temperature ${opts.temperature}: expected a number ≥ 0 (0 is greedy)`, 'temperature');
    if (B === 0) return [];
    const encoded = prompts.map((p) => (typeof p === 'string' ? this.encodePrompt(p) : p));
    encoded.forEach((e, i) => this.checkLength(e.length + opts.maxTokens, `${opts.names?.[i] ?? `prompt ${i}`} (${e.length} tokens) + maxTokens ${opts.maxTokens}`));
    const { padId } = this.tokenizer;
    const stopIds = new Set(this.tokenizer.stopIds);
    const V = this.head.vocab;
    const rngs = encoded.map((_, i) => new Rng(opts.seed, opts.streams?.[i] ?? i));
    const stop = opts.stop ?? [];

    // first pass: the whole left-padded prompt
    const first = leftPadBatch(encoded, padId);
    let { ids, positions } = first;
    const L = first.L;
    const nextPos = encoded.map((e) => e.length);
    const greedy = isGreedy(opts.temperature);
    const decoder = makeDecoder(this.backbone, this.head, first.mask, B, opts.maxTokens, opts.kvCache, greedy ? undefined : Math.fround(1 / opts.temperature));
    let seq = L;
    const out: Generation[] = encoded.map((e) => ({ tokens: [], text: '', logprobs: [], finish: 'length', promptTokens: e }));
    const done = new Array<boolean>(B).fill(false);
    const scratch = { order: new Int32Array(V) };
    for (let step = 0; step < opts.maxTokens && done.includes(false); step++) {
      const dist = await decoder.step(ids, positions, seq);
      opts.onStep?.(step, dist);
      const nextIds = new BigInt64Array(B);
      const nextPositions = new BigInt64Array(B);
      for (let b = 0; b < B; b++) {
        nextPositions[b] = BigInt(nextPos[b]++);
        if (done[b]) {
          nextIds[b] = BigInt(padId);
          continue;
        }
        let drawn: ReturnType<typeof sampleProbs>;
        try {
          const row = dist.subarray(b * V, (b + 1) * V);
          if (greedy) {
            rngs[b].next(); // one draw per token, as sampling: streams stay aligned
            drawn = { token: greedyToken(row), logprob: 0 };
          } else {
            drawn = sampleProbs(row, opts, rngs[b], scratch);
          }
        } catch (err) {
          // the same weights and inputs give the same logits: an error no retry can fix
          if (err instanceof NonFiniteLogitsError) throw new DlabInputError(`${this.backbone.path}: ${opts.names?.[b] ?? `prompt ${b}`}, generated token ${step}: ${err.message}`, this.backbone.path);
          throw err;
        }
        const { token, logprob } = drawn;
        const g = out[b];
        g.tokens.push(token);
        g.logprobs.push(logprob);
        nextIds[b] = BigInt(token);
        if (stopIds.has(token)) {
          done[b] = true;
          g.finish = 'eos';
          continue;
        }
        // the text so far is needed only to look for stop strings; otherwise decoded once at the end
        if (!stop.length) continue;
        g.text = this.tokenizer.decode(g.tokens);
        const at = firstStop(g.text, stop);
        if (at >= 0) {
          done[b] = true;
          g.finish = 'stop';
          g.text = g.text.slice(0, at);
        }
      }
      ids = nextIds;
      positions = nextPositions;
      seq = 1;
    }
    for (const g of out) if (g.finish !== 'stop') g.text = this.tokenizer.decode(g.tokens);
    return out;
  }

  /**
   * Teacher-forced log-probs of each item's target given its context (batched, left-padded,
   * one pass per batch): log π(target_j | context, target_<j) for every target token.
   * With `withHidden`, also the hidden states h_t that predicted the target tokens,
   * concatenated over items ([Σ|target|, d]) — what head gradients are taken on.
   */
  async score(items: ScoreItem[], opts: { batchSize?: number; withHidden?: boolean } = {}): Promise<{ scored: Scored[]; hidden?: Float32Array }> {
    const batchSize = opts.batchSize ?? 16;
    const d = this.head.dModel;
    const V = this.head.vocab;
    const totalTargets = items.reduce((n, it) => n + it.target.length, 0);
    const hiddenAll = opts.withHidden ? new Float32Array(totalTargets * d) : undefined;
    const scored: Scored[] = [];
    let hiddenAt = 0;
    for (let start = 0; start < items.length; start += batchSize) {
      const batch = items.slice(start, start + batchSize);
      const B = batch.length;
      const seqs = batch.map((it, i) => {
        if (!it.context.length) throw new DlabInputError(`score item ${start + i}: empty context (the first target token needs something to be predicted from)`);
        this.checkLength(it.context.length + it.target.length, `score item ${start + i}`);
        return [...it.context, ...it.target];
      });
      const { ids, positions, mask, L } = leftPadBatch(seqs, this.tokenizer.padId);
      const hidden = await this.backbone.hidden(ids, positions, mask, B, L);
      const n = batch.reduce((k, it) => k + it.target.length, 0);
      const h = new Float32Array(n * d);
      let row = 0;
      for (let b = 0; b < B; b++) {
        const tl = batch[b].target.length;
        // positions L−tl−1 … L−2 predict the target tokens
        for (let j = 0; j < tl; j++, row++) h.set(hidden.subarray((b * L + L - tl - 1 + j) * d, (b * L + L - tl + j) * d), row * d);
      }
      const logits = await headLogits(this.head, h, n);
      row = 0;
      for (const it of batch) {
        const lp = new Float64Array(it.target.length);
        let sum = 0;
        for (let j = 0; j < it.target.length; j++, row++) {
          lp[j] = logSoftmaxAt(logits, row * V, V, it.target[j]);
          sum += lp[j];
        }
        // a NaN or +∞ logit, or a row of −∞, makes the log-softmax NaN: the same weights give it again
        if (Number.isNaN(sum)) throw new DlabInputError(`${this.backbone.path}: score item ${scored.length}: the logits hold a NaN or +∞, or every logit is −∞: no log-probability can be taken`, this.backbone.path);
        scored.push({ logprob: sum, tokenLogprobs: lp });
      }
      if (hiddenAll) {
        hiddenAll.set(h, hiddenAt * d);
        hiddenAt += n;
      }
    }
    return { scored, hidden: hiddenAll };
  }
}

/**
 * Sequences left-padded to the longest (L): ids [B, L] (pad where masked), attention mask
 * [B, L] (1 on real tokens), positions [B, L] (0, 1, … over each sequence's real tokens).
 */
export function leftPadBatch(seqs: number[][], padId: number): { ids: BigInt64Array; positions: BigInt64Array; mask: BigInt64Array; L: number } {
  const B = seqs.length;
  const L = Math.max(0, ...seqs.map((s) => s.length));
  const ids = new BigInt64Array(B * L);
  const positions = new BigInt64Array(B * L);
  const mask = new BigInt64Array(B * L);
  for (let b = 0; b < B; b++) {
    const s = seqs[b];
    const off = L - s.length;
    for (let t = 0; t < L; t++) {
      const real = t >= off;
      ids[b * L + t] = BigInt(real ? s[t - off] : padId);
      mask[b * L + t] = real ? 1n : 0n;
      positions[b * L + t] = BigInt(real ? t - off : 0);
    }
  }
  return { ids, positions, mask, L };
}

function firstStop(text: string, stop: string[]): number {
  let at = -1;
  for (const s of stop) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

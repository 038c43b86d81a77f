import { Table } from 'apache-arrow';
import { GORACS_EMBEDDINGS, GORACS_EMBEDDINGS_PROJECTED } from '../../schemas/artifacts';
import { BatchState, LoopHooks, StageOutcome, runBatches } from '../batches';
import type { RecRecord } from '../data/rec-records';
import { DlabInputError } from '../errors';
import { headLogits } from '../model/head';
import { perSampleGradNorms } from '../model/head-gradient';
import { softmaxRow } from '../model/log-softmax';
import { leftPadBatch, Policy } from '../model/policy';
import { GradientProjector } from '../model/projection';
import { readNumbers, readVectors, tableFromColumns, vectorColumn } from '../store/columns';
import { ArtifactIO, ChunkRef, chunkRef } from '../store/io';

/**
 * GORACS stage 1, gradient embedding (docs/goracs.md, "Stage 1 — gradient embedding"). For sample i with prompt tokens
 * c (bos first) and target tokens y (the next item's token):
 *   e_i = mean over the prompt positions (bos excluded when the prompt has tokens) of the
 *         final hidden state                                               [d]
 *   G_i = (1/|t|) Σ_t a_t h_tᵀ,  a_t = softmax(W h_t + b) − e_{y_t}       [V, d]
 *         h_t the hidden state that predicts y_t (head-only parameterisation)
 *   g_i = ‖G_i‖_F by the Gram identity (perSampleGradNorms, G never formed)
 *   pg_i = seeded JL projection of vec(G_i) to kA·kH dims (GradientProjector), optional.
 */

export interface EmbedOptions {
  /** samples per backbone pass */
  batchSize: number;
  /** JL projection of the gradients (kA·kH dims), seeded */
  projection?: { kA: number; kH: number; seed: number };
}

export interface EmbeddedBatch {
  /** [n, d] row-major */
  e: Float32Array;
  /** [n] */
  g: Float64Array;
  /** [n, kA·kH] when a projection is configured */
  pg?: Float32Array;
  d: number;
}

/** A score item: context (the prompt's ids) and the target tokens after it. */
export interface EmbedItem {
  context: number[];
  target: number[];
}

/** prompt → target tokens, encoded together (PromptFormat.continuation), for every record. */
export function embedItems(policy: Policy, records: RecRecord[]): EmbedItem[] {
  return records.map((r) => policy.encodeContinuation(r.prompt, r.target));
}

/**
 * e, g (and pg) of a batch of items in one backbone pass (left-padded to the longest).
 * `names` label the rows in errors. Throws DlabInputError for an empty context, a sequence
 * longer than the model's positions, or a non-finite e, g or pg (naming sample and tensor).
 */
export async function embedBatch(policy: Policy, items: EmbedItem[], names: string[], projector?: GradientProjector): Promise<EmbeddedBatch> {
  const B = items.length;
  const d = policy.head.dModel;
  const V = policy.head.vocab;
  const maxPos = policy.model.dims.maxPos;
  const seqs = items.map((it, b) => {
    if (!it.context.length) throw new DlabInputError(`sample ${names[b]}: empty context (nothing to predict the target from)`, names[b]);
    const s = [...it.context, ...it.target];
    if (maxPos !== null && s.length > maxPos) throw new DlabInputError(`sample ${names[b]}: ${s.length} tokens, but the model has only ${maxPos} positions`, names[b]);
    return s;
  });
  const e = new Float32Array(B * d);
  const offsets = new Int32Array(B + 1);
  for (let b = 0; b < B; b++) offsets[b + 1] = offsets[b] + items[b].target.length;
  const N = offsets[B];
  const h = new Float32Array(N * d);
  const targets = new Int32Array(N);
  if (B > 0) {
    const { ids, positions, mask, L } = leftPadBatch(seqs, policy.tokenizer.padId);
    const hidden = await policy.backbone.hidden(ids, positions, mask, B, L);
    const specials = policy.prompts.prefix.length;
    for (let b = 0; b < B; b++) {
      const { context, target } = items[b];
      const off = L - seqs[b].length;
      // e: mean of the prompt positions [p0, off + |context|), the special ids before the prompt left out
      const p0 = off + (context.length > specials ? specials : 0);
      const p1 = off + context.length;
      const acc = new Float64Array(d);
      for (let p = p0; p < p1; p++) {
        const base = (b * L + p) * d;
        for (let k = 0; k < d; k++) acc[k] += hidden[base + k];
      }
      for (let k = 0; k < d; k++) e[b * d + k] = acc[k] / (p1 - p0);
      // h_t: position p1 − 1 + j predicts target[j]
      for (let j = 0; j < target.length; j++) {
        const row = offsets[b] + j;
        h.set(hidden.subarray((b * L + p1 - 1 + j) * d, (b * L + p1 + j) * d), row * d);
        targets[row] = target[j];
      }
    }
  }
  const a = await logitResiduals(policy, h, targets, N, V);
  const g = perSampleGradNorms(a, h, offsets, V, d, 'mean');
  const pg = projector?.projectSamples(a, h, offsets, 'mean');
  checkFinite('e', e, d, names);
  for (let i = 0; i < B; i++) {
    if (!Number.isFinite(g[i])) throw new DlabInputError(`gradient embedding: g (‖G‖) of sample ${names[i]} is ${g[i]}, expected a finite norm (check the model's head and hidden states)`, names[i]);
  }
  if (pg && projector) checkFinite('pg (projected gradient)', pg, projector.k, names);
  return { e, g, pg, d };
}

/** a_t = softmax(W h_t + b) − e_{y_t}, [N, V] float32, from the policy's head (ONNX Runtime). */
async function logitResiduals(policy: Policy, h: Float32Array, targets: Int32Array, N: number, V: number): Promise<Float32Array> {
  const logits = await headLogits(policy.head, h, N);
  const a = new Float32Array(N * V);
  for (let t = 0; t < N; t++) {
    const row = t * V;
    softmaxRow(logits, row, V, a, row);
    const y = targets[t];
    if (!(y >= 0 && y < V)) throw new DlabInputError(`gradient embedding: target token ${y} is outside the head's vocabulary [0, ${V})`);
    a[row + y] -= 1;
  }
  return a;
}

function checkFinite(what: string, x: Float32Array, width: number, names: string[]): void {
  for (let p = 0; p < x.length; p++) {
    if (!Number.isFinite(x[p])) {
      const i = Math.floor(p / width);
      throw new DlabInputError(`gradient embedding: ${what} of sample ${names[i]} has ${x[p]} at dim ${p - i * width}, expected finite numbers`, names[i]);
    }
  }
}

export interface EmbedState extends BatchState {
  chunks: ChunkRef[];
}

/** The rows an embedding shard covers: `rows` (sample indices) of `records`. */
export interface EmbedShard {
  records: RecRecord[];
  rows: Int32Array;
}

/**
 * Embeds the shard's rows batch by batch (resumable: one chunk artifact per batch, the
 * chunk list in the heartbeat state), then writes the shard as one
 * goracs.embeddings (or goracs.embeddings-projected) artifact in row order.
 */
export async function embedShard(policy: Policy, shard: EmbedShard, opts: EmbedOptions, io: ArtifactIO, parents: string[], hooks: LoopHooks<EmbedState> = {}): Promise<StageOutcome> {
  const { records, rows } = shard;
  const state: EmbedState = hooks.resume ?? { nextBatch: 0, batches: Math.ceil(rows.length / opts.batchSize), chunks: [] };
  const resumedFromBatch = state.nextBatch;
  const projector = opts.projection ? new GradientProjector(policy.head.vocab, policy.head.dModel, opts.projection.kA, opts.projection.kH, opts.projection.seed) : undefined;
  const batchesRun = await runBatches({ state, onProgress: hooks.onProgress, signal: hooks.signal }, async (b) => {
    const part = rows.subarray(b * opts.batchSize, Math.min(rows.length, (b + 1) * opts.batchSize));
    const recs = Array.from(part, (i) => records[i]);
    const out = await embedBatch(policy, embedItems(policy, recs), recs.map((r) => r.id), projector);
    state.chunks.push(chunkRef(await io.write(embeddingsTable(recs, part, out), projector ? GORACS_EMBEDDINGS_PROJECTED : GORACS_EMBEDDINGS, parents)));
  });
  const tables: Table[] = [];
  for (const c of state.chunks) tables.push(await io.read(c));
  const all = concatEmbeddings(tables);
  const output = await io.write(embeddingsTableFrom(all), projector ? GORACS_EMBEDDINGS_PROJECTED : GORACS_EMBEDDINGS, parents);
  return { output, resumedFromBatch, batchesRun, batches: state.batches };
}

/** Embeddings read back: rows in artifact order. */
export interface Embeddings {
  index: Int32Array;
  id: string[];
  split: string[];
  label: Int32Array;
  e: Float32Array;
  d: number;
  g: Float64Array;
  pg?: Float32Array;
  k?: number;
}

function embeddingsTable(recs: RecRecord[], rows: Int32Array, out: EmbeddedBatch): Table {
  return embeddingsTableFrom({
    index: rows.slice(),
    id: recs.map((r) => r.id),
    split: recs.map((r) => r.split),
    label: Int32Array.from(recs, (r) => r.label ?? -1),
    e: out.e,
    d: out.d,
    g: out.g,
    pg: out.pg,
    k: out.pg ? out.pg.length / Math.max(1, recs.length) : undefined,
  });
}

function embeddingsTableFrom(x: Embeddings): Table {
  const cols: Record<string, import('../store/columns').ColumnValues> = {
    index: x.index,
    id: x.id,
    split: x.split,
    label: x.label,
    e: vectorColumn(x.e, x.d),
    g: x.g,
  };
  if (x.pg && x.k) cols.pg = vectorColumn(x.pg, x.k);
  return tableFromColumns(cols);
}

export function readEmbeddings(t: Table): Embeddings {
  const e = readVectors(t, 'e');
  const hasPg = t.schema.fields.some((f) => f.name === 'pg');
  const pg = hasPg ? readVectors(t, 'pg') : undefined;
  const str = (name: string) => {
    const c = t.getChild(name)!;
    const out: string[] = new Array(t.numRows);
    for (let i = 0; i < t.numRows; i++) out[i] = c.get(i);
    return out;
  };
  return {
    index: Int32Array.from(readNumbers(t, 'index')),
    id: str('id'),
    split: str('split'),
    label: Int32Array.from(readNumbers(t, 'label')),
    e: e.data.slice(),
    d: e.dim,
    g: Float64Array.from(readNumbers(t, 'g')),
    pg: pg?.data.slice(),
    k: pg?.dim,
  };
}

/** Row-wise concatenation of embedding tables (shards or chunks, in order). */
export function concatEmbeddings(tables: Table[]): Embeddings {
  const parts = tables.map(readEmbeddings);
  if (!parts.length) throw new DlabInputError('gradient embedding: no embedding tables to join');
  const { d, k } = parts[0];
  for (const p of parts) {
    if (p.d !== d || p.k !== k) throw new DlabInputError(`gradient embedding: shards disagree on widths (e: ${p.d} vs ${d}, pg: ${p.k} vs ${k})`);
  }
  const n = parts.reduce((s, p) => s + p.index.length, 0);
  const out: Embeddings = {
    index: new Int32Array(n),
    id: [],
    split: [],
    label: new Int32Array(n),
    e: new Float32Array(n * d),
    d,
    g: new Float64Array(n),
    pg: k ? new Float32Array(n * k) : undefined,
    k,
  };
  let at = 0;
  for (const p of parts) {
    out.index.set(p.index, at);
    out.label.set(p.label, at);
    out.g.set(p.g, at);
    out.e.set(p.e, at * d);
    if (out.pg && p.pg && k) out.pg.set(p.pg, at * k);
    out.id.push(...p.id);
    out.split.push(...p.split);
    at += p.index.length;
  }
  return out;
}

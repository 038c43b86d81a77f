import type { Table } from 'apache-arrow';
import type { RecRecord } from '../data/rec-records';
import { tableFromColumns } from '../store/columns';
import { auc, rankMetrics, sampleNegatives } from '../data/rec-metrics';
import { renderItem } from '../data/rec-prompt';
import { DlabInputError } from '../errors';
import { Head, headLogits } from '../model/head';
import type { Policy } from '../model/policy';
import { Rng } from '../rng';
import { DEFAULT_ADAMW } from '../rl/adamw';
import { tokenLogProbs } from '../rl/loss';
import { freshCheckpoint } from '../train/checkpoint';
import { collectTokens, trainStep } from '../train/head-trainer';

/**
 * GORACS evaluation (docs/goracs.md, "Stage 4 — evaluation"): fine-tune the head on a subset of the
 * pool with the shared trainer ('sft': −mean log π(y_t) over the target tokens), keep the
 * head with the lowest validation loss (early stopping), then rank each test case's true
 * next item among `negatives` sampled items by log π(item text | prompt), summed over the
 * item's tokens (encoded together with the prompt) ⇒ HR@5/10, NDCG@5/10 averaged over test
 * cases. When every candidate is one token after its prompt, that log-prob is ranked by the
 * token's logit at the prompt's last position (the softmax normaliser is shared): one row per
 * test case instead of one per candidate token. Binary
 * (CTR-style) tasks instead score each test row by s = log π(yes | prompt) − log π(no | prompt)
 * (whole target texts) ⇒ AUC against its 0/1 label.
 * Baselines at the same budget n (selectSubset): random, top-g, greedy, full.
 */

export interface FineTuneConfig {
  epochs: number;
  patience: number;
  lr: number;
  weightDecay: number;
  batchSize: number;
}

/** Tokens of a split: h_t [N, d] predicting y_t [N]; sample s owns rows offsets[s] .. offsets[s+1]−1. */
interface SplitTokens {
  hidden: Float32Array;
  targets: Int32Array;
  offsets: Int32Array;
}

/** Everything evaluation needs from the frozen backbone, computed once per run and worker. */
export interface EvalData {
  d: number;
  pool: SplitTokens;
  val: SplitTokens;
  /** test: h at the last prompt position [Nt, d] */
  testHidden: Float32Array;
  /** [Nt, 1 + negatives]: column 0 the true item's token, then the negatives' tokens (single-token items) */
  candidates: Int32Array;
  /** multi-token items: each (test case i, candidate c) pair teacher-forced on the item's text, pair i·(1 + negatives) + c (then testHidden and candidates are empty) */
  candidateTokens?: SplitTokens;
  negatives: number;
  /** binary task: the test rows teacher-forced on the yes and on the no text, and their labels (then testHidden and candidates are empty) */
  binary?: { yes: SplitTokens; no: SplitTokens; labels: Uint8Array };
}

/**
 * The candidates next-item evaluation ranks: the synthetic data's items `<item_i>` in order, else
 * every distinct target of the data, sorted.
 */
export function evaluationItems(data: { type: string; items?: number }, records: RecRecord[]): string[] {
  return data.type === 'synthetic' ? Array.from({ length: data.items ?? 0 }, (_, i) => renderItem(i)) : [...new Set(records.map((r) => r.target))].sort();
}

/** What the test split is scored by: ranking of the next item, or AUC of yes-vs-no. */
export type EvalTask = { kind: 'next-item' } | { kind: 'binary'; yes: string; no: string };

const NEGATIVES_STREAM = 0x6e656773; // "negs"
const SHUFFLE_STREAM = 0x73687566; // "shuf"
const RANDOM_STREAM = 0x72616e64; // "rand"

/**
 * Hidden states of pool, validation and test samples and the test candidates.
 *   records, rows of each split; items = candidate target strings;
 *   negatives per test case drawn from Rng(negSeed, NEGATIVES_STREAM) in test order, so
 *   every method and seed is ranked on the same candidates.
 * Throws DlabInputError for a test target that is not among the items, or an item that adds no
 * token after a test prompt.
 */
export async function evalData(
  policy: Policy,
  records: RecRecord[],
  split: { pool: Int32Array; validation: Int32Array; test: Int32Array },
  items: string[],
  negatives: number,
  negSeed: number,
  batchSize: number,
  task: EvalTask = { kind: 'next-item' },
): Promise<EvalData> {
  if (!split.test.length) throw new DlabInputError('GORACS evaluation: no sample has split "test"', 'split');
  if (task.kind === 'binary') return binaryEvalData(policy, records, split, task, batchSize);
  if (negatives > items.length - 1) throw new DlabInputError(`GORACS evaluation: ${negatives} negatives requested, but only ${items.length - 1} other items exist`, 'evaluation.negatives');
  const itemIndex = new Map(items.map((s, i) => [s, i]));
  const Nt = split.test.length;
  const width = 1 + negatives;
  // candidate c of test case i: item candidateItem[i·width + c] (column 0 the true one)
  const candidateItem = new Int32Array(Nt * width);
  const rng = new Rng(negSeed, NEGATIVES_STREAM);
  for (let i = 0; i < Nt; i++) {
    const rec = records[split.test[i]];
    const truth = itemIndex.get(rec.target);
    if (truth === undefined) throw new DlabInputError(`GORACS evaluation: test sample ${rec.id} has target ${JSON.stringify(rec.target)}, expected one of the ${items.length} items`, rec.id);
    candidateItem[i * width] = truth;
    const neg = sampleNegatives(truth, items.length, negatives, rng);
    for (let k = 0; k < negatives; k++) candidateItem[i * width + 1 + k] = neg[k];
  }
  const pairs = Array.from(candidateItem, (item, p) => {
    const rec = records[split.test[Math.floor(p / width)]];
    const c = policy.encodeContinuation(rec.prompt, items[item]);
    if (!c.target.length) throw new DlabInputError(`GORACS evaluation: item ${JSON.stringify(items[item])} adds no token after the prompt of test sample ${rec.id}`, rec.id);
    return c;
  });
  const pool = await splitTokens(policy, records, split.pool, batchSize);
  const val = await splitTokens(policy, records, split.validation, batchSize);
  const base = { d: policy.head.dModel, pool, val, negatives };
  // one token after the same context for every candidate of a case: rank by that token's logit
  const single = pairs.every((c, p) => c.target.length === 1 && sameIds(c.context, pairs[p - (p % width)].context));
  if (single) {
    const test = await splitTokens(policy, records, split.test, batchSize);
    const testHidden = new Float32Array(Nt * base.d);
    // the test row on its own target (the true item, candidate 0): its first row is the prompt's last position
    for (let i = 0; i < Nt; i++) {
      testHidden.set(test.hidden.subarray(test.offsets[i] * base.d, (test.offsets[i] + 1) * base.d), i * base.d);
    }
    return { ...base, testHidden, candidates: Int32Array.from(pairs, (c) => c.target[0]) };
  }
  const t = await collectTokens(policy, pairs, batchSize);
  const offsets = new Int32Array(pairs.length + 1);
  pairs.forEach((c, p) => (offsets[p + 1] = offsets[p] + c.target.length));
  return { ...base, testHidden: new Float32Array(0), candidates: new Int32Array(0), candidateTokens: { hidden: t.hidden, targets: t.targets, offsets } };
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

/** Split tokens of `rows` teacher-forced on their own targets, or on `target` for every row. */
async function splitTokens(policy: Policy, records: RecRecord[], rows: Int32Array, batchSize: number, target?: string): Promise<SplitTokens> {
  const its = Array.from(rows, (r) => policy.encodeContinuation(records[r].prompt, target ?? records[r].target));
  const t = await collectTokens(policy, its, batchSize);
  const offsets = new Int32Array(its.length + 1);
  its.forEach((it, s) => (offsets[s + 1] = offsets[s] + it.target.length));
  return { hidden: t.hidden, targets: t.targets, offsets };
}

/**
 * The 0/1 labels of the binary task's test rows. Throws DlabInputError (checked when the run
 * prepares its data, not hours later) for a row without a 0/1 label, a target that is not the
 * label's text, or a test split with only one class (AUC undefined).
 */
export function binaryTestLabels(records: RecRecord[], testRows: Int32Array, task: { yes: string; no: string }): Uint8Array {
  if (!testRows.length) throw new DlabInputError('GORACS binary evaluation: no sample has split "test"', 'split');
  const labels = Uint8Array.from(testRows, (r) => {
    const rec = records[r];
    if (rec.label !== 0 && rec.label !== 1) throw new DlabInputError(`GORACS binary evaluation: test sample ${rec.id} has no 0/1 label`, rec.id);
    if (rec.target !== (rec.label === 1 ? task.yes : task.no)) {
      throw new DlabInputError(`GORACS binary evaluation: test sample ${rec.id} has label ${rec.label} and target ${JSON.stringify(rec.target)}, expected ${JSON.stringify(rec.label === 1 ? task.yes : task.no)} (evaluation.binaryTargets)`, rec.id);
    }
    return rec.label;
  });
  const positives = labels.reduce((n, l) => n + l, 0);
  if (positives === 0 || positives === labels.length) {
    throw new DlabInputError(`GORACS binary evaluation: AUC needs test samples of both labels, found ${positives} positives of ${labels.length}`, 'split');
  }
  return labels;
}

/**
 * Binary task: pool and validation on their own targets (the yes/no texts, for fine-tuning and
 * early stopping), the test rows on both texts. Throws DlabInputError for a test row without a
 * 0/1 label, a target that is neither text, or a test split with only one class.
 */
async function binaryEvalData(
  policy: Policy,
  records: RecRecord[],
  split: { pool: Int32Array; validation: Int32Array; test: Int32Array },
  task: { yes: string; no: string },
  batchSize: number,
): Promise<EvalData> {
  const labels = binaryTestLabels(records, split.test, task);
  return {
    d: policy.head.dModel,
    pool: await splitTokens(policy, records, split.pool, batchSize),
    val: await splitTokens(policy, records, split.validation, batchSize),
    testHidden: new Float32Array(0),
    candidates: new Int32Array(0),
    negatives: 0,
    binary: { yes: await splitTokens(policy, records, split.test, batchSize, task.yes), no: await splitTokens(policy, records, split.test, batchSize, task.no), labels },
  };
}

export type SubsetMethod = 'goracs' | 'random' | 'top-g' | 'greedy' | 'full';

/**
 * Pool rows a method trains on, at budget n:
 *   goracs / greedy — the refined / greedy selection as given;
 *   random — n rows of a seeded shuffle (Rng(seed, RANDOM_STREAM));
 *   top-g — the n rows with the largest gradient norm g (ties → lower row);
 *   full — every pool row.
 */
export function selectSubset(method: SubsetMethod, n: number, nPool: number, g: Float64Array, seed: number, sel: { goracs: Int32Array; greedy: Int32Array }): Int32Array {
  if (method === 'goracs') return sel.goracs;
  if (method === 'greedy') return sel.greedy;
  if (method === 'full') return Int32Array.from({ length: nPool }, (_, i) => i);
  if (n > nPool) throw new DlabInputError(`GORACS evaluation: budget n = ${n} exceeds the pool size ${nPool}`, 'budget');
  const order = Int32Array.from({ length: nPool }, (_, i) => i);
  if (method === 'random') {
    new Rng(seed, RANDOM_STREAM).shuffle(order);
    return order.slice(0, n);
  }
  if (g.length !== nPool) throw new DlabInputError(`GORACS evaluation: ${g.length} gradient norms for ${nPool} pool rows`);
  const sorted = Array.from(order).sort((a, b) => g[b] - g[a] || a - b);
  return Int32Array.from(sorted.slice(0, n));
}

/** One method's result for one fine-tuning seed at the run's budget. */
export interface EvalSummary extends EvalStats {
  method: string;
  seed: number;
  budget: number;
}

/** The metrics the evaluation table may carry, in column order. */
export const EVAL_METRICS = ['hr5', 'hr10', 'ndcg5', 'ndcg10', 'auc', 'valLoss'] as const;

/**
 * The evaluation artifact: one row per (method, seed, metric) with its value — the task's
 * metrics only (next-item rows have no AUC, binary rows no HR/NDCG), in the order of `results`.
 */
export function evaluationTable(results: EvalSummary[]): Table {
  const rows = results.flatMap((r) => EVAL_METRICS.flatMap((m) => (typeof r[m] === 'number' ? [{ method: r.method, budget: r.budget, metric: m, value: r[m] as number, seed: r.seed }] : [])));
  return tableFromColumns({
    method: rows.map((r) => r.method),
    budget: Int32Array.from(rows, (r) => r.budget),
    metric: rows.map((r) => r.metric),
    value: Float64Array.from(rows, (r) => r.value),
    seed: Int32Array.from(rows, (r) => r.seed),
  });
}

export interface EvalStats {
  /** next-item task only */
  hr5?: number;
  hr10?: number;
  ndcg5?: number;
  ndcg10?: number;
  /** binary task only */
  auc?: number;
  /** validation loss of the kept head, and of the head before fine-tuning */
  valLoss: number;
  valLossInitial: number;
  bestEpoch: number;
  epochsRun: number;
  steps: number;
  trainSamples: number;
}

/** Fine-tunes a copy of `head` on pool rows `subset`, early-stopped on validation loss; ranks the test set. */
export async function fineTuneAndRank(head: Head, data: EvalData, subset: Int32Array, cfg: FineTuneConfig, seed: number): Promise<EvalStats> {
  if (!subset.length) throw new DlabInputError('GORACS evaluation: empty training subset', 'budget');
  const ckpt = freshCheckpoint(head);
  const adamw = { ...DEFAULT_ADAMW, lr: cfg.lr, weightDecay: cfg.weightDecay };
  const valLossInitial = await meanNll(ckpt.head, data.val);
  let best = { loss: valLossInitial, W: ckpt.head.W.slice(), b: ckpt.head.b.slice(), epoch: 0 };
  let steps = 0;
  let epoch = 0;
  const order = Int32Array.from(subset);
  while (epoch < cfg.epochs && epoch - best.epoch < cfg.patience) {
    epoch++;
    new Rng(seed, SHUFFLE_STREAM + epoch).shuffle(order);
    for (let s = 0; s < order.length; s += cfg.batchSize) {
      await trainStep(ckpt, gatherTokens(data.pool, order.subarray(s, s + cfg.batchSize), data.d), { kind: 'sft' }, adamw);
      steps++;
    }
    const loss = await meanNll(ckpt.head, data.val);
    if (!Number.isFinite(loss)) throw new Error(`GORACS evaluation: validation loss is ${loss} after epoch ${epoch} (lr ${cfg.lr} too high?)`);
    if (loss < best.loss) best = { loss, W: ckpt.head.W.slice(), b: ckpt.head.b.slice(), epoch };
  }
  const kept: Head = { ...ckpt.head, W: best.W, b: best.b };
  const test = data.binary ? { auc: await binaryAuc(kept, data.binary) } : await rankTest(kept, data);
  return { ...test, valLoss: best.loss, valLossInitial, bestEpoch: best.epoch, epochsRun: epoch, steps, trainSamples: subset.length };
}

/** HR@5/10 and NDCG@5/10 of `head` on the test candidates, averaged over test cases. */
export async function rankTest(head: Head, data: EvalData): Promise<{ hr5: number; hr10: number; ndcg5: number; ndcg10: number }> {
  if (data.candidateTokens) return rankBySequences(head, data.candidateTokens, 1 + data.negatives);
  const Nt = data.testHidden.length / data.d;
  const logits = await headLogits(head, data.testHidden, Nt);
  const V = head.vocab;
  const width = 1 + data.negatives;
  const scores = new Float64Array(width);
  let hr5 = 0, hr10 = 0, ndcg5 = 0, ndcg10 = 0;
  for (let i = 0; i < Nt; i++) {
    for (let c = 0; c < width; c++) scores[c] = logits[i * V + data.candidates[i * width + c]];
    const m = rankMetrics(scores, [5, 10]);
    hr5 += m.hr[5];
    hr10 += m.hr[10];
    ndcg5 += m.ndcg[5];
    ndcg10 += m.ndcg[10];
  }
  return { hr5: hr5 / Nt, hr10: hr10 / Nt, ndcg5: ndcg5 / Nt, ndcg10: ndcg10 / Nt };
}

/** HR/NDCG with candidate c of case i scored by Σ log π over its pair's tokens (pair i·width + c). */
async function rankBySequences(head: Head, t: SplitTokens, width: number): Promise<{ hr5: number; hr10: number; ndcg5: number; ndcg10: number }> {
  const seq = await sequenceLogProbs(head, t);
  const Nt = seq.length / width;
  let hr5 = 0, hr10 = 0, ndcg5 = 0, ndcg10 = 0;
  for (let i = 0; i < Nt; i++) {
    const m = rankMetrics(seq.subarray(i * width, (i + 1) * width), [5, 10]);
    hr5 += m.hr[5];
    hr10 += m.hr[10];
    ndcg5 += m.ndcg[5];
    ndcg10 += m.ndcg[10];
  }
  return { hr5: hr5 / Nt, hr10: hr10 / Nt, ndcg5: ndcg5 / Nt, ndcg10: ndcg10 / Nt };
}

/** Σ_t log π(y_t) over each sequence of `t` (sequence s: rows offsets[s] … offsets[s+1]−1). */
async function sequenceLogProbs(head: Head, t: SplitTokens): Promise<Float64Array> {
  const lp = tokenLogProbs(await headLogits(head, t.hidden, t.targets.length), t.targets, head.vocab);
  const out = new Float64Array(t.offsets.length - 1);
  for (let i = 0; i < out.length; i++) for (let k = t.offsets[i]; k < t.offsets[i + 1]; k++) out[i] += lp[k];
  return out;
}

/** AUC of s_i = log π(yes | prompt_i) − log π(no | prompt_i) (sums over each text's tokens) against the labels. */
export async function binaryAuc(head: Head, b: NonNullable<EvalData['binary']>): Promise<number> {
  const yes = await sequenceLogProbs(head, b.yes);
  const no = await sequenceLogProbs(head, b.no);
  return auc(Float64Array.from(yes, (y, i) => y - no[i]), b.labels);
}

/** −(1/N) Σ_t log π(y_t) over a split's tokens. */
async function meanNll(head: Head, t: SplitTokens): Promise<number> {
  const N = t.targets.length;
  const lp = tokenLogProbs(await headLogits(head, t.hidden, N), t.targets, head.vocab);
  let s = 0;
  for (let i = 0; i < N; i++) s -= lp[i];
  return s / N;
}

/** The token rows of samples `rows` of a split. */
function gatherTokens(t: SplitTokens, rows: Int32Array, d: number): { hidden: Float32Array; targets: Int32Array } {
  let n = 0;
  for (const r of rows) n += t.offsets[r + 1] - t.offsets[r];
  const hidden = new Float32Array(n * d);
  const targets = new Int32Array(n);
  let at = 0;
  for (const r of rows) {
    for (let k = t.offsets[r]; k < t.offsets[r + 1]; k++, at++) {
      hidden.set(t.hidden.subarray(k * d, (k + 1) * d), at * d);
      targets[at] = t.targets[k];
    }
  }
  return { hidden, targets };
}

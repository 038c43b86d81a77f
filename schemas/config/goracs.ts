import { z } from 'zod';
import { DEFAULT_REC_SYNTH, MAX_HISTORY } from '../../lib/data/rec-synth';
import { DUAL_SCORE_RANKS, type DualScoreRank } from '../../lib/goracs/scores';
import { ModelSource } from './model';

/**
 * `dlab run goracs`: GORACS coreset selection as docs/goracs.md defines it —
 * gradient embedding → OT initialisation (cost matrix, greedy start) → refinement by
 * swaps → optional evaluation (fine-tune the head on the coreset and on baselines of the
 * same budget, rank the next item among sampled negatives). Names follow that page.
 */
const d = DEFAULT_REC_SYNTH;
const unit = () => z.number().min(0).max(1);

const Data = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('synthetic'),
      items: z.number().int().min(2).default(d.items),
      clusters: z.number().int().min(1).default(d.clusters),
      poolUsers: z.number().int().min(1).default(d.poolUsers).describe('pool samples n_T'),
      valUsers: z.number().int().min(1).default(d.valUsers).describe('validation samples |V|'),
      testUsers: z.number().int().min(0).default(d.testUsers),
      historyLength: z.number().int().min(1).max(MAX_HISTORY).default(d.historyLength),
      noisyFraction: unit().default(d.noisyFraction),
      duplicateFraction: unit().default(d.duplicateFraction),
      shift: unit().default(d.shift),
      shiftedPoolFraction: unit().default(d.shiftedPoolFraction),
      seed: z.number().int().default(d.seed).describe('data seed: the same data for every run seed'),
    })
    .strict(),
  z.object({ type: z.literal('jsonl'), path: z.string().min(1).describe('JSONL {id, prompt, target, label?, split}') }).strict(),
  z.object({ type: z.literal('arrow'), path: z.string().min(1).describe('Arrow IPC with columns id, prompt, target, split, label?') }).strict(),
]);

export const GORACS_METHODS = ['goracs', 'random', 'top-g', 'greedy', 'full'] as const;
export type GoracsMethod = (typeof GORACS_METHODS)[number];

const Evaluation = z
  .object({
    enabled: z.boolean().default(true),
    methods: z.array(z.enum(GORACS_METHODS)).min(1).refine((a) => new Set(a).size === a.length, { message: 'each entry once (a repeat would do the same work twice)' }).default([...GORACS_METHODS]),
    seeds: z.array(z.number().int().min(0)).min(1).refine((a) => new Set(a).size === a.length, { message: 'each entry once (a repeat would do the same work twice)' }).default([0]),
    epochs: z.number().int().positive().default(20).describe('max passes over the subset (early stopping on validation loss)'),
    patience: z.number().int().positive().default(3).describe('epochs without a better validation loss before stopping'),
    lr: z.number().positive().default(0.01),
    weightDecay: z.number().min(0).default(0),
    batchSize: z.number().int().positive().default(32).describe('samples per optimiser step'),
    negatives: z.number().int().positive().default(99).describe('sampled negatives per test case'),
    task: z
      .enum(['next-item', 'binary'])
      .default('next-item')
      .describe('next-item: rank the true next item among sampled negatives (HR@5/10, NDCG@5/10); binary: CTR-style yes/no targets with 0/1 labels on the test rows, scored by AUC'),
    binaryTargets: z
      .tuple([z.string().min(1), z.string().min(1)])
      .default(['Yes', 'No'])
      .describe('binary task: the target texts of label 1 and label 0; a test row scores log π(yes | prompt) − log π(no | prompt)'),
  })
  .strict();

/** Refinement activities one run may schedule at worst (its history must stay well below Temporal's 50 000 events). */
export const MAX_REFINE_ACTIVITIES = 8000;

export const GoracsConfig = z
  .object({
    kind: z.literal('goracs').optional(),
    seed: z.number().int().min(0).describe('projection matrices and tie-free reproducibility; evaluation has its own seeds'),
    budget: z.number().int().positive().describe('n = |S|'),
    lambda: z.number().min(0).default(0.1).describe('λ, weight of the gradient-norm term of the cost'),
    maxIters: z.number().int().min(0).default(100).describe('accepted swaps at most'),
    cutNum: z.number().int().positive().default(30).describe('candidates per side: cutNum² swaps tried per iteration'),
    variant: z
      .enum(['itra', 'label-enhanced'])
      .default('itra')
      .describe('itra: one selection against all of V; label-enhanced [LabelEnhancedITRA]: binary labels, positives and negatives selected separately, budget split by the validation positive rate'),
    dualScore: z
      .enum(DUAL_SCORE_RANKS)
      .optional()
      // the default is dropped, so that a config without the field, or with the default, hashes
      // as configs did before the field existed
      .transform((v) => (v === 'rth-largest' ? undefined : v))
      .describe(
        'the dual value ŷ_i of the refinement scores F (docs/goracs.md, stage 3): "rth-largest" (default, the reference code\'s topk(largest=True)) or "rth-smallest" (the maximiser of the row-added dual objective)',
      ),
    cost: z.enum(['reference', 'gradient']).default('reference').describe('distances between representations e (reference) or projected gradients'),
    projection: z
      .object({ kA: z.number().int().positive(), kH: z.number().int().positive() })
      .strict()
      .optional()
      .describe('JL projection of vec(G) to kA·kH dims (required for cost "gradient")'),
    model: ModelSource,
    data: Data,
    evaluation: Evaluation.prefault({}),
    embedShards: z.number().int().positive().default(2).describe('gradient-embedding activities (fan-out over workers)'),
    batchSize: z.number().int().positive().default(32).describe('samples per backbone pass in the embedding'),
    swapChunk: z.number().int().positive().default(64).describe('candidate swaps per refinement activity (the workflow fans an iteration out in chunks; the accepted swap does not depend on it)'),
    swapConcurrency: z.number().int().positive().default(2).describe('refinement chunk activities in flight at once (over the workers polling the queue)'),
    heartbeatTimeoutSeconds: z.number().min(1).max(3600).default(30).describe('a worker silent this long is presumed dead (≥ 1 s: heartbeats are sent once a second)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.variant === 'label-enhanced' && c.data.type === 'synthetic') {
      ctx.addIssue({ code: 'custom', path: ['variant'], message: 'variant "label-enhanced" needs binary labels: use JSONL or Arrow data with a label on every pool and validation sample' });
    }
    // refinement runs in one workflow history: at worst every iteration tries all cutNum² swaps,
    // ⌈cutNum²/swapChunk⌉ activities each (≈ 4–5 history events per activity; Temporal stops at 50 000)
    const worstActivities = c.maxIters * Math.ceil((c.cutNum * c.cutNum) / c.swapChunk);
    if (c.variant === 'itra' && worstActivities > MAX_REFINE_ACTIVITIES) {
      ctx.addIssue({
        code: 'custom',
        path: ['swapChunk'],
        message: `maxIters · ⌈cutNum²/swapChunk⌉ = ${worstActivities} refinement activities at worst, more than the ${MAX_REFINE_ACTIVITIES} one workflow history holds: raise swapChunk (or lower maxIters / cutNum)`,
      });
    }
    if (c.cost === 'gradient' && !c.projection) {
      ctx.addIssue({ code: 'custom', path: ['projection'], message: 'cost "gradient" needs a projection {kA, kH}' });
    }
    if (c.data.type === 'synthetic') {
      if (c.budget > c.data.poolUsers) {
        ctx.addIssue({ code: 'custom', path: ['budget'], message: `budget n = ${c.budget} exceeds the pool size data.poolUsers = ${c.data.poolUsers}` });
      }
      if (c.budget > c.data.valUsers) {
        ctx.addIssue({
          code: 'custom',
          path: ['budget'],
          message: `budget n = ${c.budget} exceeds the validation size data.valUsers = ${c.data.valUsers} (the greedy start gives at most |V| rows positive weight)`,
        });
      }
      if (c.data.clusters > c.data.items) ctx.addIssue({ code: 'custom', path: ['data', 'clusters'], message: `must be ≤ data.items = ${c.data.items}` });
      if (c.data.noisyFraction + c.data.duplicateFraction > 1) {
        ctx.addIssue({ code: 'custom', path: ['data', 'noisyFraction'], message: 'noisyFraction + duplicateFraction must be ≤ 1' });
      }
      if (c.evaluation.enabled && c.evaluation.task === 'binary') {
        ctx.addIssue({ code: 'custom', path: ['evaluation', 'task'], message: 'the synthetic data is next-item only: "binary" needs JSONL or Arrow data with yes/no targets and 0/1 labels' });
      }
      if (c.evaluation.enabled && c.data.testUsers < 1) {
        ctx.addIssue({ code: 'custom', path: ['data', 'testUsers'], message: 'evaluation needs test users (or set evaluation.enabled = false)' });
      }
      if (c.evaluation.enabled && c.evaluation.negatives > c.data.items - 1) {
        ctx.addIssue({ code: 'custom', path: ['evaluation', 'negatives'], message: `at most data.items − 1 = ${c.data.items - 1} negatives exist` });
      }
      if ('build' in c.model) {
        const items = c.model.build.tokenizer.items ?? 0;
        if (items < c.data.items) {
          ctx.addIssue({
            code: 'custom',
            path: ['model', 'build', 'tokenizer', 'items'],
            message: `the built-in tokenizer needs an <item_i> token per item: set it to ≥ data.items = ${c.data.items}`,
          });
        }
        if (c.model.build.vocab < 100 + items) {
          ctx.addIssue({ code: 'custom', path: ['model', 'build', 'vocab'], message: `must cover the built-in tokenizer: 100 base tokens + ${items} items = ${100 + items}` });
        }
        if (c.model.build.maxPos < c.data.historyLength + 2) {
          ctx.addIssue({ code: 'custom', path: ['model', 'build', 'maxPos'], message: `must hold bos + history + target = ${c.data.historyLength + 2} tokens` });
        }
      }
    }
  });

export type GoracsConfig = z.infer<typeof GoracsConfig>;

/** The config's dual-score rank: absent means the reference's, "rth-largest". */
export function dualScoreOf(cfg: Pick<GoracsConfig, 'dualScore'>): DualScoreRank {
  return cfg.dualScore ?? 'rth-largest';
}

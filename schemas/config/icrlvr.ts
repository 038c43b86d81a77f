import { z } from 'zod';
import { ModelSource } from './model';

/**
 * `dlab run icrlvr`: In-Context RLVR (and the RLVR baseline) as docs/icrlvr.md
 * defines it. Names follow that page. One run = one mode and one seed; a sweep lists several.
 */
const Task = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('arithmetic'),
      op: z.literal('add').default('add'),
      dataSeed: z.number().int().min(0).default(0).describe('questions and demos; shared by every run seed so a sweep compares on the same data'),
      digits: z.number().int().min(1).max(12),
      minDigits: z.number().int().min(1).optional(),
      trainQuestions: z.number().int().positive(),
      heldOutQuestions: z.number().int().positive(),
      demoPool: z.number().int().positive(),
    })
    .strict(),
  z
    .object({
      type: z.literal('jsonl'),
      questions: z.string().min(1).describe('JSONL {id, question, answer, solution?} for training'),
      heldOut: z.string().min(1).describe('JSONL {id, question, answer} for evaluation'),
      demos: z.string().min(1).describe('JSONL {id, question, solution}: the demonstration pool'),
    })
    .strict(),
]);

export const ICRLVR_MODES = ['rlvr', 'icrlvr', 'eg-weighted'] as const;

/**
 * Default `pretrain.checkpointEvery`. On the example model (examples/icrlvr/small.json, 116k
 * parameters) a step takes 0.2–0.5 s on a 2-core VM and a checkpoint (1.4 MB) ~0.1 s: every 50
 * steps costs < 1 % of pretraining, a killed worker loses at most ~10–25 s, and 600 steps leave
 * 11 checkpoints (~15 MB) in the store. By steps, not time, so the checkpoints are the same
 * artifacts on every run.
 */
export const PRETRAIN_CHECKPOINT_EVERY = 50;

export const IcrlvrConfig = z
  .object({
    kind: z.literal('icrlvr').optional(),
    mode: z.enum(ICRLVR_MODES),
    seed: z.number().int().min(0),
    model: ModelSource,
    task: Task,
    /** 'compact' (short, for char-level toy models) or 'spec' (the paper's wording) */
    template: z.enum(['compact', 'spec']).default('compact'),
    steps: z.number().int().positive().max(1_000_000),
    questionsPerStep: z.number().int().positive(),
    groupSize: z.number().int().min(2).default(8),
    demosPerGroup: z.number().int().min(0).default(6),
    egDemos: z.number().int().positive().default(2),
    egBaseline: z.enum(['demo', 'question']).default('demo'),
    egClip: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo <= hi, { message: 'expected [low, high] with low ≤ high' }).default([-5, 5]),
    maxTokens: z.number().int().positive().default(48),
    temperature: z.number().positive().default(1),
    topP: z.number().positive().max(1).default(1),
    normalizeStd: z.boolean().default(true),
    dynamicSampling: z.boolean().default(true),
    maxSamplingRounds: z.number().int().positive().default(3),
    clipLow: z.number().min(0).default(0.2),
    clipHigh: z.number().min(0).default(0.28),
    dualClip: z.number().min(1).default(10),
    nllCoef: z.number().min(0).default(0.1),
    klCoef: z.number().min(0).default(0),
    lr: z.number().positive().default(1e-3),
    weightDecay: z.number().min(0).default(0.1),
    gradClip: z.number().min(0).default(1),
    warmupSteps: z.number().int().min(0).default(0),
    epochs: z.number().int().positive().default(1).describe('μ: optimiser passes per batch'),
    trainable: z
      .enum(['head', 'full'])
      .optional()
      // the default is dropped, so that a config without the field, or with the default, hashes
      // as configs did before the field existed
      .transform((v) => (v === 'head' ? undefined : v))
      .describe('what the update (and warm start) trains: "head" (default: the output head on the frozen backbone, any model) or "full" (every weight of a built model, through the TypeScript backward pass; the next rollouts run the updated backbone)'),
    pretrain: z
      .object({
        steps: z.number().int().positive().max(1_000_000),
        batchSize: z.number().int().positive().default(32),
        lr: z.number().positive().default(3e-3),
        weightDecay: z.number().min(0).default(0.01),
        seed: z.number().int().min(0).default(1),
        /** fraction of the training questions whose sums the corpus holds as plain facts (lib/icrlvr/pretrain.ts) */
        memorised: z.number().min(0).max(1).optional(),
        checkpointEvery: z
          .number()
          .int()
          .positive()
          .optional()
          .describe(`steps between pretraining checkpoints (weights + AdamW moments + sampler), from which a retried prepare resumes; default ${PRETRAIN_CHECKPOINT_EVERY}; changes no weight`),
      })
      .strict()
      .optional()
      .describe('pretrain the whole built model (backbone and head) on the column facts and the demonstration pool before anything else: a toy "pretrained LM" (lib/icrlvr/pretrain.ts)'),
    warmStart: z
      .object({ steps: z.number().int().positive(), batchSize: z.number().int().positive(), lr: z.number().positive() })
      .strict()
      .optional()
      .describe('supervised head-only cross-entropy on expert traces before RL'),
    evalEvery: z.number().int().positive().default(5),
    evalSamples: z.number().int().positive().default(4).describe('k samples per held-out question'),
    evalTemperature: z.number().min(0).default(0.6),
    evalTopP: z.number().positive().max(1).default(0.95),
    rolloutShards: z.number().int().positive().default(2).describe('rollout activities per step (more workers ⇒ faster steps)'),
    batchSize: z.number().int().positive().default(16).describe('sequences per generation batch'),
    continueAsNewEvery: z.number().int().positive().default(10),
    heartbeatTimeoutSeconds: z.number().min(1).max(3600).default(30).describe('a worker silent this long is presumed dead (≥ 1 s: heartbeats are sent once a second)'),
  })
  .strict()
  .refine((c) => c.demosPerGroup <= c.groupSize, { message: 'demosPerGroup must be ≤ groupSize', path: ['demosPerGroup'] })
  .refine((c) => c.trainable !== 'full' || 'build' in c.model, {
    message: 'trainable "full" needs a built model ("model": {"build": …}): only the project\'s own GPT has a backward pass; imported models train their head ("head")',
    path: ['trainable'],
  })
  .refine((c) => !c.pretrain || ('build' in c.model && c.task.type === 'arithmetic'), {
    message: 'pretrain needs a built model ("model": {"build": …}) and the arithmetic task (its corpus is the column facts and the demonstration pool)',
    path: ['pretrain'],
  });

export type IcrlvrConfig = z.infer<typeof IcrlvrConfig>;

import { z } from 'zod';

/** `dlab run smoke`: generate a seeded table → transform it batch by batch with an ONNX MLP → summarise. */
export const SmokeConfig = z
  .object({
    kind: z.literal('smoke').optional(),
    seed: z.number().int().min(0).describe('seed of every random draw'),
    rows: z.number().int().positive().max(50_000_000).describe('rows in the generated table'),
    dim: z.number().int().positive().default(16).describe('features per row (and MLP output size)'),
    hidden: z.number().int().positive().default(64).describe('MLP hidden units'),
    batchSize: z.number().int().positive().describe('rows per batch; each batch is one heartbeat'),
    rounds: z.number().int().positive().default(1).describe('how many times the transform is applied (y ← f(y))'),
    continueAsNewEvery: z.number().int().positive().default(50).describe('rounds per workflow run before continue-as-new'),
    heartbeatTimeoutSeconds: z.number().min(1).max(3600).default(10).describe('a worker silent this long is presumed dead (≥ 1 s: heartbeats are sent once a second)'),
  })
  .strict()
  .refine((c) => c.rows * c.dim <= 2 ** 28, { message: 'rows · dim must be at most 2^28 values (1 GiB of float32): the table is held in memory', path: ['rows'] });

export type SmokeConfig = z.infer<typeof SmokeConfig>;

import { z } from 'zod';

/** `dlab run smoke`: generate a seeded table → transform it batch by batch with an ONNX MLP → summarise. */
export const SmokeConfig = z
  .object({
    kind: z.literal('smoke').optional(),
    seed: z.number().int().min(0).describe('seed of every random draw'),
    rows: z.number().int().positive().describe('rows in the generated table'),
    dim: z.number().int().positive().default(16).describe('features per row (and MLP output size)'),
    hidden: z.number().int().positive().default(64).describe('MLP hidden units'),
    batchSize: z.number().int().positive().describe('rows per batch; each batch is one heartbeat'),
    rounds: z.number().int().positive().default(1).describe('how many times the transform is applied (y ← f(y))'),
    continueAsNewEvery: z.number().int().positive().default(50).describe('rounds per workflow run before continue-as-new'),
    heartbeatTimeoutSeconds: z.number().positive().default(10).describe('a worker silent this long is presumed dead'),
  })
  .strict();

export type SmokeConfig = z.infer<typeof SmokeConfig>;

import { z } from 'zod';

/** `dlab model build --config F`: a GPT decoder and the built-in tokenizer. */
export const ModelBuildConfig = z
  .object({
    vocab: z.number().int().positive(),
    dModel: z.number().int().positive(),
    nLayer: z.number().int().positive(),
    nHead: z.number().int().positive(),
    dFf: z.number().int().positive(),
    maxPos: z.number().int().positive(),
    seed: z.number().int().min(0),
    tied: z.boolean().default(true),
    headBias: z.boolean().default(false),
    tokenizer: z
      .object({ items: z.number().int().min(0).optional(), extraSpecials: z.array(z.string()).optional() })
      .strict()
      .default({}),
  })
  .strict()
  .refine((c) => c.dModel % c.nHead === 0, { message: 'dModel must be divisible by nHead', path: ['nHead'] });

export type ModelBuildConfig = z.infer<typeof ModelBuildConfig>;

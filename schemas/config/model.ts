import { z } from 'zod';

/**
 * The built-in tokenizer's options; `BuiltinTokenizerConfig` (lib/model/tokenizers/builtin.ts)
 * is this schema's input type.
 */
export const BuiltinTokenizerConfig = z
  .object({
    /** number of recommendation item tokens `<item_0>` … `<item_{items-1}>` (default 0) */
    items: z.number().int().min(0).optional(),
    /** further named specials such as `<sep>`, appended after the items */
    extraSpecials: z.array(z.string()).optional(),
  })
  .strict();

/**
 * `dlab model build --config F`: a GPT decoder and the built-in tokenizer. `GptConfig`
 * (lib/model/gpt.ts) is this schema's input type without `tokenizer`; `BuildConfig`
 * (lib/model/model-dir.ts) its whole input type.
 */
export const ModelBuildConfig = z
  .object({
    vocab: z.number().int().positive(),
    dModel: z.number().int().positive(),
    nLayer: z.number().int().positive(),
    nHead: z.number().int().positive(),
    dFf: z.number().int().positive(),
    maxPos: z.number().int().positive().max(65_536),
    seed: z.number().int().min(0),
    /** output head shares the token embedding (GPT-2) */
    tied: z.boolean().default(true),
    /** output head has a bias */
    headBias: z.boolean().default(false),
    tokenizer: BuiltinTokenizerConfig.default({}),
  })
  .strict()
  .refine((c) => c.dModel % c.nHead === 0, { message: 'dModel must be divisible by nHead', path: ['nHead'] });

export type ModelBuildConfig = z.infer<typeof ModelBuildConfig>;

/**
 * Where an experiment's model comes from: built from a config, a model DIR, or a model in the
 * artifact store by its address (the sha256 of its model.json: `dlab model push DIR` prints it).
 */
export const ModelSource = z.union([
  z.object({ build: ModelBuildConfig }).strict(),
  z
    .object({
      dir: z.string().min(1).describe('a model DIR (dlab model build | prepare)'),
      /** render every prompt with the model's own chat template (tokenizer_config.json chat_template), for instruct models */
      chatTemplate: z.boolean().optional(),
    })
    .strict(),
  z
    .object({
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'a model address: the 64 hex digits `dlab model push DIR` prints')
        .describe('a model in the artifact store (DLAB_STORE), by the sha256 of its model.json'),
      /** as for a directory: render prompts with the model's chat template */
      chatTemplate: z.boolean().optional(),
    })
    .strict(),
]);

export type ModelSource = z.infer<typeof ModelSource>;

/**
 * What the model runtime needs of a tokenizer. Implementations: the built-in one for the
 * project's tasks (lib/model/tokenizers/builtin.ts) and a Hugging Face `tokenizer.json`
 * through @huggingface/tokenizers (lib/model/tokenizers/huggingface.ts); `loadTokenizer`
 * in lib/model/tokenizers/index.ts picks by file.
 */
export interface Tokenizer {
  /** number of token ids (the model's vocabulary size must be at least this) */
  readonly vocabSize: number;
  /** id used to left-pad batches (never attended to) */
  readonly padId: number;
  /** end of sequence: generation stops when it is sampled */
  readonly eosId: number;
  /** prepended to every prompt when defined */
  readonly bosId?: number;
  /** text → ids, without special tokens added */
  encode(text: string): number[];
  /** ids → text; special tokens (pad, bos, eos) are dropped */
  decode(ids: ArrayLike<number>): string;
  /** the file's kind, recorded in model.json */
  readonly kind: 'dlab-builtin' | 'huggingface';
}

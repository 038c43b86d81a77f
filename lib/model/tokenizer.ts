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
  /** end of sequence: the token appended to training targets; generation stops on it */
  readonly eosId: number;
  /** every id that ends generation: eosId and any further end ids the model's config names */
  readonly stopIds: readonly number[];
  /** the first id of `promptPrefix` when that is the beginning-of-sequence token (informational) */
  readonly bosId?: number;
  /**
   * The special tokens the tokenizer puts around a single text when it encodes a prompt
   * (`tokenizer(text)` in transformers, i.e. with its default special tokens): for Hugging Face
   * tokenizers the post-processor's single-sequence template (e.g. Llama's `<s> $A`), for the
   * built-in one `<bos>` before. encodePrompt(text) = promptPrefix ‖ encode(text) ‖ promptSuffix.
   */
  readonly promptPrefix: readonly number[];
  readonly promptSuffix: readonly number[];
  /** text → ids, without special tokens added */
  encode(text: string): number[];
  /** ids → text; special tokens (pad, bos, eos) are dropped */
  decode(ids: ArrayLike<number>): string;
  /** the file's kind, recorded in model.json */
  readonly kind: 'dlab-builtin' | 'huggingface';
}

/**
 * What a tokenizer would silently lose in `texts` (name → text), as warnings: texts with
 * characters it maps to an unknown token (`unkId`, when it has one), and item tokens
 * (`<item_N>`) it does not have, which it would spell out piece by piece. At most `examples`
 * names each. Empty when nothing is lost.
 */
export function lostInTokenization(tok: Tokenizer & { unkId?: number }, texts: Iterable<[string, string]>, examples = 3): string[] {
  const unknown: string[] = [];
  let unknownCount = 0;
  const spelled = new Map<string, string>();
  const itemTokens = new Map<string, boolean>();
  for (const [name, text] of texts) {
    if (tok.unkId !== undefined && tok.encode(text).includes(tok.unkId)) {
      unknownCount++;
      if (unknown.length < examples) {
        const ch = [...text].find((c) => tok.encode(c).includes(tok.unkId!));
        unknown.push(`${name}${ch ? ` (${JSON.stringify(ch)})` : ''}`);
      }
    }
    for (const m of text.matchAll(/<item_\d+>/g)) {
      let single = itemTokens.get(m[0]);
      if (single === undefined) itemTokens.set(m[0], (single = tok.encode(m[0]).length === 1));
      if (!single && !spelled.has(m[0])) spelled.set(m[0], name);
    }
  }
  const out: string[] = [];
  if (unknownCount) out.push(`${unknownCount} text(s) have characters the tokenizer does not know, which become one unknown token each: ${unknown.join(', ')}${unknownCount > unknown.length ? ', …' : ''}`);
  if (spelled.size) {
    const list = [...spelled].slice(0, examples).map(([item, name]) => `${item} in ${name}`);
    out.push(`${spelled.size} item token(s) are not in the tokenizer and would be spelled out piece by piece: ${list.join(', ')}${spelled.size > list.length ? ', …' : ''} (raise the tokenizer's items, or use items it has)`);
  }
  return out;
}

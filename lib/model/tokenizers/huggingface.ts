import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { DlabInputError } from '../../errors';
import type { Tokenizer } from '../tokenizer';
import { readJsonFile } from './json-file';

const EXPECTED_TOKENIZER_JSON = 'a Hugging Face tokenizer.json (a JSON object with a "model" object holding a "vocab")';
const EXPECTED_CONFIG_JSON = 'a Hugging Face tokenizer_config.json (a JSON object)';

/** End-of-sequence names tried, in this order, when no tokenizer_config.json names one. */
export const CONVENTIONAL_EOS_TOKENS = ['</s>', '<|endoftext|>', '<eos>', '<|end_of_text|>'] as const;

/** tokenizer_config.json with its path, as found beside a tokenizer.json. */
export interface TokenizerConfigFile {
  path: string;
  config: Record<string, unknown>;
}

/**
 * A Hugging Face `tokenizer.json` through @huggingface/tokenizers (pure JS, no native code).
 *
 * Special tokens come from `tokenizer_config.json` beside the file when there is one:
 *   eos = `eos_token` (else the first of CONVENTIONAL_EOS_TOKENS that is a special added token),
 *   pad = `pad_token`, else eos,
 *   bos = `bos_token` unless `add_bos_token` is false; undefined when not named.
 * encode adds no special tokens; decode drops pad/bos/eos and every special added token.
 * Ids outside the vocabulary decode as the unk token, or to nothing when there is none.
 * `clean_up_tokenization_spaces` defaults to false (the library's default is true), so
 * decode(encode(s)) keeps " ," and " ." as written.
 */
export class HuggingFaceTokenizer implements Tokenizer {
  readonly kind = 'huggingface' as const;

  private constructor(
    private readonly hf: HfTokenizer,
    /** the tokenizer.json this was read from (names it in errors) */
    readonly source: string,
    readonly vocabSize: number,
    readonly eosId: number,
    readonly padId: number,
    readonly bosId: number | undefined,
    readonly unkId: number | undefined,
  ) {}

  /** Reads `path` (a tokenizer.json) and the tokenizer_config.json beside it, if any. */
  static fromFile(path: string): HuggingFaceTokenizer {
    return HuggingFaceTokenizer.fromJSON(readJsonFile(path, EXPECTED_TOKENIZER_JSON), readTokenizerConfigBeside(path), path);
  }

  /** From a parsed tokenizer.json (`source` names it in errors) and an optional parsed tokenizer_config.json. */
  static fromJSON(tokenizerJson: unknown, configFile: TokenizerConfigFile | undefined, source: string): HuggingFaceTokenizer {
    const tj = tokenizerJson as Record<string, unknown> | null;
    if (typeof tj !== 'object' || tj === null || Array.isArray(tj)) {
      throw new DlabInputError(`${source}: expected ${EXPECTED_TOKENIZER_JSON}, found ${Array.isArray(tj) ? 'an array' : typeof tj}`, source);
    }
    const model = tj.model as Record<string, unknown> | undefined;
    if (typeof model !== 'object' || model === null || typeof model.vocab !== 'object' || model.vocab === null) {
      throw new DlabInputError(`${source}: expected ${EXPECTED_TOKENIZER_JSON}, found ${tj.type === 'dlab-builtin' ? 'a dlab-builtin tokenizer (load it with loadTokenizer)' : 'no "model.vocab"'}`, source);
    }
    const config = configFile?.config ?? {};
    const configPath = configFile?.path ?? join(dirname(source), 'tokenizer_config.json');
    const name = (field: string): string | undefined => tokenName(config[field], field, configPath);

    // The library reads unk from the config for models it treats as "Legacy" (WordLevel);
    // wants token names as strings; and needs every top-level component key present.
    const libConfig: Record<string, unknown> = {
      ...config,
      bos_token: name('bos_token'),
      eos_token: name('eos_token'),
      pad_token: name('pad_token'),
      unk_token: name('unk_token') ?? (typeof model.unk_token === 'string' ? model.unk_token : undefined),
      additional_special_tokens: tokenNames(config.additional_special_tokens, 'additional_special_tokens', configPath),
      clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false,
    };
    const libTokenizer = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      ...tj,
      added_tokens: tj.added_tokens ?? [],
    };
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(libTokenizer, libConfig);
    } catch (e) {
      throw new DlabInputError(`${source}: expected ${EXPECTED_TOKENIZER_JSON} that @huggingface/tokenizers can build, found: ${(e as Error).message}`, source);
    }

    let vocabSize = 0;
    for (const id of hf.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
    const idOf = (token: string, field: string): number => {
      const id = hf.token_to_id(token);
      if (id === undefined) {
        throw new DlabInputError(`${configPath}: field "${field}": token ${JSON.stringify(token)} is not in the vocabulary of ${source}`, configPath);
      }
      return id;
    };

    let eosId: number;
    const eosName = libConfig.eos_token as string | undefined;
    if (eosName !== undefined) {
      eosId = idOf(eosName, 'eos_token');
    } else {
      const specials = new Set<string>();
      for (const t of hf.get_added_tokens_decoder().values()) if (t.special) specials.add(t.content);
      const found = CONVENTIONAL_EOS_TOKENS.find((t) => specials.has(t));
      if (found === undefined) {
        throw new DlabInputError(
          `${source}: no end-of-sequence token: expected "eos_token" in ${configPath}, or one of ${CONVENTIONAL_EOS_TOKENS.join(' ')} among the special added tokens; found neither`,
          source,
        );
      }
      eosId = hf.token_to_id(found)!;
    }
    const padName = libConfig.pad_token as string | undefined;
    const padId = padName === undefined ? eosId : idOf(padName, 'pad_token');
    const bosName = libConfig.bos_token as string | undefined;
    const bosId = bosName === undefined || config.add_bos_token === false ? undefined : idOf(bosName, 'bos_token');
    const unkId = hf.model?.unk_token_id;
    return new HuggingFaceTokenizer(hf, source, vocabSize, eosId, padId, bosId, unkId);
  }

  /** text → ids, no special tokens added; a piece with no id and no unk token is an error. */
  encode(text: string): number[] {
    const { ids, tokens } = this.hf.encode(text, { add_special_tokens: false });
    for (let k = 0; k < ids.length; k++) {
      if (ids[k] !== undefined) continue;
      if (this.unkId === undefined) {
        throw new DlabInputError(`${this.source}: cannot encode ${JSON.stringify(tokens[k])}: not in the vocabulary, and the tokenizer has no unk token`, this.source);
      }
      ids[k] = this.unkId;
    }
    return ids;
  }

  /** ids → text; pad/bos/eos and special added tokens dropped. */
  decode(ids: ArrayLike<number>): string {
    const kept: number[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (id === this.padId || id === this.eosId || id === this.bosId) continue;
      if (Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.hf.id_to_token(id) !== undefined) kept.push(id);
      else if (this.unkId !== undefined) kept.push(this.unkId);
    }
    // the library throws on an empty array
    return kept.length === 0 ? '' : this.hf.decode(kept, { skip_special_tokens: true });
  }

  /** id of one token string (added tokens included), or undefined */
  tokenId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }
}

/** The tokenizer_config.json in the directory of `tokenizerPath`, or undefined when there is none. */
export function readTokenizerConfigBeside(tokenizerPath: string): TokenizerConfigFile | undefined {
  const path = join(dirname(tokenizerPath), 'tokenizer_config.json');
  if (!existsSync(path)) return undefined;
  const config = readJsonFile(path, EXPECTED_CONFIG_JSON);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new DlabInputError(`${path}: expected ${EXPECTED_CONFIG_JSON}, found ${Array.isArray(config) ? 'an array' : typeof config}`, path);
  }
  return { path, config: config as Record<string, unknown> };
}

/** A token field of tokenizer_config.json: a string, an AddedToken object `{ content }`, or null/absent. */
function tokenName(v: unknown, field: string, configPath: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new DlabInputError(`${configPath}: field "${field}": expected a token string or {"content": string}, found ${JSON.stringify(v)}`, configPath);
}

function tokenNames(v: unknown, field: string, configPath: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DlabInputError(`${configPath}: field "${field}": expected an array of tokens, found ${JSON.stringify(v)}`, configPath);
  const names: string[] = [];
  for (let k = 0; k < v.length; k++) {
    const name = tokenName(v[k], `${field}[${k}]`, configPath);
    if (name !== undefined) names.push(name);
  }
  return names;
}

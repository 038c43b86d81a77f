import { existsSync, readFileSync } from 'node:fs';
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
 * The files of a Hugging Face export that say how its tokenizer is used, as found beside its
 * tokenizer.json (each optional): tokenizer_config.json (special tokens, add_bos_token, the chat
 * template), generation_config.json (eos/pad ids generation uses), config.json (the model's
 * eos/pad/bos ids), chat_template.jinja (newer exports keep the template there).
 */
export interface TokenizerFiles {
  tokenizerConfig?: TokenizerConfigFile;
  /** special_tokens_map.json: its token fields override tokenizer_config.json's, as in transformers */
  specialTokensMap?: { path: string; config: Record<string, unknown> };
  generationConfig?: { path: string; config: Record<string, unknown> };
  modelConfig?: { path: string; config: Record<string, unknown> };
  chatTemplate?: { path: string; text: string };
}

/** The names of the files TokenizerFiles are read from, as a model directory keeps them. */
export const TOKENIZER_SIDE_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'config.json', 'chat_template.jinja'] as const;

/** Tokenizer classes whose transformers implementation rebuilds the post-processor from add_bos_token / add_eos_token. */
const BOS_FLAG_CLASSES = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

/**
 * A Hugging Face `tokenizer.json` through @huggingface/tokenizers (pure JS, no native code), used
 * the way transformers uses it.
 *
 * Special tokens, from the files beside tokenizer.json (TokenizerFiles; special_tokens_map.json's
 * token fields override tokenizer_config.json's):
 *   eos = tokenizer_config `eos_token`; else the first `eos_token_id` of generation_config.json,
 *         then config.json; else the first of CONVENTIONAL_EOS_TOKENS that is a special added token;
 *   stop ids = eos ∪ generation_config `eos_token_id` (an id or a list; config.json's when there is
 *         no generation_config.json): generation ends on any of them;
 *   pad = tokenizer_config `pad_token`, else the `pad_token_id` of generation_config, then config; else eos;
 *   prompt specials = what `tokenizer(text)` adds: for Llama/Gemma tokenizer classes
 *         bos if `add_bos_token` (default true) and eos if `add_eos_token` (default false), as
 *         transformers rebuilds their post-processor; for every other class the tokenizer.json
 *         post-processor's single-sequence template (read off by encoding a probe text).
 * encode adds no special tokens; decode drops pad/bos/eos/stop ids and every special added token.
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
    readonly stopIds: readonly number[],
    readonly padId: number,
    readonly promptPrefix: readonly number[],
    readonly promptSuffix: readonly number[],
    readonly bosId: number | undefined,
    readonly unkId: number | undefined,
    /** the chat template (tokenizer_config `chat_template`, or chat_template.jinja), when the export has one */
    readonly chatTemplate: { text: string; source: string } | undefined,
    /** special token strings a chat template may refer to (bos_token, eos_token, …) */
    readonly specialTokens: Record<string, string>,
  ) {}

  /** Reads `path` (a tokenizer.json) and the files beside it (TokenizerFiles). */
  static fromFile(path: string): HuggingFaceTokenizer {
    return HuggingFaceTokenizer.fromJSON(readJsonFile(path, EXPECTED_TOKENIZER_JSON), readTokenizerFilesBeside(path), path);
  }

  /** From a parsed tokenizer.json (`source` names it in errors) and the files beside it (or just its tokenizer_config.json). */
  static fromJSON(tokenizerJson: unknown, files: TokenizerFiles | TokenizerConfigFile | undefined, source: string): HuggingFaceTokenizer {
    const side: TokenizerFiles = files && 'config' in files ? { tokenizerConfig: files as TokenizerConfigFile } : ((files as TokenizerFiles | undefined) ?? {});
    const tj = tokenizerJson as Record<string, unknown> | null;
    if (typeof tj !== 'object' || tj === null || Array.isArray(tj)) {
      throw new DlabInputError(`${source}: expected ${EXPECTED_TOKENIZER_JSON}, found ${Array.isArray(tj) ? 'an array' : typeof tj}`, source);
    }
    const model = tj.model as Record<string, unknown> | undefined;
    if (typeof model !== 'object' || model === null || typeof model.vocab !== 'object' || model.vocab === null) {
      throw new DlabInputError(`${source}: expected ${EXPECTED_TOKENIZER_JSON}, found ${tj.type === 'dlab-builtin' ? 'a dlab-builtin tokenizer (load it with loadTokenizer)' : 'no "model.vocab"'}`, source);
    }
    const SPECIAL_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'additional_special_tokens'];
    const mapped = Object.fromEntries(Object.entries(side.specialTokensMap?.config ?? {}).filter(([k, v]) => SPECIAL_FIELDS.includes(k) && v !== null && v !== undefined));
    const config = { ...(side.tokenizerConfig?.config ?? {}), ...mapped };
    const configPath = side.tokenizerConfig?.path ?? join(dirname(source), 'tokenizer_config.json');
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
    const gen = side.generationConfig;
    const cfg = side.modelConfig;
    const genEos = gen ? tokenIds(gen.config.eos_token_id, 'eos_token_id', gen.path, vocabSize) : [];
    const cfgEos = cfg ? tokenIds(cfg.config.eos_token_id, 'eos_token_id', cfg.path, vocabSize) : [];
    const configEos = gen && genEos.length ? genEos : cfgEos;

    let eosId: number;
    const eosName = libConfig.eos_token as string | undefined;
    if (eosName !== undefined) {
      eosId = idOf(eosName, 'eos_token');
    } else if (configEos.length) {
      eosId = configEos[0];
    } else {
      const specials = new Set<string>();
      for (const t of hf.get_added_tokens_decoder().values()) if (t.special) specials.add(t.content);
      const found = CONVENTIONAL_EOS_TOKENS.find((t) => specials.has(t));
      if (found === undefined) {
        throw new DlabInputError(
          `${source}: no end-of-sequence token: expected "eos_token" in ${configPath}, "eos_token_id" in generation_config.json or config.json, or one of ${CONVENTIONAL_EOS_TOKENS.join(' ')} among the special added tokens; found none`,
          source,
        );
      }
      eosId = hf.token_to_id(found)!;
    }
    const stopIds = [eosId, ...configEos.filter((id) => id !== eosId)];
    const padName = libConfig.pad_token as string | undefined;
    const padFromIds = [gen, cfg].map((f) => (f ? tokenIds(f.config.pad_token_id, 'pad_token_id', f.path, vocabSize)[0] : undefined)).find((id) => id !== undefined);
    const padId = padName !== undefined ? idOf(padName, 'pad_token') : (padFromIds ?? eosId);

    let prefix: number[];
    let suffix: number[];
    const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
    if (BOS_FLAG_CLASSES.test(cls)) {
      const bosName = libConfig.bos_token as string | undefined;
      prefix = config.add_bos_token !== false && bosName !== undefined ? [idOf(bosName, 'bos_token')] : [];
      suffix = config.add_eos_token === true ? [eosId] : [];
    } else {
      [prefix, suffix] = templateSpecials(hf, source);
    }
    const bosName = libConfig.bos_token as string | undefined;
    const bosId = prefix.length && bosName !== undefined && prefix[0] === hf.token_to_id(bosName) ? prefix[0] : undefined;
    const specialTokens: Record<string, string> = {};
    for (const f of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const v = libConfig[f];
      if (typeof v === 'string') specialTokens[f] = v;
    }
    if (specialTokens.eos_token === undefined) specialTokens.eos_token = hf.id_to_token(eosId) ?? '';
    const unkId = hf.model?.unk_token_id;
    return new HuggingFaceTokenizer(hf, source, vocabSize, eosId, stopIds, padId, prefix, suffix, bosId, unkId, chatTemplateOf(config, configPath, side.chatTemplate), specialTokens);
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
      if (id === this.padId || id === this.bosId || this.stopIds.includes(id)) continue;
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
  return { path, config: jsonObject(path, EXPECTED_CONFIG_JSON) };
}

/** Every TokenizerFiles file found in the directory of `tokenizerPath`. */
export function readTokenizerFilesBeside(tokenizerPath: string): TokenizerFiles {
  const dir = dirname(tokenizerPath);
  const obj = (file: string, what: string) => {
    const path = join(dir, file);
    return existsSync(path) ? { path, config: jsonObject(path, what) } : undefined;
  };
  const templatePath = join(dir, 'chat_template.jinja');
  return {
    tokenizerConfig: readTokenizerConfigBeside(tokenizerPath),
    specialTokensMap: obj('special_tokens_map.json', 'a Hugging Face special_tokens_map.json (a JSON object)'),
    generationConfig: obj('generation_config.json', 'a Hugging Face generation_config.json (a JSON object)'),
    modelConfig: obj('config.json', 'a Hugging Face config.json (a JSON object)'),
    chatTemplate: existsSync(templatePath) ? { path: templatePath, text: readFileSync(templatePath, 'utf8') } : undefined,
  };
}

function jsonObject(path: string, expected: string): Record<string, unknown> {
  const v = readJsonFile(path, expected);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new DlabInputError(`${path}: expected ${expected}, found ${Array.isArray(v) ? 'an array' : typeof v}`, path);
  }
  return v as Record<string, unknown>;
}

/** A token-id field of generation_config.json / config.json: an id, a list of ids, or null/absent. */
function tokenIds(v: unknown, field: string, path: string, vocabSize: number): number[] {
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v : [v];
  for (const id of ids) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize) {
      throw new DlabInputError(`${path}: field "${field}": expected a token id in [0, ${vocabSize}) or a list of them, found ${JSON.stringify(v)}`, path);
    }
  }
  return ids as number[];
}

/**
 * The special ids the post-processor puts before and after a single text: encode a probe with
 * and without special tokens and find the plain ids inside.
 */
function templateSpecials(hf: HfTokenizer, source: string): [number[], number[]] {
  for (const probe of ['a', 'hello', '1', ' ']) {
    const plain = hf.encode(probe, { add_special_tokens: false }).ids;
    if (!plain.length || plain.some((id) => id === undefined)) continue;
    const full = hf.encode(probe, { add_special_tokens: true }).ids;
    for (let at = 0; at + plain.length <= full.length; at++) {
      if (plain.every((id, k) => full[at + k] === id)) return [full.slice(0, at), full.slice(at + plain.length)];
    }
    throw new DlabInputError(`${source}: its post-processor changes the text's own tokens (encoding ${JSON.stringify(probe)}), not only adds special tokens around them; dlab cannot tell the prompt's specials`, source);
  }
  return [[], []];
}

/** chat_template.jinja beside the tokenizer, else tokenizer_config `chat_template` (a string, or a list of {name, template}: "default" or the first). */
function chatTemplateOf(config: Record<string, unknown>, configPath: string, file: { path: string; text: string } | undefined): { text: string; source: string } | undefined {
  // as transformers loads it: a chat_template.jinja file takes priority over the config's entry
  if (file) return { text: file.text, source: file.path };
  const t = config.chat_template;
  if (typeof t === 'string') return { text: t, source: configPath };
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const pick = named.find((x) => x?.name === 'default') ?? named[0];
    if (typeof pick?.template !== 'string') throw new DlabInputError(`${configPath}: field "chat_template": expected a template string or a list of {name, template}`, configPath);
    return { text: pick.template, source: `${configPath} (chat_template "${String(pick.name ?? 0)}")` };
  }
  if (t !== undefined && t !== null) throw new DlabInputError(`${configPath}: field "chat_template": expected a template string or a list of {name, template}, found ${typeof t}`, configPath);
  return undefined;
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

import type { z } from 'zod';
import type { BuiltinTokenizerConfig as BuiltinTokenizerConfigSchema } from '../../../schemas/config/model';
import { DlabInputError } from '../../errors';
import type { Tokenizer } from '../tokenizer';

/** Printable ASCII 32..126 (' ' … '~'), then '\n': the characters the project's tasks are written in. */
export const BUILTIN_CHARSET: string = (() => {
  let s = '';
  for (let c = 32; c <= 126; c++) s += String.fromCharCode(c);
  return s + '\n';
})();

/** The four fixed specials, ids 0..3 in this order. */
export const BUILTIN_FIXED_SPECIALS = ['<pad>', '<bos>', '<eos>', '<unk>'] as const;

/** items (default 0) and extraSpecials: the schema's fields, schemas/config/model.ts */
export type BuiltinTokenizerConfig = z.input<typeof BuiltinTokenizerConfigSchema>;

/** The file written by `toJSON`; `specials` lists the extra specials only (the fixed four are implied). */
export interface BuiltinTokenizerJSON {
  type: 'dlab-builtin';
  version: 1;
  charset: string;
  items: number;
  specials: string[];
}

const ITEM_PREFIX = '<item_';
const SPECIAL_NAME = /^<[^<>\s]+>$/;
const ITEM_NAME = /^<item_\d+>$/;
const LT = 60; // '<'
const GT = 62; // '>'
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/**
 * Character-level tokenizer of the project's own small models.
 *
 * Id layout (C = charset length, N = items, E = extra specials):
 *   0 `<pad>`, 1 `<bos>`, 2 `<eos>`, 3 `<unk>`,
 *   4 … 3+C          one per charset character, in charset order,
 *   4+C … 3+C+N      `<item_0>` … `<item_{N-1}>`,
 *   4+C+N … 3+C+N+E  the extra specials, in config order.
 * With the default charset (C = 96): ' ' = 4, '0' = 20, 'A' = 37, '\n' = 99, `<item_0>` = 100.
 *
 * encode: at each position a known `<…>` token (special or item) wins, else the character
 * (one code point) maps to its id, or to `<unk>` when it is not in the charset. Never throws.
 * decode: concatenation of token strings, dropping pad/bos/eos; ids outside the
 * vocabulary decode as `<unk>`.
 */
export class BuiltinTokenizer implements Tokenizer {
  readonly kind = 'dlab-builtin' as const;
  readonly padId = 0;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly unkId = 3;
  readonly stopIds: readonly number[] = [2];
  readonly promptPrefix: readonly number[] = [1];
  readonly promptSuffix: readonly number[] = [];
  readonly vocabSize: number;
  readonly charset: string;
  readonly items: number;
  readonly extraSpecials: readonly string[];
  /** id of `<item_0>`; item i is itemBase + i */
  readonly itemBase: number;

  /** token string of every id */
  private readonly tokens: string[];
  /** charset ids of code points < 128; -1 when not in the charset */
  private readonly asciiIds = new Int32Array(128).fill(-1);
  /** charset ids of code points >= 128 (only with a custom charset) */
  private readonly otherIds = new Map<number, number>();
  /** named specials (fixed and extra) → id */
  private readonly specialIds = new Map<string, number>();
  /** longest named special, in UTF-16 units: bounds the search for '>' */
  private readonly maxSpecialLength: number;
  /** id of the token matched by the last successful `matchToken` */
  private lastMatchId = 0;

  constructor(config: BuiltinTokenizerConfig = {}, charset: string = BUILTIN_CHARSET) {
    const items = config.items ?? 0;
    const extras = config.extraSpecials ?? [];
    if (!Number.isSafeInteger(items) || items < 0) {
      throw new DlabInputError(`builtin tokenizer: items must be a non-negative integer, got ${items}`);
    }
    const chars = Array.from(charset);
    if (chars.length === 0) throw new DlabInputError('builtin tokenizer: charset must not be empty');
    this.charset = charset;
    this.items = items;
    this.extraSpecials = Object.freeze([...extras]);
    this.itemBase = BUILTIN_FIXED_SPECIALS.length + chars.length;
    this.vocabSize = this.itemBase + items + extras.length;

    const tokens: string[] = [...BUILTIN_FIXED_SPECIALS];
    for (let i = 0; i < chars.length; i++) {
      const cp = chars[i].codePointAt(0)!;
      const id = BUILTIN_FIXED_SPECIALS.length + i;
      const seen = cp < 128 ? this.asciiIds[cp] !== -1 : this.otherIds.has(cp);
      if (seen) throw new DlabInputError(`builtin tokenizer: charset has ${JSON.stringify(chars[i])} twice`);
      if (cp < 128) this.asciiIds[cp] = id;
      else this.otherIds.set(cp, id);
      tokens.push(chars[i]);
    }
    for (let i = 0; i < items; i++) tokens.push(`${ITEM_PREFIX}${i}>`);
    for (let i = 0; i < BUILTIN_FIXED_SPECIALS.length; i++) this.specialIds.set(BUILTIN_FIXED_SPECIALS[i], i);
    for (const name of extras) {
      if (!SPECIAL_NAME.test(name)) {
        throw new DlabInputError(`builtin tokenizer: extra special ${JSON.stringify(name)} must look like <name> (no spaces or angle brackets inside)`);
      }
      if (ITEM_NAME.test(name) || this.specialIds.has(name)) {
        throw new DlabInputError(`builtin tokenizer: extra special ${JSON.stringify(name)} clashes with a fixed special, an item token or another extra special`);
      }
      this.specialIds.set(name, tokens.length);
      tokens.push(name);
    }
    let maxLength = 0;
    for (const name of this.specialIds.keys()) maxLength = Math.max(maxLength, name.length);
    this.maxSpecialLength = maxLength;
    this.tokens = tokens;
  }

  /** text → ids; see the class comment for the rule. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === LT) {
        const end = this.matchToken(text, i);
        if (end > 0) {
          ids.push(this.lastMatchId);
          i = end;
          continue;
        }
      }
      if (c < 128) {
        const id = this.asciiIds[c];
        ids.push(id === -1 ? this.unkId : id);
        i++;
      } else {
        const cp = text.codePointAt(i)!;
        ids.push(this.otherIds.get(cp) ?? this.unkId);
        i += cp > 0xffff ? 2 : 1;
      }
    }
    return ids;
  }

  /** ids → text: token strings concatenated, pad/bos/eos dropped. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    const v = this.vocabSize;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (id === this.padId || id === this.bosId || id === this.eosId) continue;
      s += id >= 0 && id < v && Number.isInteger(id) ? this.tokens[id] : this.tokens[this.unkId];
    }
    return s;
  }

  /** id of `<item_i>`, 0 <= i < items */
  itemId(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.items) {
      throw new RangeError(`builtin tokenizer: item ${i} is outside 0..${this.items - 1}`);
    }
    return this.itemBase + i;
  }

  /** the string of one token id, or undefined outside the vocabulary */
  tokenOf(id: number): string | undefined {
    return this.tokens[id];
  }

  toJSON(): BuiltinTokenizerJSON {
    return { type: 'dlab-builtin', version: 1, charset: this.charset, items: this.items, specials: [...this.extraSpecials] };
  }

  /** Validates a parsed tokenizer file; `source` (a path) names it in errors. */
  static fromJSON(obj: unknown, source: string): BuiltinTokenizer {
    const bad = (field: string, expected: string, found: unknown): never => {
      throw new DlabInputError(`${source}: field "${field}": expected ${expected}, found ${describe(found)}`, source);
    };
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) bad('(root)', 'a JSON object', obj);
    const o = obj as Record<string, unknown>;
    const known = new Set(['type', 'version', 'charset', 'items', 'specials']);
    for (const key of Object.keys(o)) if (!known.has(key)) bad(key, 'no such field (fields: type, version, charset, items, specials)', o[key]);
    if (o.type !== 'dlab-builtin') bad('type', '"dlab-builtin"', o.type);
    if (o.version !== 1) bad('version', '1', o.version);
    if (typeof o.charset !== 'string' || o.charset.length === 0) bad('charset', 'a non-empty string', o.charset);
    if (!Number.isSafeInteger(o.items) || (o.items as number) < 0) bad('items', 'a non-negative integer', o.items);
    if (!Array.isArray(o.specials)) bad('specials', 'an array of strings like "<sep>"', o.specials);
    const specials = o.specials as unknown[];
    for (let k = 0; k < specials.length; k++) {
      if (typeof specials[k] !== 'string') bad(`specials[${k}]`, 'a string like "<sep>"', specials[k]);
    }
    try {
      return new BuiltinTokenizer({ items: o.items as number, extraSpecials: specials as string[] }, o.charset as string);
    } catch (e) {
      throw new DlabInputError(`${source}: ${(e as Error).message}`, source);
    }
  }

  /**
   * If a named special or an item token starts at `text[i]` (which is '<'), sets
   * lastMatchId and returns the index just past it; else returns 0.
   */
  private matchToken(text: string, i: number): number {
    const n = text.length;
    // <item_k>: digits without leading zeros, k < items
    if (this.items > 0 && text.startsWith(ITEM_PREFIX, i)) {
      let j = i + ITEM_PREFIX.length;
      let k = 0;
      const first = j;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d < DIGIT_0 || d > DIGIT_9) break;
        k = k * 10 + (d - DIGIT_0);
        j++;
        if (k >= this.items) break;
      }
      const digits = j - first;
      const leadingZero = digits > 1 && text.charCodeAt(first) === DIGIT_0;
      if (digits > 0 && !leadingZero && k < this.items && j < n && text.charCodeAt(j) === GT) {
        this.lastMatchId = this.itemBase + k;
        return j + 1;
      }
    }
    const limit = Math.min(n, i + this.maxSpecialLength);
    for (let j = i + 1; j < limit; j++) {
      const c = text.charCodeAt(j);
      if (c === GT) {
        const id = this.specialIds.get(text.slice(i, j + 1));
        if (id === undefined) return 0;
        this.lastMatchId = id;
        return j + 1;
      }
      if (c === LT) return 0;
    }
    return 0;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

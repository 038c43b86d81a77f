import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Tokenizer } from '../tokenizer';
import { BuiltinTokenizer } from './builtin';
import { HuggingFaceTokenizer, readTokenizerFilesBeside } from './huggingface';
import { readJsonFile } from './json-file';

export { BuiltinTokenizer } from './builtin';

/**
 * The tokenizer in `path` (a file, or a directory holding `tokenizer.json`), picked by
 * content: `"type": "dlab-builtin"` → BuiltinTokenizer, anything else is read as a
 * Hugging Face tokenizer.json (with the tokenizer_config.json, generation_config.json, config.json and chat_template.jinja beside it, if any).
 */
export function loadTokenizer(path: string): Tokenizer {
  const file = isDirectory(path) ? join(path, 'tokenizer.json') : path;
  const json = readJsonFile(file, 'a tokenizer file (dlab-builtin JSON or Hugging Face tokenizer.json)');
  if (typeof json === 'object' && json !== null && (json as { type?: unknown }).type === 'dlab-builtin') {
    return BuiltinTokenizer.fromJSON(json, file);
  }
  return HuggingFaceTokenizer.fromJSON(json, readTokenizerFilesBeside(file), file);
}

/** A built-in tokenizer's file text: `tok.toJSON()` indented by two spaces, with a final newline. */
export function builtinTokenizerText(tok: BuiltinTokenizer): string {
  return JSON.stringify(tok.toJSON(), null, 2) + '\n';
}

/** Writes `builtinTokenizerText(tok)` to `path` atomically (temp file, then rename). */
export function saveBuiltinTokenizer(tok: BuiltinTokenizer, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, builtinTokenizerText(tok));
  renameSync(tmp, path);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

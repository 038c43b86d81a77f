import { readFileSync } from 'node:fs';
import { DlabInputError } from '../../errors';

/**
 * Reads and parses one JSON file; a missing, unreadable or malformed file is a
 * DlabInputError naming the path and `expected` (what the file should have been).
 */
export function readJsonFile(path: string, expected: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const found = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (e as Error).message;
    throw new DlabInputError(`${path}: expected ${expected}, found ${found}`, path);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new DlabInputError(`${path}: expected ${expected}, found invalid JSON (${(e as Error).message})`, path);
  }
}

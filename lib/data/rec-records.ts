import { readFileSync } from 'node:fs';
import { DataType, tableFromIPC } from 'apache-arrow';
import { DlabInputError } from '../errors';

/**
 * User data for GORACS (docs/goracs.md, "Data"): one record per sample,
 *   { id: string, prompt: string, target: string, label?: 0 | 1, split: 'pool' | 'validation' | 'test' }
 * `label` is for binary (CTR-style) tasks. Ids must be unique within a file.
 */
export type RecSplit = 'pool' | 'validation' | 'test';

export interface RecRecord {
  id: string;
  prompt: string;
  target: string;
  label?: 0 | 1;
  split: RecSplit;
}

const SPLITS: readonly RecSplit[] = ['pool', 'validation', 'test'];

/**
 * JSON Lines: one record object per non-blank line; other fields are ignored.
 * Throws DlabInputError naming the file, the 1-based line and the field.
 */
export function loadRecJsonl(path: string): RecRecord[] {
  const text = readSource(path, () => readFileSync(path, 'utf8'));
  const out: RecRecord[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '') continue;
    const where = `${path}:${n + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DlabInputError(`${where}: not valid JSON (${(e as Error).message})`, path);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new DlabInputError(`${where}: expected a JSON object {id, prompt, target, label?, split}, found ${describe(obj)}`, path);
    }
    const o = obj as Record<string, unknown>;
    const rec = toRecord(o.id, o.prompt, o.target, o.label, o.split, (field, expected, found) => {
      throw new DlabInputError(`${where}: field "${field}": expected ${expected}, found ${describe(found)}`, path);
    });
    const first = seen.get(rec.id);
    if (first !== undefined) throw new DlabInputError(`${where}: field "id": ${JSON.stringify(rec.id)} already used on line ${first}`, path);
    seen.set(rec.id, n + 1);
    out.push(rec);
  }
  return out;
}

/**
 * Arrow IPC (file or stream format): string columns (Utf8, LargeUtf8 or dictionary-encoded)
 * id, prompt, target, split; optional
 * label column of integers or booleans (null = no label).
 * Throws DlabInputError naming the file, the column and the 0-based row.
 */
export function loadRecArrow(path: string): RecRecord[] {
  const bytes = readSource(path, () => readFileSync(path));
  let table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw new DlabInputError(`${path}: not an Arrow IPC file (${(e as Error).message})`, path);
  }
  const names = table.schema.fields.map((f) => f.name);
  const column = (name: string, required: boolean) => {
    const col = table.getChild(name);
    if (!col) {
      if (required) throw new DlabInputError(`${path}: column "${name}" is missing (found: ${names.join(', ')})`, path);
      return null;
    }
    const t = col.type as DataType;
    const ok = name === 'label' ? DataType.isInt(t) || DataType.isBool(t) : isString(t) || (DataType.isDictionary(t) && isString(t.dictionary));
    if (!ok) throw new DlabInputError(`${path}: column "${name}": expected ${name === 'label' ? 'integers or booleans' : 'Utf8 strings'}, found ${String(t)}`, path);
    return col;
  };
  const cols = { id: column('id', true)!, prompt: column('prompt', true)!, target: column('target', true)!, split: column('split', true)!, label: column('label', false) };
  const out: RecRecord[] = [];
  const seen = new Map<string, number>();
  for (let r = 0; r < table.numRows; r++) {
    const raw = cols.label?.get(r);
    const label = raw === null || raw === undefined ? undefined : Number(raw); // booleans → 0/1, Int64 bigint → number
    const rec = toRecord(cols.id.get(r), cols.prompt.get(r), cols.target.get(r), label, cols.split.get(r), (field, expected, found) => {
      throw new DlabInputError(`${path}: row ${r}, column "${field}": expected ${expected}, found ${describe(found)}`, path);
    });
    const first = seen.get(rec.id);
    if (first !== undefined) throw new DlabInputError(`${path}: row ${r}, column "id": ${JSON.stringify(rec.id)} already used in row ${first}`, path);
    seen.set(rec.id, r);
    out.push(rec);
  }
  return out;
}

function isString(t: DataType): boolean {
  return DataType.isUtf8(t) || DataType.isLargeUtf8(t);
}

function toRecord(
  id: unknown,
  prompt: unknown,
  target: unknown,
  label: unknown,
  split: unknown,
  bad: (field: string, expected: string, found: unknown) => never,
): RecRecord {
  if (typeof id !== 'string' || id === '') bad('id', 'a non-empty string', id);
  if (typeof prompt !== 'string') bad('prompt', 'a string', prompt);
  if (typeof target !== 'string' || target === '') bad('target', 'a non-empty string', target);
  if (typeof split !== 'string' || !SPLITS.includes(split as RecSplit)) bad('split', `one of ${SPLITS.map((s) => `"${s}"`).join(', ')}`, split);
  const rec: RecRecord = { id: id as string, prompt: prompt as string, target: target as string, split: split as RecSplit };
  if (label !== undefined && label !== null) {
    if (label !== 0 && label !== 1) bad('label', '0 or 1 (or absent)', label);
    rec.label = label as 0 | 1;
  }
  return rec;
}

function readSource<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new DlabInputError(`${path}: cannot read (${(e as Error).message})`, path);
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

import { readFileSync } from 'node:fs';
import { DlabInputError } from '../errors';

/**
 * User data — docs/icrlvr.md, "Tasks": one JSON object per line (blank lines skipped),
 *   questions  {id, question, answer, solution?}   (GSM8K/MATH style)
 *   demo pool  {id, question, solution}
 * `id` may be a string or an integer (kept as its decimal string); `answer` a string or a
 * finite number (kept as String(answer)); `question`/`solution` non-empty strings. Ids must
 * be unique within a file. A bad line throws DlabInputError "<file>:<line>: field ..."
 * naming what was expected and what was found.
 */

export interface QuestionRecord {
  id: string;
  question: string;
  answer: string;
  solution?: string;
}

export interface DemoRecord {
  id: string;
  question: string;
  solution: string;
}

export function loadQuestionsJsonl(path: string): QuestionRecord[] {
  return readJsonl(path, (obj, where) => {
    const rec: QuestionRecord = {
      id: idField(obj, where),
      question: stringField(obj, 'question', where),
      answer: answerField(obj, where),
    };
    if (obj.solution !== undefined) rec.solution = stringField(obj, 'solution', where);
    return rec;
  });
}

export function loadDemosJsonl(path: string): DemoRecord[] {
  return readJsonl(path, (obj, where) => ({
    id: idField(obj, where),
    question: stringField(obj, 'question', where),
    solution: stringField(obj, 'solution', where),
  }));
}

function readJsonl<T extends { id: string }>(path: string, parse: (obj: Record<string, unknown>, where: string) => T): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DlabInputError(`${path}: cannot read JSONL file (${(err as Error).message})`, path);
  }
  const out: T[] = [];
  const idLine = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.length === 0) continue;
    const where = `${path}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DlabInputError(`${where}: expected one JSON object per line, found invalid JSON (${(err as Error).message})`, where);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new DlabInputError(`${where}: expected a JSON object, found ${describe(obj)}`, where);
    }
    const rec = parse(obj as Record<string, unknown>, where);
    const first = idLine.get(rec.id);
    if (first !== undefined) throw new DlabInputError(`${where}: field "id": expected a unique id, found "${rec.id}" again (first on line ${first})`, where);
    idLine.set(rec.id, i + 1);
    out.push(rec);
  }
  return out;
}

function idField(obj: Record<string, unknown>, where: string): string {
  const v = obj.id;
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  throw new DlabInputError(`${where}: field "id": expected a non-empty string or an integer, found ${describe(v)}`, where);
}

function stringField(obj: Record<string, unknown>, field: string, where: string): string {
  const v = obj[field];
  if (typeof v === 'string' && v.length > 0) return v;
  throw new DlabInputError(`${where}: field "${field}": expected a non-empty string, found ${describe(v)}`, where);
}

function answerField(obj: Record<string, unknown>, where: string): string {
  const v = obj.answer;
  if (typeof v === 'string' && v.trim().length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new DlabInputError(`${where}: field "answer": expected a non-empty string or a finite number, found ${describe(v)}`, where);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

import { Table } from 'apache-arrow';
import { generateRecData, loadRecArrow, loadRecJsonl, recTextRecords, RecRecord, RecSplit, RecSynthConfig } from '../data/rec-synth';
import { DlabInputError } from '../errors';
import type { PromptFormat } from '../model/prompt';
import { readNumbers, tableFromColumns } from '../store/columns';
import type { GoracsConfig } from '../../schemas/config/goracs';
import { binaryTestLabels } from './evaluate';
import { requireBinaryLabels } from './label-enhanced';

/**
 * The samples of a GORACS run, in one fixed order (the row index is every later
 * artifact's `index`): built-in synthetic data (pool, then validation, then test) or a
 * user's JSONL / Arrow file in file order.
 */
export type SampleSource = ({ type: 'synthetic' } & RecSynthConfig) | { type: 'jsonl' | 'arrow'; path: string };

export function loadSamples(src: SampleSource): RecRecord[] {
  if (src.type === 'jsonl') return loadRecJsonl(src.path);
  if (src.type === 'arrow') return loadRecArrow(src.path);
  const { type: _type, ...cfg } = src as { type: 'synthetic' } & RecSynthConfig;
  const data = generateRecData(cfg);
  return recTextRecords([...data.pool, ...data.validation, ...data.test]);
}

/** Rows of each split, in sample order. Throws DlabInputError (naming `source`) for an empty pool or validation set. */
export function splitRows(records: RecRecord[], source: string): Record<RecSplit, Int32Array> {
  const out: Record<RecSplit, number[]> = { pool: [], validation: [], test: [] };
  records.forEach((r, i) => out[r.split].push(i));
  if (!out.pool.length) throw new DlabInputError(`${source}: no sample has split "pool"; GORACS selects from the pool`, source);
  if (!out.validation.length) throw new DlabInputError(`${source}: no sample has split "validation"; the OT target distribution is the validation set`, source);
  return { pool: Int32Array.from(out.pool), validation: Int32Array.from(out.validation), test: Int32Array.from(out.test) };
}

export function samplesTable(records: RecRecord[]): Table {
  return tableFromColumns({
    id: records.map((r) => r.id),
    prompt: records.map((r) => r.prompt),
    target: records.map((r) => r.target),
    split: records.map((r) => r.split),
    label: Int32Array.from(records, (r) => r.label ?? -1),
  });
}

export function readSamples(t: Table): RecRecord[] {
  const label = readNumbers(t, 'label');
  const col = (name: string) => t.getChild(name)!;
  const [id, prompt, target, split] = ['id', 'prompt', 'target', 'split'].map(col);
  const out: RecRecord[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const r: RecRecord = { id: id.get(i), prompt: prompt.get(i), target: target.get(i), split: split.get(i) };
    if (label[i] === 0 || label[i] === 1) r.label = label[i] as 0 | 1;
    out.push(r);
  }
  return out;
}

/**
 * The samples of a GORACS run, checked against its config before anything is embedded: the
 * splits, the budget against the pool and the validation set, the labels the label-enhanced
 * variant and the binary evaluation need, and enough distinct items for the next-item
 * evaluation's negatives. Throws DlabInputError naming the field and the data source.
 */
export function checkedSamples(cfg: GoracsConfig): { records: RecRecord[]; split: Record<RecSplit, Int32Array>; source: string } {
  const records = loadSamples(cfg.data);
  const source = cfg.data.type === 'synthetic' ? 'synthetic data' : cfg.data.path;
  const split = splitRows(records, source);
  if (cfg.budget > split.pool.length) throw new DlabInputError(`budget n = ${cfg.budget} exceeds the pool size ${split.pool.length} of ${source}`, 'budget');
  if (cfg.budget > split.validation.length) {
    throw new DlabInputError(`budget n = ${cfg.budget} exceeds the validation size ${split.validation.length} of ${source} (the greedy start gives at most |V| rows positive weight)`, 'budget');
  }
  if (cfg.variant === 'label-enhanced') {
    const rows = [...split.pool, ...split.validation];
    requireBinaryLabels(rows.map((r) => records[r].label), (i) => `${records[rows[i]].id} of ${source}`);
  }
  const ev = cfg.evaluation;
  if (ev.enabled && ev.task === 'binary') binaryTestLabels(records, split.test, { yes: ev.binaryTargets[0], no: ev.binaryTargets[1] });
  if (ev.enabled && ev.task !== 'binary') {
    const items = cfg.data.type === 'synthetic' ? cfg.data.items : new Set(records.map((r) => r.target)).size;
    if (ev.negatives >= items) throw new DlabInputError(`evaluation.negatives ${ev.negatives} needs at least ${ev.negatives + 1} distinct items; ${source} has ${items}`, 'evaluation.negatives');
  }
  return { records, split, source };
}

/**
 * Every sample fits the model: its prompt and target encoded together (PromptFormat.continuation)
 * ≤ maxPos (maxPos null: unknown, nothing checked), with a non-empty prompt and target. Test
 * samples only `withTest` (they are fed to the model by the evaluation alone). With `items` (the
 * candidates next-item evaluation ranks after every test prompt), also each test prompt with the
 * longest item, and the longest test prompt with every item: O(T + I) encodings. Throws
 * DlabInputError naming the sample (and item), the data source and where the positions come
 * from (`field`).
 */
export function checkSampleLengths(records: RecRecord[], prompts: PromptFormat, maxPos: number | null, field: string, source: string, withTest = true, items?: string[]): void {
  for (const r of records) {
    if (!withTest && r.split === 'test') continue;
    const { context, target } = prompts.continuation(r.prompt, r.target);
    if (context.length === 0) throw new DlabInputError(`sample ${r.id} of ${source}: empty prompt (nothing to predict the target from)`, r.id);
    if (target.length === 0) throw new DlabInputError(`sample ${r.id} of ${source}: its target ${JSON.stringify(r.target)} adds no tokens after the prompt`, r.id);
    const n = context.length + target.length;
    if (maxPos !== null && n > maxPos) throw new DlabInputError(`sample ${r.id} of ${source}: ${n} tokens (prompt + target), but the model has ${maxPos} positions (${field})`, r.id);
  }
  if (!items || maxPos === null || !withTest) return;
  const tests = records.filter((r) => r.split === 'test');
  if (!tests.length || !items.length) return;
  const pair = (r: RecRecord, item: string) => {
    const c = prompts.continuation(r.prompt, item);
    const n = c.context.length + c.target.length;
    if (n > maxPos) throw new DlabInputError(`test sample ${r.id} of ${source} with candidate item ${JSON.stringify(item)}: ${n} tokens (prompt + item), but the model has ${maxPos} positions (${field})`, r.id);
  };
  const longest = <T>(xs: T[], size: (x: T) => number) => xs.reduce((m, x) => (size(x) > size(m) ? x : m), xs[0]);
  const longItem = longest(items, (s) => prompts.tokenizer.encode(s).length);
  const longTest = longest(tests, (r) => prompts.encode(r.prompt).length);
  for (const r of tests) pair(r, longItem);
  for (const item of items) pair(longTest, item);
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { pullModelTokenizer } from '../lib/model/model-store';
import type { Tokenizer } from '../lib/model/tokenizer';
import type { FileStore } from '../lib/store/files';
import { DlabInputError } from '../lib/errors';
import { evaluationItems } from '../lib/goracs/evaluate';
import { checkedSamples, checkSampleLengths } from '../lib/goracs/samples';
import { checkTaskFits, makeTaskData } from '../lib/icrlvr/data';
import { checkPositions } from '../lib/icrlvr/positions';
import { fileSha256, modelLimits, readModelDir } from '../lib/model/model-dir';
import { loadTokenizer } from '../lib/model/tokenizers';
import { lostInTokenization } from '../lib/model/tokenizer';
import type { ExperimentKind } from '../schemas/config';
import type { GoracsConfig } from '../schemas/config/goracs';
import type { IcrlvrConfig } from '../schemas/config/icrlvr';

/**
 * What `dlab run` checks before it starts a workflow, with the same code the first activity
 * runs: the model directory (every file against model.json), the data files (readable, parsed,
 * required keys, duplicate ids, splits) and what the config asks of them (budget, labels,
 * negatives, questions per step, demonstrations). Returns the input files with their sha256,
 * which the workflow's start records, so a file changed between two runs shows in the history,
 * and warnings for what the tokenizer would silently lose (unknown characters, item tokens it
 * does not have).
 */
export async function precheckExperiment(kind: ExperimentKind, config: unknown, store?: FileStore): Promise<{ inputFiles: Record<string, string>; warnings: string[] }> {
  const model = (config as { model?: { dir?: string; sha256?: string } }).model;
  if (!model?.sha256) return precheckWith(kind, config);
  // a stored model: its model.json and tokenizer files (not its weights) into a scratch directory
  if (!store) throw new Error('precheckExperiment: a config naming a model by its sha256 needs the artifact store');
  const scratch = await mkdtemp(join(tmpdir(), 'dlab-precheck-'));
  try {
    const { json, tokenizerPath } = await pullModelTokenizer(store, model.sha256, scratch);
    return await precheckWith(kind, config, { tokenizer: loadTokenizer(tokenizerPath), maxPos: json.dims.maxPos, dir: `model ${model.sha256}` });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function precheckWith(kind: ExperimentKind, config: unknown, stored?: { tokenizer: Tokenizer; maxPos: number | null; dir: string }): Promise<{ inputFiles: Record<string, string>; warnings: string[] }> {
  const files: Record<string, string> = {};
  const warnings: string[] = [];
  const model = (config as { model?: { dir?: string } }).model;
  const dir = model?.dir ? await readModelDir(model.dir) : undefined;
  if (model?.dir && dir) files[join(model.dir, 'model.json')] = dir.sha256;
  // a directory's tokenizer and positions (a built model's come from its build config)
  const loaded = dir && model?.dir ? { tokenizer: loadTokenizer(dir.tokenizerPath), maxPos: dir.json.dims.maxPos, dir: model.dir } : stored;
  if (kind === 'icrlvr') {
    const cfg = config as IcrlvrConfig;
    const data = makeTaskData(cfg.task);
    checkTaskFits(data, cfg);
    const limits = modelLimits(cfg.model, loaded);
    checkPositions(limits.prompts, limits.maxPos, data, cfg, limits.field);
    const texts = function* () {
      for (const q of [...data.train, ...data.heldOut]) yield [`question ${q.id}`, `${q.question}${q.solution}${q.answer}`] as [string, string];
      for (const d of data.demos) yield [`demonstration ${d.id}`, `${d.question}${d.solution}`] as [string, string];
    };
    warnings.push(...lostInTokenization(limits.tokenizer, texts()));
    if (cfg.task.type === 'jsonl') for (const f of [cfg.task.questions, cfg.task.heldOut, cfg.task.demos]) files[f] = await inputSha256(f);
  } else if (kind === 'goracs') {
    const cfg = config as GoracsConfig;
    const { records, source } = checkedSamples(cfg);
    const limits = modelLimits(cfg.model, loaded);
    const nextItem = cfg.evaluation.enabled && cfg.evaluation.task !== 'binary';
    checkSampleLengths(records, limits.prompts, limits.maxPos, limits.field, source, cfg.evaluation.enabled, nextItem ? evaluationItems(cfg.data, records) : undefined);
    warnings.push(...lostInTokenization(limits.tokenizer, records.map((r) => [`sample ${r.id}`, `${r.prompt}${r.target}`] as [string, string])));
    if (cfg.data.type !== 'synthetic') files[cfg.data.path] = await inputSha256(cfg.data.path);
  }
  return { inputFiles: files, warnings };
}

/** sha256 of an input file (lib's stat-cached hash), an input error naming it if it cannot be read. */
async function inputSha256(path: string): Promise<string> {
  try {
    return await fileSha256(path);
  } catch (err) {
    throw new DlabInputError(`${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
  }
}

/**
 * The config with its relative paths (model.dir; icrlvr task.questions / heldOut / demos; goracs
 * data.path) made absolute against `baseDir`, the config file's directory, so a config means the
 * same files whatever directory `dlab run` or the worker runs in. Other values are unchanged.
 */
export function resolveConfigPaths(kind: string, raw: unknown, baseDir: string): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const abs = (v: unknown) => (typeof v === 'string' && v !== '' && !isAbsolute(v) ? resolve(baseDir, v) : v);
  const c = structuredClone(raw) as Record<string, Record<string, unknown> | undefined>;
  if (c.model && typeof c.model === 'object' && 'dir' in c.model) c.model.dir = abs(c.model.dir);
  if (kind === 'icrlvr' && c.task && c.task.type === 'jsonl') for (const k of ['questions', 'heldOut', 'demos']) if (k in c.task) c.task[k] = abs(c.task[k]);
  if (kind === 'goracs' && c.data && (c.data.type === 'jsonl' || c.data.type === 'arrow')) c.data.path = abs(c.data.path);
  return c;
}

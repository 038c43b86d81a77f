import type { GptWeights } from './gpt-weights';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../store/atomic';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { z } from 'zod';
import { MODEL_HEAD } from '../../schemas/artifacts';
import type { ModelBuildConfig } from '../../schemas/config/model';
import { DlabInputError } from '../errors';
import { decodeArtifact, encodeArtifact } from '../store/artifact-store';
import { buildDecoder } from './gpt';
import { Head, headFromTable, headToTable, makeHead } from './head';
import { checkPrepareDtype, prepareDecoder, prepareDecoderFile } from './prepare';
import { PromptFormat, promptFormat } from './prompt';
import { readExportConfig, readExportDir } from './export-dir';
import type { Tokenizer } from './tokenizer';
import { TOKENIZER_SIDE_FILES } from './tokenizers/huggingface';
import { BuiltinTokenizer } from './tokenizers/builtin';
import { builtinTokenizerText, loadTokenizer } from './tokenizers';

/**
 * A model directory: what every dlab experiment loads a policy from.
 *
 *   model.json      this description (dims, files and their sha256, where it came from)
 *   backbone.onnx   ids (+ KV cache) → last_hidden_state (+ cache)
 *   head.arrow      W [V, d] and b [V] (model.head@1)
 *   tokenizer.json  Hugging Face tokenizer.json, or the built-in tokenizer's JSON
 *   further files   model.json `files` (name relative to the directory → sha256): the backbone's
 *                   external data (named in `backboneData`), tokenizer configs, …
 */
export interface ModelJson {
  format: 'dlab-model';
  version: 1;
  kind: 'decoder';
  backbone: string;
  head: string;
  tokenizer: string;
  /** nKvHead: key/value heads under grouped-query attention (absent: nHead); maxPos null: unknown */
  dims: { vocab: number; dModel: number; nLayer: number; nHead: number; nKvHead?: number; headDim: number; maxPos: number | null };
  tied: boolean;
  hasBias: boolean;
  sha256: { backbone: string; head: string; tokenizer: string };
  /** every further file of the directory: relative name → sha256 (absent in older directories: none) */
  files?: Record<string, string>;
  /** the names in `files` that hold the backbone's external data (its weights when not inline) */
  backboneData?: string[];
  source: Record<string, unknown>;
}

/** A further file of a model directory: copied from the file `from` to `name` (relative to the directory). */
export interface ExtraFile {
  name: string;
  from: string;
}

/** The files every model directory has; an extra file may not take these names. */
const CORE_FILES = new Set(['model.json', 'backbone.onnx', 'head.arrow', 'tokenizer.json']);

/** A file name inside a model directory: relative, "/"-separated, no "." or ".." segment, not a core file. */
export function checkDirFileName(name: string, what: string): void {
  const parts = name.split('/');
  if (!name || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..') || CORE_FILES.has(name)) {
    throw new DlabInputError(`${what}: "${name}" cannot name a file of a model directory (a relative path without "." or ".." segments, other than ${[...CORE_FILES].join(', ')})`, name);
  }
}

/**
 * The backbone's identity: the sha256 of backbone.onnx when its weights are inline; with external
 * data, the sha256 over that hash and each data file's name and hash (the graph alone does not
 * fix the weights).
 */
export function backboneSha256(json: ModelJson): string {
  const data = json.backboneData ?? [];
  if (!data.length) return json.sha256.backbone;
  const lines = [json.sha256.backbone, ...[...data].sort().map((n) => `${n} ${json.files?.[n] ?? ''}`)];
  return sha(Buffer.from(lines.join('\n')));
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');


/** Head file bytes (same encoding as the artifact store; lineage says which model it came from). */
export function encodeHead(head: Head, source: string, parents: string[] = []): Uint8Array {
  return encodeArtifact(headToTable(head), MODEL_HEAD, { experimentId: '', stage: 'prepare', producer: source, configHash: '', codeVersion: '', parents });
}

export interface Parts {
  backbone: Uint8Array;
  head: Head;
  tokenizerJson: string;
  dims: ModelJson['dims'];
  tied: boolean;
  hasBias: boolean;
  source: Record<string, unknown>;
  /** further files to copy into the directory (hard-linked when possible), each hashed into model.json `files` */
  files?: ExtraFile[];
  /** the names among `files` that hold the backbone's external data */
  backboneData?: string[];
}

/** Places `from` at `to`: a hard link when the file system allows, else a copy (by the kernel, not through memory). */
async function linkOrCopy(from: string, to: string, name: string): Promise<void> {
  try {
    await fs.link(from, to);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DlabInputError(`${from}: cannot read it (no such file), to be the model directory's ${name}`, from);
  }
  try {
    await fs.copyFile(from, to);
  } catch (err) {
    throw new DlabInputError(`${from}: cannot copy it to the model directory's ${name} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, from);
  }
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Writes the directory whole or not at all: the files go into a temporary sibling directory
 * that is renamed into place. Onto an existing directory: with `replace`, it is swapped out
 * (and removed); without, a directory that already holds exactly this model is kept as it is
 * (another worker built the same one), and any other is refused, naming it. Extra files are
 * hard-linked or copied in and listed with their sha256 in model.json `files`.
 */
export async function writeModelDir(dir: string, p: Parts, opts: { replace?: boolean } = {}): Promise<ModelJson> {
  const extra = p.files ?? [];
  const names = new Set<string>();
  for (const f of extra) {
    checkDirFileName(f.name, 'model directory file');
    if (names.has(f.name)) throw new DlabInputError(`model directory file "${f.name}" is given twice`, f.name);
    names.add(f.name);
  }
  for (const n of p.backboneData ?? []) if (!names.has(n)) throw new Error(`writeModelDir: backboneData names ${n}, which is not among the files`);
  await fs.mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    const files: Record<string, string> = {};
    for (const f of [...extra].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const to = join(tmp, f.name);
      await fs.mkdir(dirname(to), { recursive: true });
      await linkOrCopy(f.from, to, f.name);
      files[f.name] = await hashFile(to);
    }
    const partial = { sha256: { backbone: sha(p.backbone), head: '', tokenizer: '' }, files, backboneData: [...(p.backboneData ?? [])].sort() } as ModelJson;
    const headBytes = encodeHead(p.head, String(p.source.kind ?? 'model'), [backboneSha256(partial)]);
    const json: ModelJson = {
      format: 'dlab-model',
      version: 1,
      kind: 'decoder',
      backbone: 'backbone.onnx',
      head: 'head.arrow',
      tokenizer: 'tokenizer.json',
      dims: p.dims,
      tied: p.tied,
      hasBias: p.hasBias,
      sha256: { backbone: sha(p.backbone), head: sha(headBytes), tokenizer: sha(Buffer.from(p.tokenizerJson)) },
      ...(extra.length ? { files, backboneData: partial.backboneData } : {}),
      source: p.source,
    };
    const text = JSON.stringify(json, null, 2) + '\n';
    await writeFileAtomic(join(tmp, 'backbone.onnx'), p.backbone);
    await writeFileAtomic(join(tmp, 'head.arrow'), headBytes);
    await writeFileAtomic(join(tmp, 'tokenizer.json'), p.tokenizerJson);
    await writeFileAtomic(join(tmp, 'model.json'), text);
    await installDir(tmp, dir, text, opts.replace === true);
    return json;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function installDir(tmp: string, dir: string, modelJson: string, replace: boolean): Promise<void> {
  try {
    await fs.rename(tmp, dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
  }
  // a directory that already holds exactly this model (another worker built the same one) is
  // kept as it is, even with `replace`: swapping it would take it away from readers for a moment
  const existing = await fs.readFile(join(dir, 'model.json'), 'utf8').catch(() => undefined);
  if (existing === modelJson && (await readModelDir(dir).then(() => true, () => false))) return;
  if (!replace) throw new DlabInputError(`${dir} already exists${existing ? ' and holds another model' : ''}; choose another directory, or pass --force to replace it`, dir);
  const old = `${tmp}.old`;
  await fs.rename(dir, old);
  try {
    await fs.rename(tmp, dir);
  } catch (err) {
    await fs.rename(old, dir).catch(() => undefined); // put the old one back rather than leave nothing
    throw err;
  }
  await fs.rm(old, { recursive: true, force: true });
}

/** Counts `past_key_values.{i}.key` inputs and reads [_, nHead, _, headDim] from the first. */
function cacheDims(bytes: Uint8Array, source: string): { nLayer: number; nHead?: number; headDim?: number } {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const keys = (graph.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? ''));
  if (!keys.length) throw new DlabInputError(`${source}: no past_key_values.{i}.key inputs: export the decoder with its KV cache (Optimum: task text-generation-with-past)`);
  const dim = keys[0].type?.tensorType?.shape?.dim ?? [];
  const num = (i: number) => (dim[i]?.dimValue !== undefined && dim[i]?.dimValue !== null ? Number(dim[i].dimValue) : undefined);
  return { nLayer: keys.length, nHead: num(1), headDim: num(3) };
}

/** `dlab model build`'s config as given (defaults not yet applied): schemas/config/model.ts. */
export type BuildConfig = z.input<typeof ModelBuildConfig>;

/**
 * `dlab model build`: a GPT decoder from its config (random weights, or `trained` ones with a
 * note of how they were trained), with the built-in tokenizer, then prepared exactly as a
 * user's export is. `vocab` must cover the tokenizer.
 */
export async function buildModelDir(cfg: BuildConfig, dir: string, trained?: { weights: GptWeights; how: Record<string, unknown> }, opts: { replace?: boolean } = {}): Promise<ModelJson> {
  const tokenizer = new BuiltinTokenizer(cfg.tokenizer ?? {});
  if (cfg.vocab < tokenizer.vocabSize) throw new DlabInputError(`model config: vocab (${cfg.vocab}) is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`, 'vocab');
  const decoder = buildDecoder(cfg, trained?.weights);
  const p = prepareDecoder(decoder, 'built decoder');
  const tokenizerJson = builtinTokenizerText(tokenizer);
  return writeModelDir(dir, {
    backbone: p.backbone,
    head: makeHead(p.W, p.b, p.vocab, p.dModel),
    tokenizerJson,
    dims: { vocab: cfg.vocab, dModel: cfg.dModel, nLayer: cfg.nLayer, nHead: cfg.nHead, headDim: cfg.dModel / cfg.nHead, maxPos: cfg.maxPos },
    tied: p.tied,
    hasBias: !!p.b,
    source: { kind: 'built', config: cfg, decoderSha256: sha(decoder), ...(trained ? { pretrained: trained.how } : {}) },
  }, opts);
}

/** What `dlab model prepare` takes: an export directory (`from`), or its graph and tokenizer files. */
export type PrepareOptions = ({ from: string } | { onnx: string; tokenizer: string }) & {
  out: string;
  /** query heads, when neither the graph nor config.json fixes them */
  nHead?: number;
  /** positions, when config.json does not say (or fewer than it says) */
  maxPos?: number;
  replace?: boolean;
  /** the backbone's dtype: float32 (the only value; float16/bfloat16 exports are up-cast) */
  dtype?: string;
};

/**
 * `dlab model prepare`: a user's (or our) Optimum-layout decoder + tokenizer → a model directory.
 *
 * From an export directory (`from`, lib/model/export-dir.ts) or its files: the .onnx may keep its
 * tensors as external data beside it, in float32, float16 or bfloat16 (up-cast: `dtype` can only
 * be float32). The tokenizer's side files (tokenizer_config.json, generation_config.json,
 * config.json, … beside tokenizer.json) are kept in the directory, so a load reads the tokenizer
 * exactly as it was read here. Dimensions:
 *   nHead    --n-head, else config.json num_attention_heads, else the cache's heads;
 *   nKvHead  the cache's heads (past_key_values.0.key axis 1, else config num_key_value_heads)
 *            when they differ from nHead (grouped-query attention);
 *   maxPos   --max-pos (at most config's), else config.json max_position_embeddings, else unknown;
 *   vocab    the head's rows; config.json vocab_size must agree.
 */
export async function prepareModelDir(opts: PrepareOptions): Promise<ModelJson> {
  const exp = 'from' in opts ? readExportDir(opts.from) : undefined;
  const onnxPath = exp?.onnx ?? (opts as { onnx: string }).onnx;
  const tokenizerPath = exp?.tokenizer ?? (opts as { tokenizer: string }).tokenizer;
  const config = exp?.config ?? readExportConfig(join(dirname(onnxPath), 'config.json'));
  const dtype = checkPrepareDtype(opts.dtype, '--dtype');
  // files the up-cast writes wait here (beside the output, so they can be hard-linked in)
  const stage = join(dirname(opts.out), `.${basename(opts.out)}.stage-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const tok: Tokenizer = await loadTokenizer(tokenizerPath); // before the (possibly long) surgery and up-cast
    const sideFiles = exp?.sideFiles ?? sideFilesBeside(tokenizerPath);
    const p = await prepareDecoderFile(onnxPath, { dtype, stage });
    const cache = cacheDims(p.backbone, onnxPath);
    const cfgAt = (field: string) => `${config.path}: ${field}`;
    if (opts.nHead !== undefined && config.nHead !== undefined && opts.nHead !== config.nHead) {
      throw new DlabInputError(`--n-head ${opts.nHead}: ${cfgAt('num_attention_heads')} is ${config.nHead}`, 'nHead');
    }
    if (cache.nHead !== undefined && config.nKvHead !== undefined && cache.nHead !== config.nKvHead) {
      throw new DlabInputError(`${onnxPath}: past_key_values.0.key has ${cache.nHead} heads, but ${cfgAt('num_key_value_heads')} is ${config.nKvHead}`, 'past_key_values.0.key');
    }
    if (opts.nHead !== undefined && cache.nHead !== undefined && config.nHead === undefined && config.nKvHead === undefined && opts.nHead !== cache.nHead) {
      // without config.json's heads, grouped-query attention cannot be told from a mistake
      throw new DlabInputError(`--n-head ${opts.nHead}: ${onnxPath} fixes ${cache.nHead} heads in past_key_values.0.key (and no config.json says the model has grouped-query attention)`, 'nHead');
    }
    const cacheHeads = cache.nHead ?? config.nKvHead ?? config.nHead ?? opts.nHead;
    const nHead = opts.nHead ?? config.nHead ?? cacheHeads;
    if (!nHead || !cacheHeads) throw new DlabInputError(`${onnxPath}: the number of attention heads is not fixed in past_key_values.0.key${config.path ? ` nor in ${config.path}` : ''}; pass --n-head`, 'nHead');
    if (nHead % cacheHeads !== 0) {
      const by = opts.nHead !== undefined ? `--n-head ${opts.nHead}` : cfgAt(`num_attention_heads ${nHead}`);
      throw new DlabInputError(`${by}: ${onnxPath} fixes ${cacheHeads} heads in past_key_values.0.key (key/value heads; the query heads must be a multiple of them)`, 'nHead');
    }
    const headDim = cache.headDim ?? p.dModel / nHead;
    if (config.vocab !== undefined && config.vocab !== p.vocab) throw new DlabInputError(`${cfgAt('vocab_size')} is ${config.vocab}, but the output head of ${onnxPath} has ${p.vocab} rows`, config.path);
    if (opts.maxPos !== undefined && config.maxPos !== undefined && opts.maxPos > config.maxPos) {
      throw new DlabInputError(`--max-pos ${opts.maxPos}: the model has ${config.maxPos} positions (${cfgAt('max_position_embeddings')})`, 'maxPos');
    }
    if (tok.vocabSize > p.vocab) throw new DlabInputError(`${tokenizerPath}: ${tok.vocabSize} tokens, but the model's head has only ${p.vocab} rows`, tokenizerPath);
    const taken = new Set(p.files.map((f) => f.name));
    const clash = sideFiles.find((f) => taken.has(f.name));
    if (clash) throw new DlabInputError(`${clash.from}: the backbone's external data has a file of the same name`, clash.from);
    return await writeModelDir(opts.out, {
      backbone: p.backbone,
      head: makeHead(p.W, p.b, p.vocab, p.dModel),
      tokenizerJson: await fs.readFile(tokenizerPath, 'utf8'),
      dims: { vocab: p.vocab, dModel: p.dModel, nLayer: cache.nLayer, nHead, ...(cacheHeads !== nHead ? { nKvHead: cacheHeads } : {}), headDim, maxPos: opts.maxPos ?? config.maxPos ?? null },
      tied: p.tied,
      hasBias: !!p.b,
      files: [...p.files, ...sideFiles],
      backboneData: p.files.map((f) => f.name),
      source: {
        kind: 'prepared',
        ...(exp ? { from: exp.dir } : {}),
        onnx: onnxPath,
        onnxSha256: sha(p.onnxBytes),
        opset: p.opset,
        dtype: p.sourceDtype,
        upcast: p.upcast,
        ...(config.modelType ? { modelType: config.modelType } : {}),
      },
    }, { replace: opts.replace });
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
  }
}

/** The tokenizer's side files (TOKENIZER_SIDE_FILES) present beside `tokenizerPath`. */
function sideFilesBeside(tokenizerPath: string): ExtraFile[] {
  const dir = dirname(tokenizerPath);
  return TOKENIZER_SIDE_FILES.filter((f) => existsSync(join(dir, f))).map((name) => ({ name, from: join(dir, name) }));
}

/**
 * model.json, with every file it lists checked against its sha256 (a file changed since the
 * directory was written, or missing, is an input error naming it), the absolute paths of the
 * files, and the sha256 of model.json itself: the model's content address (it lists every file's
 * hash).
 */
export async function readModelDir(dir: string): Promise<{ json: ModelJson; sha256: string; backbonePath: string; headPath: string; tokenizerPath: string; files: Record<string, string> }> {
  const file = join(dir, 'model.json');
  let text: string;
  let json: ModelJson;
  try {
    text = await fs.readFile(file, 'utf8');
    json = JSON.parse(text) as ModelJson;
  } catch (err) {
    throw new DlabInputError(`${file}: cannot read a model description (${(err as Error).message}); make one with \`dlab model build\` or \`dlab model prepare\``, file);
  }
  if (json.format !== 'dlab-model' || json.version !== 1) throw new DlabInputError(`${file}: expected format "dlab-model" version 1, found ${json.format} ${json.version}`, file);
  const paths = { backbonePath: join(dir, json.backbone), headPath: join(dir, json.head), tokenizerPath: join(dir, json.tokenizer) };
  const extra = Object.entries(json.files ?? {});
  for (const [name] of extra) checkDirFileName(name, `${file} files`);
  const files = Object.fromEntries(extra.map(([name]) => [name, join(dir, name)]));
  const checks: [string, string, string | undefined][] = [
    ['backbone', paths.backbonePath, json.sha256?.backbone],
    ['head', paths.headPath, json.sha256?.head],
    ['tokenizer', paths.tokenizerPath, json.sha256?.tokenizer],
    ...extra.map(([name, want]): [string, string, string] => [`file ${name}`, files[name], want]),
  ];
  for (const [part, path, expected] of checks) {
    let actual: string;
    try {
      actual = await fileSha256(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new DlabInputError(`${path}: the model's ${part} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (err as Error).message})`}; prepare the model directory again`, path);
    }
    if (actual !== expected) throw new DlabInputError(`${path}: sha256 is ${actual}, but ${file} says ${expected}: the file changed after the model directory was written`, path);
  }
  return { json, sha256: sha(Buffer.from(text)), ...paths, files };
}

/** Hashes of files already read, by path, with the stat they were read at. */
const hashed = new Map<string, { stamp: string; sha256: string; trusted: boolean }>();

/**
 * sha256 of a file's bytes, read again only when its size, inode, modification or change time
 * differ from when it was last hashed in this process (so a worker checks a large model on each
 * load without reading it each time).
 */
export async function fileSha256(path: string): Promise<string> {
  const st = await fs.stat(path, { bigint: true });
  const stamp = `${st.size}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
  const known = hashed.get(path);
  if (known?.trusted && known.stamp === stamp) return known.sha256;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  const sha256 = h.digest('hex');
  // a file modified within a second of being hashed could change again within the same
  // timestamp tick: such a hash is not reused
  const trusted = Date.now() - Number(st.mtimeNs / 1_000_000n) > 1000;
  hashed.set(path, { stamp, sha256, trusted });
  return sha256;
}

/** The head stored in a model directory, hash-checked against model.json. */
export async function readHeadFile(path: string, expectedSha256?: string): Promise<Head> {
  const bytes = await fs.readFile(path);
  const actual = sha(bytes);
  if (expectedSha256 && actual !== expectedSha256) throw new DlabInputError(`${path}: expected sha256 ${expectedSha256} (model.json), found ${actual}`, path);
  return headFromTable(decodeArtifact(bytes, 'model.head@1', path, actual), path);
}

/**
 * The tokenizer, prompt format and positions a run's model has: from its build config
 * (built-in tokenizer, `maxPos`) or, for a directory, from its files as `loaded` (maxPos null:
 * unknown) and the config's `chatTemplate`. `field` says where the positions come from, for errors.
 */
export function modelLimits(
  model: { build: BuildConfig } | { dir: string; chatTemplate?: boolean } | { sha256: string; chatTemplate?: boolean },
  loaded?: { tokenizer: Tokenizer; maxPos: number | null; dir: string },
): { tokenizer: Tokenizer; prompts: PromptFormat; maxPos: number | null; field: string } {
  if ('build' in model) {
    const tokenizer = new BuiltinTokenizer(model.build.tokenizer ?? {});
    return { tokenizer, prompts: promptFormat(tokenizer), maxPos: model.build.maxPos, field: 'model.build.maxPos' };
  }
  if (!loaded) throw new Error('modelLimits: a model directory needs its loaded tokenizer');
  return { tokenizer: loaded.tokenizer, prompts: promptFormat(loaded.tokenizer, { chatTemplate: model.chatTemplate }, loaded.dir), maxPos: loaded.maxPos, field: `dims.maxPos of ${loaded.dir}/model.json` };
}

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ArtifactIntegrityError, DlabInputError } from '../errors';
import type { FileStore } from '../store/files';
import { checkDirFileName, ModelJson, readModelDir } from './model-dir';

/**
 * Model directories in the artifact store, by content. A model's address is the sha256 of its
 * model.json, which lists the sha256 of every other file: `pushModel` stores each listed file and
 * then model.json as store files (lib/store/files.ts; model.json last, so a model.json in the
 * store means its files are there), `pullModel` rebuilds the directory on a worker that lacks it,
 * every file checked, under `<modelsDir>/sha256-<hash>`. Workers on several machines thus share
 * models the way they share artifacts.
 */

/** Every file of a model directory other than model.json: relative name → sha256. */
export function modelFiles(json: ModelJson): [string, string][] {
  const core: [string, string][] = [
    [json.backbone, json.sha256.backbone],
    [json.head, json.sha256.head],
    [json.tokenizer, json.sha256.tokenizer],
  ];
  return [...core, ...Object.entries(json.files ?? {})];
}

export interface PushedModel {
  sha256: string;
  files: number;
  bytes: number;
  /** bytes sent to the store (0 when it already held every file) */
  sent: number;
}

/** Stores model directory `dir` (every file checked against its model.json first); returns its address. */
export async function pushModel(store: FileStore, dir: string): Promise<PushedModel> {
  const { json, sha256 } = await readModelDir(dir);
  let bytes = 0;
  let sent = 0;
  const files = modelFiles(json);
  for (const [name, sha] of files) {
    const r = await store.putFile(join(dir, name), sha);
    bytes += r.bytes;
    if (r.stored) sent += r.bytes;
  }
  const r = await store.putFile(join(dir, 'model.json'), sha256);
  if (r.stored) sent += r.bytes;
  return { sha256, files: files.length + 1, bytes: bytes + r.bytes, sent };
}

/** Where a worker keeps the model with address `sha256`. */
export function pulledModelDir(modelsDir: string, sha256: string): string {
  return join(modelsDir, `sha256-${sha256}`);
}

const pulling = new Map<string, Promise<string>>();

/**
 * The local directory of the model with address `sha256`: `<modelsDir>/sha256-<sha256>` when it is
 * there and whole, else fetched from the store (every file hash-checked as it arrives, the whole
 * directory checked against model.json, then renamed into place: a crash leaves no
 * half-written model). A model the store does not have is an input error saying how to push it.
 */
export async function pullModel(store: FileStore, sha256: string, modelsDir: string): Promise<string> {
  const dir = pulledModelDir(modelsDir, sha256);
  const have = await readModelDir(dir).then((m) => m.sha256, () => undefined);
  if (have === sha256) return dir;
  let p = pulling.get(dir);
  if (!p) {
    p = fetchModel(store, sha256, modelsDir, dir).finally(() => pulling.delete(dir));
    pulling.set(dir, p);
  }
  return p;
}

async function fetchModel(store: FileStore, sha256: string, modelsDir: string, dir: string): Promise<string> {
  const tmp = join(modelsDir, `.pull-${sha256.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const json = await fetchModelJson(store, sha256, tmp);
    for (const [name, sha] of modelFiles(json)) {
      if (!(await store.fetchFile(sha, join(tmp, name)))) {
        throw new ArtifactIntegrityError(`model ${sha256}: its file ${name} (sha256 ${sha}) is missing from the store (${store.locateFile(sha)}); push the model again`, store.locateFile(sha), sha);
      }
    }
    const got = await readModelDir(tmp);
    if (got.sha256 !== sha256) throw new ArtifactIntegrityError(`model ${sha256}: the fetched model.json hashes to ${got.sha256}`, store.locateFile(sha256), sha256);
    const whole = () => readModelDir(dir).then((m) => m.sha256 === sha256, () => false);
    try {
      await fs.rename(tmp, dir);
    } catch (err) {
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      // another worker of this DLAB_HOME put it there first: keep theirs when it is whole, else
      // replace it (and if yet another one replaced it meanwhile, theirs is checked again)
      if (!(await whole())) {
        await fs.rm(dir, { recursive: true, force: true });
        await fs.rename(tmp, dir).catch(async (again: NodeJS.ErrnoException) => {
          if (!['ENOTEMPTY', 'EEXIST'].includes(again.code ?? '') || !(await whole())) throw again;
        });
      }
    }
    return dir;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** model.json of model `sha256` from the store into `into/model.json`, parsed; its file names checked. */
async function fetchModelJson(store: FileStore, sha256: string, into: string): Promise<ModelJson> {
  const file = join(into, 'model.json');
  if (!(await store.fetchFile(sha256, file))) {
    throw new DlabInputError(`model ${sha256} is not in the artifact store (${store.locateFile(sha256)}); store it with \`dlab model push DIR\` (with the same DLAB_STORE)`, 'model.sha256');
  }
  let json: ModelJson;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson;
  } catch (err) {
    throw new DlabInputError(`model ${sha256}: the stored model.json is not JSON (${(err as Error).message})`, 'model.sha256');
  }
  if (json.format !== 'dlab-model' || json.version !== 1) throw new DlabInputError(`model ${sha256}: the stored file is not a dlab model.json`, 'model.sha256');
  // every name stays inside the directory: the core files by their fixed names, the rest checked
  const core = { backbone: 'backbone.onnx', head: 'head.arrow', tokenizer: 'tokenizer.json' } as const;
  for (const [part, name] of Object.entries(core)) {
    if (json[part as keyof typeof core] !== name) throw new DlabInputError(`model ${sha256}: model.json names its ${part} "${String(json[part as keyof typeof core])}", expected "${name}"`, 'model.sha256');
  }
  for (const [name] of modelFiles(json).slice(3)) checkDirFileName(name, `model ${sha256} files`);
  return json;
}

/**
 * model.json and the tokenizer's files of model `sha256` (everything but the backbone and its
 * external data) fetched into `into`: what `dlab run` needs to check a config against a model
 * without downloading its weights.
 */
export async function pullModelTokenizer(store: FileStore, sha256: string, into: string): Promise<{ json: ModelJson; tokenizerPath: string }> {
  const json = await fetchModelJson(store, sha256, into);
  const skip = new Set([json.backbone, ...(json.backboneData ?? [])]);
  for (const [name, sha] of modelFiles(json)) {
    if (skip.has(name)) continue;
    if (!(await store.fetchFile(sha, join(into, name)))) throw new ArtifactIntegrityError(`model ${sha256}: its file ${name} is missing from the store; push the model again`, store.locateFile(sha), sha);
  }
  return { json, tokenizerPath: join(into, json.tokenizer) };
}

/**
 * Re-hashes model `sha256` in the store: model.json and every file it lists (the store's copies).
 * Returns the problems found, each naming the stored file.
 */
export async function verifyStoredModel(store: FileStore, sha256: string, scratch: string): Promise<{ files: number; bad: { file: string; problem: string }[] }> {
  const bad: { file: string; problem: string }[] = [];
  let json: ModelJson;
  try {
    json = await fetchModelJson(store, sha256, scratch);
  } catch (err) {
    if (!(err instanceof DlabInputError)) throw err; // a store out of reach is not a bad model
    return { files: 1, bad: [{ file: store.locateFile(sha256), problem: err.message }] };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const files = modelFiles(json);
  for (const [name, sha] of files) {
    const v = await store.verifyFile(sha);
    if (!v.ok) bad.push({ file: v.file, problem: `${name} of model ${sha256}: ${v.actual ? `sha256 is ${v.actual}` : 'missing'}` });
  }
  return { files: files.length + 1, bad };
}

import { basename, dirname, join } from 'node:path';
import { DlabInputError } from '../lib/errors';
import { fileSha256 } from '../lib/model/model-dir';
import type { FileStore } from '../lib/store/files';

/**
 * The config's input files as this worker can read them. `dlab run` records the sha256 of each
 * input file when it checks the config (`inputFiles`, path → sha256) and, with DLAB_STORE set,
 * stores the files by that hash. A worker that sees a file as it was checked reads it in place;
 * one that does not (another machine, or the file changed since) reads the checked version from
 * the store, fetched once into `<DLAB_HOME>/inputs/`. Returns a copy of `config` with those paths
 * replaced (icrlvr `task.questions | heldOut | demos`, goracs `data.path`); the experiment's
 * identity (its configHash) stays that of the original config.
 */
export async function localInputs<C extends object>(places: { store: FileStore; modelsDir: string }, config: C, inputFiles: Record<string, string> = {}): Promise<C> {
  if (!Object.keys(inputFiles).length) return config;
  const c = structuredClone(config) as Record<string, Record<string, unknown> | undefined>;
  const inputsDir = join(dirname(places.modelsDir), 'inputs');
  for (const section of ['task', 'data'] as const) {
    const o = c[section];
    if (!o || typeof o !== 'object') continue;
    for (const field of section === 'task' ? ['questions', 'heldOut', 'demos'] : ['path']) {
      const path = o[field];
      if (typeof path !== 'string' || !(path in inputFiles)) continue;
      o[field] = await localInput(places.store, inputsDir, path, inputFiles[path], `${section}.${field}`);
    }
  }
  return c as C;
}

async function localInput(store: FileStore, inputsDir: string, path: string, sha256: string, field: string): Promise<string> {
  const here = await fileSha256(path).catch((err: NodeJS.ErrnoException) => err);
  if (here === sha256) return path;
  const copy = join(inputsDir, `${sha256.slice(0, 16)}-${basename(path)}`);
  if ((await fileSha256(copy).catch(() => undefined)) === sha256) return copy;
  if (await store.fetchFile(sha256, copy)) return copy;
  throw new DlabInputError(
    typeof here === 'string'
      ? `${path} (${field}) changed since \`dlab run\` checked it (sha256 ${sha256} then, ${here} now), and the artifact store has no copy of the version it checked`
      : `${path} (${field}): this worker cannot read it (${here.code ?? here.message}) and the artifact store has no copy (sha256 ${sha256}); run \`dlab run\` with the workers' DLAB_STORE set, so that it stores the input files`,
    field,
  );
}

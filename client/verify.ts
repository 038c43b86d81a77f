import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { verifyStoredModel } from '../lib/model/model-store';
import { Client } from '@temporalio/client';
import { fileOfUri, sha256Hex } from '../lib/store/artifact-store';
import type { ArtifactRef } from '../lib/store/ref';
import { storeForUri, storeFromEnv } from '../lib/store/from-env';
import { readModelDir } from '../lib/model/model-dir';
import { childWorkflowIds, completedOutputs, fetchRunChain, modelsUsed } from './events';

export interface VerifyResult {
  id: string;
  checked: number;
  /**
   * the models the run used: `sha256` its address, checked file by file in the artifact store
   * (`files` of them); `dir` the directory its prepare step used, checked against its model.json
   * when this machine has it (`local` false: not here, as on another machine)
   */
  models: { dir: string; sha256?: string; files?: number; local: boolean }[];
  bad: { sha256: string; file: string; problem: string }[];
}

/**
 * Re-hashes every artifact a run produced (every `outputs` ref in its activity results,
 * across the continue-as-new chain, and in the child workflows of a sweep) and every file of the
 * models it used (in the artifact store, and the directory where this machine has it), and
 * reports the files whose bytes no longer match. `checked` counts the artifacts.
 */
export async function verifyRun(client: Client, workflowId: string): Promise<VerifyResult> {
  const refs = new Map<string, ArtifactRef>();
  const used: { dir: string; sha256?: string }[] = [];
  const pending = [workflowId];
  for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
    const chain = await fetchRunChain(client, id);
    for (const { ref } of completedOutputs(chain)) refs.set(ref.sha256, ref);
    for (const m of modelsUsed(chain)) if (!used.some((u) => u.dir === m.dir && u.sha256 === m.sha256)) used.push(m);
    pending.push(...childWorkflowIds(chain)); // a sweep's runs
  }
  const bad: VerifyResult['bad'] = [];
  const badModels: VerifyResult['bad'] = [];
  const models: VerifyResult['models'] = [];
  const dlabHome = resolve(process.env.DLAB_HOME || '.dlab');
  for (const m of used) {
    const entry: VerifyResult['models'][number] = { ...m, local: existsSync(m.dir) };
    // a stored model: the store's copy of every file (the workers' DLAB_STORE)
    if (m.sha256) {
      const v = await verifyStoredModel(storeFromEnv(dlabHome), m.sha256, await mkdtemp(join(tmpdir(), 'dlab-verify-')));
      entry.files = v.files;
      for (const b of v.bad) badModels.push({ sha256: '', file: b.file, problem: b.problem });
    }
    // the directory, where this machine has it (without an address, it is all there is to check)
    if (entry.local || !m.sha256) {
      const here = await readModelDir(m.dir).catch((err: Error & { where?: string }) => void badModels.push({ sha256: '', file: err.where ?? m.dir, problem: err.message }));
      if (here && m.sha256 && here.sha256 !== m.sha256) {
        badModels.push({ sha256: '', file: m.dir, problem: `${m.dir} no longer holds the model the run used: its model.json hashes to ${here.sha256}, the run's model is ${m.sha256}` });
      }
    }
    models.push(entry);
  }
  for (const ref of refs.values()) {
    if (ref.uri.startsWith('s3://')) {
      // the object in the bucket, not a worker's cache (endpoint and credentials from the environment)
      const found = await storeForUri(ref.uri, resolve(process.env.DLAB_HOME || '.dlab')).verify(ref);
      if (!found.ok) bad.push({ sha256: ref.sha256, file: found.file, problem: found.actual ? `sha256 is ${found.actual}` : 'missing (NoSuchKey)' });
      continue;
    }
    const file = fileOfUri(ref.uri);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      bad.push({ sha256: ref.sha256, file, problem: `missing (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    const actual = sha256Hex(bytes);
    if (actual !== ref.sha256) bad.push({ sha256: ref.sha256, file, problem: `sha256 is ${actual}` });
  }
  bad.push(...badModels);
  return { id: workflowId, checked: refs.size, models, bad };
}

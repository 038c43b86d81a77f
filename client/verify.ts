import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Client } from '@temporalio/client';
import { fileOfUri, sha256Hex } from '../lib/store/artifact-store';
import type { ArtifactRef } from '../lib/store/ref';
import { storeForUri } from '../lib/store/from-env';
import { readModelDir } from '../lib/model/model-dir';
import { childWorkflowIds, completedOutputs, fetchRunChain, modelDirsUsed } from './events';

export interface VerifyResult {
  id: string;
  checked: number;
  /** model directories the run used, each checked file by file against its model.json */
  models: string[];
  bad: { sha256: string; file: string; problem: string }[];
}

/**
 * Re-hashes every artifact a run produced (every `outputs` ref in its activity results,
 * across the continue-as-new chain, and in the child workflows of a sweep) and every file of the
 * model directories it used (against their model.json), and reports the files whose bytes no
 * longer match. `checked` counts the artifacts.
 */
export async function verifyRun(client: Client, workflowId: string): Promise<VerifyResult> {
  const refs = new Map<string, ArtifactRef>();
  const models = new Set<string>();
  const pending = [workflowId];
  for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
    const chain = await fetchRunChain(client, id);
    for (const { ref } of completedOutputs(chain)) refs.set(ref.sha256, ref);
    for (const dir of modelDirsUsed(chain)) models.add(dir);
    pending.push(...childWorkflowIds(chain)); // a sweep's runs
  }
  const bad: VerifyResult['bad'] = [];
  const badModels: VerifyResult['bad'] = [];
  for (const dir of models) {
    await readModelDir(dir).catch((err: Error & { where?: string }) => badModels.push({ sha256: '', file: err.where ?? dir, problem: err.message }));
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
  return { id: workflowId, checked: refs.size, models: [...models], bad };
}

import { readFile } from 'node:fs/promises';
import { Client } from '@temporalio/client';
import { fileOfUri, sha256Hex } from '../lib/store/artifact-store';
import type { ArtifactRef } from '../lib/store/ref';
import { childWorkflowIds, completedOutputs, fetchRunChain } from './events';

export interface VerifyResult {
  id: string;
  checked: number;
  bad: { sha256: string; file: string; problem: string }[];
}

/**
 * Re-hashes every artifact a run produced (every `outputs` ref in its activity results,
 * across the continue-as-new chain, and in the child workflows of a sweep) and reports the files whose bytes no longer match.
 */
export async function verifyRun(client: Client, workflowId: string): Promise<VerifyResult> {
  const refs = new Map<string, ArtifactRef>();
  const pending = [workflowId];
  for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
    const chain = await fetchRunChain(client, id);
    for (const { ref } of completedOutputs(chain)) refs.set(ref.sha256, ref);
    pending.push(...childWorkflowIds(chain)); // a sweep's runs
  }
  const bad: VerifyResult['bad'] = [];
  for (const ref of refs.values()) {
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
  return { id: workflowId, checked: refs.size, bad };
}

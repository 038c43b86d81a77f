import { join, resolve } from 'node:path';
import { configHash } from '../lib/config/canonical';
import { buildModelDir, BuildConfig } from '../lib/model/model-dir';
import { Policy } from '../lib/model/policy';

/** One policy per model directory per worker process (its ONNX sessions are shared underneath). */
const policies = new Map<string, Promise<Policy>>();

export function policyFor(dir: string): Promise<Policy> {
  let p = policies.get(dir);
  if (!p) {
    p = Policy.load(dir);
    policies.set(dir, p);
    p.catch(() => policies.delete(dir));
  }
  return p;
}

/**
 * The model directory of an experiment: the user's (`{dir}`), or the project's own built
 * once per build config under the worker's models folder (`{build}`; rebuilding writes the
 * same bytes, atomically).
 */
export async function modelDirFor(modelsDir: string, model: { build: BuildConfig } | { dir: string }): Promise<string> {
  if ('dir' in model) return resolve(model.dir);
  const dir = join(modelsDir, `built-${configHash(model.build).slice(0, 16)}`);
  await buildModelDir(model.build, dir);
  return dir;
}

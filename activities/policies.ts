import { join, resolve } from 'node:path';
import { configHash } from '../lib/config/canonical';
import { LmSequence, trainGptAsync } from '../lib/model/gpt-train';
import { initialWeights } from '../lib/model/gpt-weights';
import { buildModelDir, BuildConfig, readModelDir } from '../lib/model/model-dir';
import { Policy } from '../lib/model/policy';
import type { PromptOptions } from '../lib/model/prompt';
import { Memo } from '../lib/memo';
import type { ModelSource } from '../schemas/config/model';

/** One policy per model directory per worker process (its ONNX sessions are shared underneath). */
const policies = new Memo<Policy>(4);

/**
 * The policy of a model directory, loaded once per worker per content: every file is checked
 * against model.json on each call (re-read only when its stat changed), and the cache is keyed
 * by model.json's sha256, so a changed directory is another model, never a stale one.
 */
export async function policyFor(dir: string, prompts: PromptOptions = {}): Promise<Policy> {
  const { sha256 } = await readModelDir(dir);
  return policies.get(`${dir}@${sha256}${prompts.chatTemplate ? '@chat' : ''}`, () => Policy.load(dir, prompts));
}

/** The prompt options of a run's model config (chatTemplate for a model directory). */
export function promptOptionsOf(model: ModelSource): PromptOptions {
  return 'dir' in model && model.chatTemplate ? { chatTemplate: true } : {};
}

/**
 * The model directory of an experiment: the user's (`{dir}`), or the project's own built
 * once per build config under the worker's models folder (`{build}`; rebuilding writes the
 * same bytes, atomically).
 */
export async function modelDirFor(modelsDir: string, model: ModelSource): Promise<string> {
  if ('dir' in model) return resolve(model.dir);
  const dir = join(modelsDir, `built-${configHash(model.build).slice(0, 16)}`);
  // built before (by this worker or another): checked, not rebuilt; missing or changed: rebuilt in place
  if (!(await readModelDir(dir).then(() => true, () => false))) await buildModelDir(model.build, dir, undefined, { replace: true });
  return dir;
}

const pretraining = new Memo<string>();

/**
 * A built model pretrained on `corpus` (every weight, AdamW; lib/model/gpt-train.ts), once per
 * (build config, pretraining options, corpus) under the worker's models folder: a later run —
 * another seed or mode of a sweep, a retried attempt after the directory was written — reuses
 * it. Deterministic, so workers that race write the same bytes. `onStep` sees each step's loss.
 */
export async function pretrainedModelDirFor(
  modelsDir: string,
  build: BuildConfig,
  pretrain: { steps: number; batchSize: number; lr: number; weightDecay: number; seed: number },
  corpus: LmSequence[],
  hooks: { onStep?: (step: number, loss: number) => void; signal?: AbortSignal } = {},
): Promise<string> {
  const corpusSha256 = configHash(corpus);
  const dir = join(modelsDir, `pretrained-${configHash({ build, pretrain, corpusSha256 }).slice(0, 16)}`);
  return pretraining.get(dir, async () => {
    const ok = await readModelDir(dir).then(() => true, () => false);
    if (ok) return dir;
    const { weights, losses } = await trainGptAsync(build, initialWeights(build), corpus, { ...pretrain, ...hooks });
    await buildModelDir(build, dir, { weights, how: { ...pretrain, corpusSequences: corpus.length, corpusSha256, lossFirst: losses[0], lossLast: losses[losses.length - 1] } }, { replace: true });
    return dir;
  });
}

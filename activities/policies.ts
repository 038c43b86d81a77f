import { isAbsolute, join, relative, resolve } from 'node:path';
import { configHash } from '../lib/config/canonical';
import { LmSequence, PretrainState, trainGptAsync, TrainGptHooks } from '../lib/model/gpt-train';
import { initialWeights, GptWeights } from '../lib/model/gpt-weights';
import { DlabInputError } from '../lib/errors';
import { buildModelDir, BuildConfig, readModelDir } from '../lib/model/model-dir';
import { pullModel, pushModel } from '../lib/model/model-store';
import type { FileStore } from '../lib/store/files';
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

/** The prompt options of a run's model config (chatTemplate for a model directory or stored model). */
export function promptOptionsOf(model: ModelSource): PromptOptions {
  return !('build' in model) && model.chatTemplate ? { chatTemplate: true } : {};
}

/** Where a worker keeps models (`<DLAB_HOME>/models`) and the store it shares them through. */
export interface ModelPlaces {
  modelsDir: string;
  store: FileStore;
}

/**
 * The model directory of an experiment on this worker:
 * - `{build}`: the project's own, built once per build config under the worker's models folder
 *   (rebuilding writes the same bytes, atomically);
 * - `{sha256}`: the stored model of that address, fetched into the models folder once;
 * - `{dir}`: the user's directory, when this worker sees it as `dlab run` checked it
 *   (`inputFiles` holds the sha256 of its model.json then); otherwise — another machine, or the
 *   directory changed since — the version `dlab run` checked, from the store (`dlab run` pushes it
 *   there when DLAB_STORE is set).
 */
export async function modelDirFor(places: ModelPlaces, model: ModelSource, inputFiles: Record<string, string> = {}): Promise<string> {
  if ('sha256' in model) return pullModel(places.store, model.sha256, places.modelsDir);
  if ('dir' in model) {
    const dir = resolve(model.dir);
    const expected = inputFiles[join(dir, 'model.json')];
    const here = await readModelDir(dir).then((m) => m.sha256, (err: Error) => err);
    if (typeof here === 'string' && (expected === undefined || here === expected)) return dir;
    if (expected === undefined) throw here;
    try {
      return await pullModel(places.store, expected, places.modelsDir);
    } catch (err) {
      if (!(err instanceof DlabInputError) || err.where !== 'model.sha256') throw err;
      if (typeof here !== 'string') throw here;
      throw new DlabInputError(`${dir}: the model changed since \`dlab run\` checked it (model.json sha256 ${expected} then, ${here} now), and the artifact store has no copy of the version it checked`, join(dir, 'model.json'));
    }
  }
  const dir = join(places.modelsDir, `built-${configHash(model.build).slice(0, 16)}`);
  // built before (by this worker or another): checked, not rebuilt; missing or changed: rebuilt in place
  if (!(await readModelDir(dir).then(() => true, () => false))) await buildModelDir(model.build, dir, undefined, { replace: true });
  return dir;
}

/**
 * The local directory of the model a run's prepare step chose (`modelDir` on its worker,
 * `modelSha256` its address, absent in runs recorded before models were stored). That path is
 * used in place when it is this worker's own — under its models folder (one DLAB_HOME) or the
 * config's `{dir}` — and holds exactly that model; another worker's models folder is never read
 * (each DLAB_HOME is private to its machine): the stored model is fetched once into this one's.
 */
export async function localModelDir(places: ModelPlaces, ref: { modelDir: string; modelSha256?: string }, model: ModelSource): Promise<string> {
  if (!ref.modelSha256) return ref.modelDir;
  const rel = relative(resolve(places.modelsDir), resolve(ref.modelDir));
  const mine = (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) || ('dir' in model && resolve(model.dir) === resolve(ref.modelDir));
  const here = mine ? await readModelDir(ref.modelDir).then((m) => m.sha256, () => undefined) : undefined;
  return here === ref.modelSha256 ? ref.modelDir : pullModel(places.store, ref.modelSha256, places.modelsDir);
}

const pretraining = new Memo<string>();

/**
 * A built model pretrained on `corpus` (every weight, AdamW; lib/model/gpt-train.ts), once per
 * (build config, pretraining options, corpus) under the worker's models folder: a later run —
 * another seed or mode of a sweep, a retried attempt after the directory was written — reuses
 * it. Deterministic, so workers that race write the same bytes. `onStep` sees each step's loss;
 * `onCheckpoint` gets the state every `checkpointEvery` steps, and `resume` (asked only when
 * the model must be trained) hands back the last one, from which training continues with the
 * same bytes as never stopping. `checkpointEvery` changes no weight, so it is not in the key.
 */
export async function pretrainedModelDirFor(
  places: ModelPlaces,
  build: BuildConfig,
  pretrain: { steps: number; batchSize: number; lr: number; weightDecay: number; seed: number; checkpointEvery?: number },
  corpus: LmSequence[],
  hooks: TrainGptHooks & { resume?: () => Promise<PretrainState | undefined> } = {},
): Promise<string> {
  const { checkpointEvery: _every, ...options } = pretrain;
  const corpusSha256 = configHash(corpus);
  const key = configHash({ build, pretrain: options, corpusSha256 });
  const dir = join(places.modelsDir, `pretrained-${key.slice(0, 16)}`);
  // in the store, the model is found by what determines it: `names/pretrained-<key>` → its address
  const name = `pretrained-${key}`;
  return pretraining.get(dir, async () => {
    const ok = await readModelDir(dir).then(() => true, () => false);
    if (ok) return dir;
    const stored = await places.store.getName(name);
    if (stored) {
      // a model gone from the store (or damaged there) is trained again; a store out of reach is retried
      const pulled = await pullModel(places.store, stored, places.modelsDir).catch((err: unknown) => {
        if (err instanceof DlabInputError) return undefined;
        throw err;
      });
      if (pulled) return pulled;
    }
    const { resume, ...trainHooks } = hooks;
    const { weights, losses } = await trainGptAsync(build, initialWeights(build), corpus, { ...options, ...trainHooks, resume: await resume?.() });
    await buildModelDir(build, dir, { weights, how: { ...options, corpusSequences: corpus.length, corpusSha256, lossFirst: losses[0], lossLast: losses[losses.length - 1] } }, { replace: true });
    const { sha256 } = await pushModel(places.store, dir);
    await places.store.putName(name, sha256);
    return dir;
  });
}

const building = new Memo<string>();

/**
 * The model directory of a whole-model checkpoint (`trainable: "full"`): the build config with
 * the checkpoint's weights, under the models folder as `policy-<sha256>`, so the rollouts,
 * scoring and evaluation after an update run the updated backbone. Built once per checkpoint
 * (an intact directory naming that checkpoint is reused, from this process or an earlier one);
 * buildModelDir is deterministic, so a resumed or another worker runs exactly the same bytes.
 */
export async function checkpointModelDirFor(places: Pick<ModelPlaces, 'modelsDir'>, build: BuildConfig, checkpointSha256: string, weights: () => Promise<GptWeights>): Promise<string> {
  const dir = join(places.modelsDir, `policy-${checkpointSha256.slice(0, 32)}`);
  const intact = () => readModelDir(dir).then((m) => (m.json.source as { pretrained?: { checkpoint?: string } }).pretrained?.checkpoint === checkpointSha256, () => false);
  if (await intact()) return dir;
  // concurrent activities of one worker build it once
  await building
    .get(dir, async () => {
      if (!(await intact())) await buildModelDir(build, dir, { weights: await weights(), how: { checkpoint: checkpointSha256 } }, { replace: true });
      return dir;
    })
    .finally(() => building.delete(dir));
  return dir;
}

/** A policy in use: release it when done. */
export interface PolicyLease {
  policy: Policy;
  release: () => void;
}

/** Idle checkpoint policies kept loaded per worker (the next activity of a run usually wants the one it just used). */
const IDLE_KEPT = 4;
const leases = new Map<string, { policy: Promise<Policy>; users: number }>();
const idle: string[] = [];

/**
 * The policy of a whole-model checkpoint's model directory (checkpointModelDirFor), leased: each
 * checkpoint has its own backbone, so its ONNX session is the policy's own and is freed once no
 * activity uses it and more than IDLE_KEPT idle ones are loaded — a worker running a long
 * whole-model run (or many) holds a bounded number of models, not one per step.
 */
export async function leaseCheckpointPolicy(dir: string, prompts: PromptOptions = {}): Promise<PolicyLease> {
  const { sha256 } = await readModelDir(dir);
  const key = `${dir}@${sha256}${prompts.chatTemplate ? '@chat' : ''}`;
  let entry = leases.get(key);
  if (!entry) {
    const loading = Policy.load(dir, { ...prompts, ownSession: true });
    entry = { policy: loading, users: 0 };
    leases.set(key, entry);
    loading.catch(() => leases.get(key) === entry && leases.delete(key));
  }
  entry.users++;
  const at = idle.indexOf(key);
  if (at >= 0) idle.splice(at, 1);
  const held = entry;
  let policy: Policy;
  try {
    policy = await held.policy;
  } catch (err) {
    held.users--;
    throw err;
  }
  let released = false;
  return {
    policy,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      idle.push(key);
      while (idle.length > IDLE_KEPT) {
        const old = idle.shift()!;
        const e = leases.get(old);
        leases.delete(old);
        void e?.policy.then((p) => p.release()).catch(() => undefined);
      }
    },
  };
}

import { POLICY_CHECKPOINT, POLICY_FULL_CHECKPOINT, schemaId } from '../../schemas/artifacts';
import type { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { BatchState, LoopHooks, runBatches } from '../batches';
import type { Policy } from '../model/policy';
import { Rng } from '../rng';
import { perToken } from '../rl/advantages';
import { AdamWConfig, DEFAULT_ADAMW } from '../rl/adamw';
import type { PolicyLossConfig } from '../rl/loss';
import { readLineage } from '../store/artifact-store';
import { ArtifactIO, ChunkRef } from '../store/io';
import { ArtifactRef } from '../store/ref';
import { renderPrompt, PROMPT_TEMPLATES } from '../tasks/demos';
import { AnyCheckpoint, Checkpoint, checkpointFromTable, checkpointToTable, FullCheckpoint, fullCheckpointFromTable, fullCheckpointToTable, isFull } from '../train/checkpoint';
import { fullTrainStep, SequenceItem } from '../train/full-trainer';
import type { GptConfig } from '../model/gpt';
import { DlabInputError } from '../errors';
import { ObjectiveTokens, StepStats, TrainTokens, collectTokens, trainStep } from '../train/head-trainer';
import { TaskData } from './data';
import { ScoredRow } from './records';
import { streamOf } from './streams';

export function adamwOf(cfg: IcrlvrConfig, lr = cfg.lr): AdamWConfig {
  return { ...DEFAULT_ADAMW, lr, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip, warmupSteps: cfg.warmupSteps };
}

/** A checkpoint of either kind as its artifact: `policy.checkpoint@1` (head) or `policy.full-checkpoint@1` (every weight). */
export async function writeCheckpoint(io: ArtifactIO, c: AnyCheckpoint, parents: string[]): Promise<ArtifactRef> {
  if (isFull(c)) return io.write(fullCheckpointToTable(c), POLICY_FULL_CHECKPOINT, parents, { optimizerStep: c.opt.step });
  return io.write(checkpointToTable(c), POLICY_CHECKPOINT, parents, { optimizerStep: c.opt.step });
}

/** A head checkpoint (`policy.checkpoint@1`). */
export async function readCheckpoint(io: ArtifactIO, ref: Pick<ArtifactRef, 'sha256' | 'schema'>): Promise<Checkpoint> {
  const t = await io.read(ref);
  return checkpointFromTable(t, Number(readLineage(t).extra?.optimizerStep ?? 0), ref.sha256);
}

/** A checkpoint of either kind, by its schema; a whole-model one needs the build config `cfg` it was trained from. */
export async function readAnyCheckpoint(io: ArtifactIO, ref: Pick<ArtifactRef, 'sha256' | 'schema'>, cfg?: GptConfig): Promise<AnyCheckpoint> {
  if (ref.schema !== schemaId(POLICY_FULL_CHECKPOINT)) return readCheckpoint(io, ref);
  if (!cfg) throw new DlabInputError(`checkpoint ${ref.sha256} holds every weight of a built model (trainable "full"), but the run's model is not a build config`, 'trainable');
  const t = await io.read(ref);
  return fullCheckpointFromTable(cfg, t, Number(readLineage(t).extra?.optimizerStep ?? 0), `checkpoint ${ref.sha256}`);
}

/**
 * The trainer of a batch of items (context → target) for `ckpt`: each call is one optimizer
 * step on `ckpt` (in place) for the items' tokens with the given objective fields — the head
 * trainer on the policy's frozen backbone (its hidden states computed once, on the first call:
 * the backbone does not change between passes), or the whole-model trainer (every weight,
 * lib/train/full-trainer.ts). `ref` is the reference checkpoint of the same kind, for the KL term.
 */
function batchTrainer(policy: Policy, ckpt: AnyCheckpoint, items: SequenceItem[], cfg: IcrlvrConfig) {
  const targets = Int32Array.from(items.flatMap((it) => it.target));
  let hidden: Promise<TrainTokens> | undefined;
  return async (
    fields: Omit<ObjectiveTokens, 'targets'>,
    objective: { kind: 'sft' } | { kind: 'rl'; loss: PolicyLossConfig; ref?: AnyCheckpoint },
    adamw: AdamWConfig,
  ): Promise<StepStats> => {
    const ref = objective.kind === 'rl' ? objective.ref : undefined;
    if (isFull(ckpt)) {
      if (ref && !isFull(ref)) throw new DlabInputError('the RL reference is a head checkpoint, the policy a whole-model one (trainable "full"): a run trains one kind from its start', 'trainable');
      const obj = objective.kind === 'rl' ? { kind: 'rl' as const, loss: objective.loss, ref: ref ? (ref as FullCheckpoint).weights : undefined } : objective;
      return fullTrainStep(ckpt, items, { targets, ...fields }, obj, adamw);
    }
    if (ref && isFull(ref)) throw new DlabInputError('the RL reference is a whole-model checkpoint, the policy a head one: a run trains one kind from its start', 'trainable');
    hidden ??= collectTokens(policy, items, cfg.batchSize);
    const tokens = { ...(await hidden), ...fields };
    const obj = objective.kind === 'rl' ? { kind: 'rl' as const, loss: objective.loss, ref: ref ? (ref as Checkpoint).head : undefined } : objective;
    return trainStep(ckpt, tokens, obj, adamw);
  };
}

export interface UpdateStats extends Partial<StepStats> {
  responses: number;
  skipped: boolean;
}

/**
 * The update: μ passes of the clipped token-mean objective (+ NLL on correct responses,
 * + KL to the reference head) over the kept rollouts, ratios on the very prompts the
 * rollouts were sampled with.
 */
export async function updatePolicy(policy: Policy, ckpt: AnyCheckpoint, rows: ScoredRow[], cfg: IcrlvrConfig, ref?: AnyCheckpoint): Promise<UpdateStats> {
  const usable = rows.filter((r) => r.tokens.length > 0);
  if (!usable.length) return { responses: 0, skipped: true };
  const items = usable.map((r) => ({ context: policy.encodePrompt(r.prompt), target: r.tokens }));
  const lengths = Int32Array.from(usable, (r) => r.tokens.length);
  const fields = {
    logpOld: Float64Array.from(usable.flatMap((r) => r.logprobs)),
    advantage: perToken(Float64Array.from(usable, (r) => r.advantage), lengths),
    nllMask: Uint8Array.from(usable.flatMap((r) => r.tokens.map(() => (r.reward === 1 ? 1 : 0)))),
  };
  let stats: StepStats | undefined;
  const loss = { clipLow: cfg.clipLow, clipHigh: cfg.clipHigh, dualClip: cfg.dualClip, nllCoef: cfg.nllCoef, klCoef: cfg.klCoef };
  const step = batchTrainer(policy, ckpt, items, cfg);
  for (let e = 0; e < cfg.epochs; e++) stats = await step(fields, { kind: 'rl', loss, ref }, adamwOf(cfg));
  return { ...stats, responses: usable.length, skipped: false };
}

export interface WarmStartState extends BatchState {
  /** checkpoint after `checkpointStep` steps (null before the first) */
  checkpoint: ChunkRef | null;
  checkpointStep: number;
  lastLoss: number | null;
}

/**
 * Warm start: cross-entropy on expert traces (prompt without demonstration → solution + eos),
 * `steps` AdamW steps of `batchSize` seeded training questions — the same trainer as the
 * update (the head, or every weight for a whole-model checkpoint). A checkpoint is written every `every` steps; a retry resumes from the
 * last one (the heartbeat names it).
 */
export async function warmStart(
  policy: Policy,
  start: AnyCheckpoint,
  data: TaskData,
  cfg: IcrlvrConfig,
  io: ArtifactIO,
  parents: string[],
  hooks: LoopHooks<WarmStartState> = {},
  every = 5,
): Promise<{ output: ArtifactRef; lastLoss: number | null; resumedFromBatch: number; batchesRun: number; batches: number }> {
  const ws = cfg.warmStart!;
  const withSolutions = data.train.filter((q) => q.solution);
  if (!withSolutions.length) throw new Error('warm start needs expert solutions: no training question has one');
  let state: WarmStartState = hooks.resume ?? { nextBatch: 0, batches: ws.steps, checkpoint: null, checkpointStep: 0, lastLoss: null };
  let ckpt = start;
  if (state.checkpoint) {
    ckpt = await readAnyCheckpoint(io, state.checkpoint, isFull(start) ? start.cfg : undefined);
    state = { ...state, nextBatch: state.checkpointStep };
  }
  const resumedFromBatch = state.nextBatch;
  const tpl = PROMPT_TEMPLATES[cfg.template === 'spec' ? 'default' : 'compact'];
  const eos = policy.tokenizer.eosId;
  const batchesRun = await runBatches({ state, onProgress: hooks.onProgress, signal: hooks.signal }, async (b) => {
    const idx = Int32Array.from({ length: withSolutions.length }, (_, i) => i);
    new Rng(cfg.seed, streamOf('warm', b)).shuffle(idx);
    const batch = Array.from(idx.subarray(0, Math.min(ws.batchSize, idx.length)), (i) => withSolutions[i]);
    const items = batch.map((q) => {
      const { context, target } = policy.encodeContinuation(renderPrompt(q.question, null, tpl), q.solution);
      return { context, target: [...target, eos] };
    });
    state.lastLoss = (await batchTrainer(policy, ckpt, items, cfg)({}, { kind: 'sft' }, adamwOf(cfg, ws.lr))).loss;
    if ((b + 1) % every === 0 || b + 1 === state.batches) {
      const ref = await writeCheckpoint(io, ckpt, parents);
      state.checkpoint = { sha256: ref.sha256, schema: ref.schema };
      state.checkpointStep = b + 1;
    }
  });
  const output = await writeCheckpoint(io, ckpt, parents);
  return { output, lastLoss: state.lastLoss, resumedFromBatch, batchesRun, batches: state.batches };
}

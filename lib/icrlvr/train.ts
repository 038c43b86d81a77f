import { POLICY_CHECKPOINT } from '../../schemas/artifacts';
import type { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { BatchState, LoopHooks, runBatches } from '../batches';
import type { Head } from '../model/head';
import type { Policy } from '../model/policy';
import { Rng } from '../rng';
import { perToken } from '../rl/advantages';
import { AdamWConfig, DEFAULT_ADAMW } from '../rl/adamw';
import { readLineage } from '../store/artifact-store';
import { ArtifactIO, ChunkRef } from '../store/io';
import { ArtifactRef } from '../store/ref';
import { renderPrompt, PROMPT_TEMPLATES } from '../tasks/demos';
import { Checkpoint, checkpointFromTable, checkpointToTable } from '../train/checkpoint';
import { StepStats, collectTokens, trainStep } from '../train/head-trainer';
import { TaskData } from './data';
import { ScoredRow } from './records';
import { streamOf } from './streams';

export function adamwOf(cfg: IcrlvrConfig, lr = cfg.lr): AdamWConfig {
  return { ...DEFAULT_ADAMW, lr, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip, warmupSteps: cfg.warmupSteps };
}

export async function writeCheckpoint(io: ArtifactIO, c: Checkpoint, parents: string[]): Promise<ArtifactRef> {
  return io.write(checkpointToTable(c), POLICY_CHECKPOINT, parents, { optimizerStep: c.opt.step });
}

export async function readCheckpoint(io: ArtifactIO, ref: Pick<ArtifactRef, 'sha256' | 'schema'>): Promise<Checkpoint> {
  const t = await io.read(ref);
  return checkpointFromTable(t, Number(readLineage(t).extra?.optimizerStep ?? 0), ref.sha256);
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
export async function updatePolicy(policy: Policy, ckpt: Checkpoint, rows: ScoredRow[], cfg: IcrlvrConfig, ref?: Head): Promise<UpdateStats> {
  const usable = rows.filter((r) => r.tokens.length > 0);
  if (!usable.length) return { responses: 0, skipped: true };
  const tokens = await collectTokens(policy, usable.map((r) => ({ context: policy.encodePrompt(r.prompt), target: r.tokens })), cfg.batchSize);
  const lengths = Int32Array.from(usable, (r) => r.tokens.length);
  tokens.logpOld = Float64Array.from(usable.flatMap((r) => r.logprobs));
  tokens.advantage = perToken(Float64Array.from(usable, (r) => r.advantage), lengths);
  tokens.nllMask = Uint8Array.from(usable.flatMap((r) => r.tokens.map(() => (r.reward === 1 ? 1 : 0))));
  let stats: StepStats | undefined;
  const loss = { clipLow: cfg.clipLow, clipHigh: cfg.clipHigh, dualClip: cfg.dualClip, nllCoef: cfg.nllCoef, klCoef: cfg.klCoef };
  for (let e = 0; e < cfg.epochs; e++) {
    stats = await trainStep(ckpt, tokens, { kind: 'rl', loss, ref }, adamwOf(cfg));
  }
  return { ...stats, responses: usable.length, skipped: false };
}

export interface WarmStartState extends BatchState {
  /** checkpoint after `checkpointStep` steps (null before the first) */
  checkpoint: ChunkRef | null;
  checkpointStep: number;
  lastLoss: number | null;
}

/**
 * Warm start: head-only cross-entropy on expert traces (prompt without demonstration →
 * solution + eos), `steps` AdamW steps of `batchSize` seeded training questions — the same
 * trainer as the update. A checkpoint is written every `every` steps; a retry resumes from the
 * last one (the heartbeat names it).
 */
export async function warmStart(
  policy: Policy,
  start: Checkpoint,
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
    ckpt = await readCheckpoint(io, state.checkpoint);
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
    const tokens = await collectTokens(policy, items, cfg.batchSize);
    state.lastLoss = (await trainStep(ckpt, tokens, { kind: 'sft' }, adamwOf(cfg, ws.lr))).loss;
    if ((b + 1) % every === 0 || b + 1 === state.batches) {
      const ref = await writeCheckpoint(io, ckpt, parents);
      state.checkpoint = { sha256: ref.sha256, schema: ref.schema };
      state.checkpointStep = b + 1;
    }
  });
  const output = await writeCheckpoint(io, ckpt, parents);
  return { output, lastLoss: state.lastLoss, resumedFromBatch, batchesRun, batches: state.batches };
}

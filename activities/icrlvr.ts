import type { IcrlvrEvaluation } from '../schemas/status';
import { Context } from '@temporalio/activity';
import type { Table } from 'apache-arrow';
import { ICRLVR_COMPARISON, ICRLVR_DEMOS, ICRLVR_QUESTIONS, ICRLVR_ROLLOUTS, POLICY_FULL_CHECKPOINT, schemaId } from '../schemas/artifacts';
import { IcrlvrConfig, PRETRAIN_CHECKPOINT_EVERY } from '../schemas/config/icrlvr';
import { demosTable, makeTaskData, checkTaskFits, questionsTable, taskDataFromTables, TaskData, trainIdsFromTable } from '../lib/icrlvr/data';
import { evaluateHeldOut, keptForUpdate, rolloutRows, rolloutShard, scoreRollouts, stepPicks, ChunkState, ScoringStats } from '../lib/icrlvr/engine';
import { readAnyCheckpoint, updatePolicy, warmStart, writeCheckpoint, WarmStartState } from '../lib/icrlvr/train';
import { backboneSha256, modelLimits, readHeadFile, readModelDir } from '../lib/model/model-dir';
import { checkPositions } from '../lib/icrlvr/positions';
import { loadTokenizer } from '../lib/model/tokenizers';
import { BuiltinTokenizer } from '../lib/model/tokenizers/builtin';
import { pretrainCorpus } from '../lib/icrlvr/pretrain';
import { PROMPT_TEMPLATES } from '../lib/tasks/demos';
import { comparisonTable } from '../lib/icrlvr/records';
import { sweepSummary, SweepRunResult } from '../lib/icrlvr/summary';
import { ArtifactRef } from '../lib/store/ref';
import { DlabInputError } from '../lib/errors';
import { chunkRef, ChunkRef } from '../lib/store/io';
import type { BatchState, StageOutcome } from '../lib/batches';
import type { BuildConfig } from '../lib/model/model-dir';
import type { PretrainState } from '../lib/model/gpt-train';
import { readPretrainCheckpoint, writePretrainCheckpoint } from '../lib/model/pretrain-checkpoint';
import { AnyCheckpoint, freshCheckpoint, freshFullCheckpoint, FullCheckpoint, isFull } from '../lib/train/checkpoint';
import { readBuiltWeights } from '../lib/model/built-weights';
import { ActivityDeps, artifactIO, keepAlive, runResumable, stageConfig } from './resumable';
import { checkpointModelDirFor, leaseCheckpointPolicy, localModelDir, modelDirFor, policyFor, pretrainedModelDirFor, promptOptionsOf } from './policies';
import { localInputs } from './inputs';
import { pushModel } from '../lib/model/model-store';
import { StageContext, StageResult } from './types';
import { Memo } from '../lib/memo';
import type { Policy } from '../lib/model/policy';

export interface IcrlvrBase extends StageContext {
  config: IcrlvrConfig;
}

/** Where the run's model lives (its directory on the prepare step's worker, its address in the store) and the data it trains on. */
export interface IcrlvrRefs {
  modelDir: string;
  modelSha256?: string;
  questions: ArtifactRef;
  demos: ArtifactRef;
}

const startOver = (err: unknown): undefined => {
  if (err instanceof DlabInputError) return undefined; // ArtifactIntegrityError included
  throw err;
};

/** Prepare's heartbeat state while it pretrains: the last checkpoint (after `nextBatch` of `batches` steps). */
interface PretrainResume extends BatchState {
  checkpoint: ChunkRef;
}

/** One held-out evaluation with its step's training figures (the status shape, schemas/status.ts). */
export type EvalSummary = IcrlvrEvaluation;


type ScoreInput = IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef; step: number; round: number; rollouts: ArtifactRef[] };
/** A sampling round icrlvrStep has finished: its rollouts, its scored table, its scoring stats. */
export interface RoundDone {
  rollouts: ArtifactRef;
  scored: ArtifactRef;
  stats: ScoringStats;
}
/** icrlvrStep's resume state: the rounds done, and the current round's rollout chunks (ChunkState; batches 0 before its first batch). */
interface StepState extends ChunkState {
  rounds: RoundDone[];
}

/** icrlvrScoreUpdate's result: the round's scored table and stats, and the new checkpoint when it updated. */
interface ScoreUpdateResult {
  outputs: { scored: ArtifactRef; checkpoint?: ArtifactRef };
  stats: ScoringStats;
  updateStats?: Awaited<ReturnType<typeof updatePolicy>>;
}
type UpdateInput = IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef; reference: ArtifactRef; scored: ArtifactRef[] };

/** Per worker process: decoded task data by content, and run-only policies by checkpoint (below). */
const taskDatas = new Memo<TaskData>(4);
const withHeads = new WeakMap<Policy, Memo<Policy>>();

/** In-Context RLVR activities: thin adapters from Temporal to lib/icrlvr. */
export function icrlvrActivities(deps: ActivityDeps) {
  const cfgOf = (input: IcrlvrBase) => stageConfig('icrlvr', input);
  // The task's data, decoded once per worker per content (the questions and demos artifacts'
  // sha256 and the task type): every activity of a step reads the same two artifacts.
  const data = (input: IcrlvrBase & IcrlvrRefs): Promise<TaskData> =>
    taskDatas.get(`${input.questions.sha256}/${input.demos.sha256}/${input.config.task.type}`, async () => {
      const io = artifactIO(deps, input);
      return taskDataFromTables(await io.read(input.questions), await io.read(input.demos), input.config.task.type);
    });
  const buildOf = (cfg: IcrlvrConfig): BuildConfig | undefined => ('build' in cfg.model ? cfg.model.build : undefined);
  const readAt = (input: IcrlvrBase, checkpoint: ArtifactRef): Promise<AnyCheckpoint> => readAnyCheckpoint(artifactIO(deps, input), checkpoint, buildOf(cfgOf(input)));
  /** The policy of a whole-model checkpoint, leased: the build config with its weights (a model directory per checkpoint, policies.ts). */
  const fullPolicyAt = async (input: IcrlvrBase, checkpoint: ArtifactRef, weights: () => Promise<FullCheckpoint['weights']>) =>
    leaseCheckpointPolicy(await checkpointModelDirFor(deps, buildOf(cfgOf(input))!, checkpoint.sha256, weights), promptOptionsOf(input.config.model));
  /**
   * A checkpoint, read afresh, and the policy its trainer works with, for the stages that change
   * the checkpoint (warm start, update): the model's backbone with the checkpoint's head (the
   * head trainer runs that backbone); for a whole-model checkpoint the model only tokenizes and
   * formats prompts — the trainer runs the checkpoint's weights in TypeScript.
   */
  const policyAt = async (input: IcrlvrRefs & IcrlvrBase, checkpoint: ArtifactRef): Promise<{ policy: Policy; ckpt: AnyCheckpoint }> => {
    const ckpt = await readAt(input, checkpoint);
    const base = await policyFor(await localModelDir(deps, input, input.config.model), promptOptionsOf(input.config.model));
    return { policy: isFull(ckpt) ? base : base.withHead(ckpt.head), ckpt };
  };
  /**
   * Runs `fn` with the policy of a checkpoint, for the stages that only run it (rollout, scoring,
   * evaluation): the model's backbone with the checkpoint's head, read and verified once per
   * worker per checkpoint sha256, not once per activity; or, for a whole-model checkpoint, the
   * model built from its weights, leased for the call (its ONNX session is freed once idle). The
   * model directory is still checked on each call (policyFor): a changed directory is another
   * Policy, with heads of its own.
   */
  const withRunPolicy = async <T>(input: IcrlvrRefs & IcrlvrBase, checkpoint: ArtifactRef, fn: (policy: Policy) => Promise<T>): Promise<T> => {
    if (checkpoint.schema === schemaId(POLICY_FULL_CHECKPOINT)) {
      const lease = await fullPolicyAt(input, checkpoint, async () => ((await readAt(input, checkpoint)) as FullCheckpoint).weights);
      try {
        return await fn(lease.policy);
      } finally {
        lease.release();
      }
    }
    const base = await policyFor(await localModelDir(deps, input, input.config.model), promptOptionsOf(input.config.model));
    let heads = withHeads.get(base);
    if (!heads) withHeads.set(base, (heads = new Memo<Policy>(2)));
    return fn(await heads.get(checkpoint.sha256, async () => base.withHead(((await readAt(input, checkpoint)) as Exclude<AnyCheckpoint, FullCheckpoint>).head)));
  };

  /** Scoring of a round (icrlvrScore, and the first half of icrlvrScoreUpdate): its lineage says stage "scoring", producer icrlvrScore. */
  const scoreStage = async (input: ScoreInput) => {
    const io = artifactIO(deps, { ...input, stage: 'scoring' }, 'icrlvrScore');
    const tables = [];
    for (const r of input.rollouts) tables.push(await io.read(r));
    return scoreTables(input, tables, Promise.resolve(input.rollouts));
  };
  /**
   * scoreStage on rollout tables in memory, whose artifacts `rollouts` names once written: the
   * scoring runs while they are being made durable, and its table is written after them.
   */
  const scoreTables = async (input: Omit<ScoreInput, 'rollouts'>, tables: Table[], rollouts: Promise<ArtifactRef[]>) => {
    const cfg = cfgOf(input);
    const io = artifactIO(deps, { ...input, stage: 'scoring' }, 'icrlvrScore');
    return withRunPolicy(input, input.checkpoint, async (policy) => {
      const parents = rollouts.then((refs) => [input.checkpoint.sha256, ...refs.map((r) => r.sha256)]);
      parents.catch(() => undefined); // a failed write rejects where `parents` is awaited, not as an unhandled rejection meanwhile
      const { output, stats } = await scoreRollouts(policy, await data(input), cfg, input, tables, io, parents);
      return { outputs: { scored: output }, stats };
    });
  };
  /**
   * The policy update on a step's scored tables (icrlvrUpdate, and the second half of
   * icrlvrScoreUpdate): the one place the update is computed. Its lineage says stage "update",
   * producer icrlvrUpdate.
   */
  const updateStage = async (input: UpdateInput) => {
    const cfg = cfgOf(input);
    const io = artifactIO(deps, { ...input, stage: 'update' }, 'icrlvrUpdate');
    const { policy, ckpt } = await policyAt(input, input.checkpoint);
    const tables = [];
    for (const s of input.scored) tables.push(await io.read(s));
    const ref = cfg.klCoef > 0 ? await readAt(input, input.reference) : undefined;
    const stats = await updatePolicy(policy, ckpt, keptForUpdate(tables, cfg), cfg, ref);
    const checkpoint = await writeCheckpoint(io, ckpt, [input.checkpoint.sha256, ...input.scored.map((s) => s.sha256)]);
    return { outputs: { checkpoint }, stats };
  };

  return {
    /**
     * Model (built, pretrained, the user's, or stored), questions, demo pool, and the initial
     * checkpoint. The model goes into the artifact store (by the hash of its model.json), so a
     * worker anywhere can run the later stages.
     */
    async icrlvrPrepare(input: IcrlvrBase & { inputFiles?: Record<string, string> }): Promise<StageResult & { modelDir: string; modelSha256: string }> {
      return keepAlive<StageResult & { modelDir: string; modelSha256: string }, PretrainResume>(deps, async (setProgress, saved) => {
        const cfg = await localInputs(deps, cfgOf(input), input.inputFiles);
        const io = artifactIO(deps, input);
        const task = makeTaskData(cfg.task);
        checkTaskFits(task, cfg);
        // pretraining, when it runs here, continues from the checkpoint the last attempt heartbeated
        let trained: { from: number; steps: number } | undefined;
        const pretrainHooks = (build: BuildConfig, pretrain: NonNullable<IcrlvrConfig['pretrain']>) => ({
          signal: Context.current().cancellationSignal,
          onStep: (step: number) => setProgress(step + 1, pretrain.steps),
          checkpointEvery: pretrain.checkpointEvery ?? PRETRAIN_CHECKPOINT_EVERY,
          resume: async () => {
            // a checkpoint gone from the store or damaged there: pretrain from step 0 (same bytes, later); a store out of reach is retried
            const state = saved.resume ? await readPretrainCheckpoint(io, build, saved.resume.checkpoint).catch(startOver) : undefined;
            trained = { from: state?.step ?? 0, steps: pretrain.steps };
            return state;
          },
          onCheckpoint: async (state: PretrainState) => {
            const ref = await writePretrainCheckpoint(io, build, state);
            await saved.save({ nextBatch: state.step, batches: pretrain.steps, checkpoint: chunkRef(ref) });
          },
        });
        const modelDir =
          cfg.pretrain && 'build' in cfg.model
            ? await pretrainedModelDirFor(deps, cfg.model.build, cfg.pretrain, pretrainCorpus(task, new BuiltinTokenizer(cfg.model.build.tokenizer), PROMPT_TEMPLATES[cfg.template === 'spec' ? 'default' : 'compact'], cfg.pretrain), pretrainHooks(cfg.model.build, cfg.pretrain))
            : await modelDirFor(deps, cfg.model, input.inputFiles);
        const { sha256: modelSha256 } = await pushModel(deps.store, modelDir);
        const { json, headPath, tokenizerPath } = await readModelDir(modelDir);
        const limits = modelLimits(cfg.model, { tokenizer: loadTokenizer(tokenizerPath), maxPos: json.dims.maxPos, dir: modelDir });
        checkPositions(limits.prompts, limits.maxPos, task, cfg, limits.field);
        const head = await readHeadFile(headPath, json.sha256.head);
        const parents = [backboneSha256(json), json.sha256.head];
        const questions = await io.write(questionsTable(task), ICRLVR_QUESTIONS, []);
        const demos = await io.write(demosTable(task), ICRLVR_DEMOS, []);
        // the RL start: the model's head, or every weight of a built model (trainable "full")
        const build = buildOf(cfg);
        const start = cfg.trainable === 'full' && build ? freshFullCheckpoint(build, await readBuiltWeights(modelDir, build)) : freshCheckpoint(head);
        const checkpoint = await writeCheckpoint(io, start, parents);
        // batches = pretraining steps when this attempt pretrained (resumedFromBatch: the step it continued from), else 1
        const run = trained ? { resumedFromBatch: trained.from, batchesRun: trained.steps - trained.from, batches: trained.steps } : { resumedFromBatch: 0, batchesRun: 1, batches: 1 };
        return { outputs: { questions, demos, checkpoint }, modelDir, modelSha256, ...run, attempts: [] };
      });
    },

    /** Supervised warm start on expert traces; the RL optimiser then starts fresh. */
    async icrlvrWarmStart(input: IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef }): Promise<StageResult> {
      const cfg = cfgOf(input);
      const io = artifactIO(deps, input);
      const { policy, ckpt } = await policyAt(input, input.checkpoint);
      const task = await data(input);
      const { result } = await runResumable<WarmStartState>(
        deps,
        async (hooks) => {
          const out = await warmStart(policy, ckpt, task, cfg, io, [input.checkpoint.sha256, input.questions.sha256], hooks);
          const warmed = await readAt(input, out.output);
          const fresh = isFull(warmed) ? freshFullCheckpoint(warmed.cfg, warmed.weights) : freshCheckpoint(warmed.head);
          return { ...out, output: await writeCheckpoint(io, fresh, [out.output.sha256]) };
        },
        'checkpoint',
      );
      return result;
    },

    /**
     * The questions of a step's sampling round (seeded): the workflow splits them over rollout
     * shards. Reads only the questions table (ids and splits), no model: a local activity in
     * runs started since the 'local-bookkeeping-steps' patch (docs/architecture.md).
     */
    async icrlvrPlan(input: IcrlvrBase & IcrlvrRefs & { step: number; round: number }): Promise<string[]> {
      const cfg = cfgOf(input);
      return stepPicks(trainIdsFromTable(await artifactIO(deps, input).read(input.questions)), cfg, input.step, input.round);
    },

    /** One shard of a step's rollouts (questions [qOffset, qOffset + count) of the round). */
    async icrlvrRollout(input: IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef; step: number; round: number; qOffset: number; questionIds: string[] }): Promise<StageResult & { tokens: number }> {
      const cfg = cfgOf(input);
      return withRunPolicy(input, input.checkpoint, async (policy) => {
        const task = await data(input);
        const byId = new Map(task.train.map((q) => [q.id, q]));
        const { result, outcome } = await runResumable<ChunkState, Awaited<ReturnType<typeof rolloutShard>>>(
          deps,
          (hooks) =>
            rolloutShard(
              policy,
              task,
              cfg,
              { step: input.step, round: input.round, qOffset: input.qOffset, questions: input.questionIds.map((id) => byId.get(id)!) },
              artifactIO(deps, input),
              [input.checkpoint.sha256, input.questions.sha256, input.demos.sha256],
              hooks,
            ),
          'rollouts',
        );
        return { ...result, tokens: outcome.tokens };
      });
    },

    /** Reward, process score, Evidence Gain and advantages of a round's rollouts. */
    async icrlvrScore(input: ScoreInput) {
      return keepAlive(deps, () => scoreStage(input));
    },

    /** The policy update; returns the new checkpoint (the workflow advances to it only after this returns). */
    async icrlvrUpdate(input: UpdateInput) {
      return keepAlive(deps, () => updateStage(input));
    },

    /**
     * Scoring of a sampling round and, when that round is the step's last, the update, in one
     * activity (runs started since the 'icrlvr-score-update' patch, when scoring and update share a
     * task queue). The round is the last when dynamic sampling is off, when the groups kept so far
     * (`keptGroups`, before this round) plus this round's reach questionsPerStep, or when it is
     * round maxSamplingRounds − 1: the workflow's own rule for leaving the sampling loop. The
     * update then trains on `scored` (the earlier rounds') and this round's table. Each step writes
     * what icrlvrScore and icrlvrUpdate write (same stage and producer in the lineage: same bytes);
     * a retry reruns both from the inputs.
     */
    async icrlvrScoreUpdate(input: ScoreInput & { reference: ArtifactRef; scored: ArtifactRef[]; keptGroups: number }): Promise<ScoreUpdateResult> {
      return keepAlive(deps, async (): Promise<ScoreUpdateResult> => {
        const cfg = cfgOf(input);
        const s = await scoreStage(input);
        const kept = input.keptGroups + s.stats.keptGroups;
        const last = !cfg.dynamicSampling || kept >= cfg.questionsPerStep || input.round >= cfg.maxSamplingRounds - 1;
        if (!last) return { outputs: { scored: s.outputs.scored }, stats: s.stats };
        const u = await updateStage({ ...input, stage: 'update', scored: [...input.scored, s.outputs.scored] });
        return { outputs: { scored: s.outputs.scored, checkpoint: u.outputs.checkpoint }, stats: s.stats, updateStats: u.stats };
      });
    },

    /**
     * A whole training step in one activity, for runs whose rounds have one rollout shard
     * (rolloutShards 1; since the 'icrlvr-step-activity' patch, where inference and training
     * share a task queue): for each sampling round, its questions (as icrlvrPlan), its rollouts (as
     * icrlvrRollout with qOffset 0), its scoring (scoreStage); then, after the round the
     * workflow's rule makes the last, the update (updateStage). Every artifact is the one those
     * activities write (same stage and producer in its lineage). Resume state: the rounds done
     * (their rollouts, scored tables and stats) and the current round's rollout chunks, so a
     * retried attempt continues from the last chunk of the round it was in; scoring and the update
     * rerun from their inputs.
     */
    async icrlvrStep(input: IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef; reference: ArtifactRef; step: number }): Promise<StageResult & { rounds: RoundDone[]; tokens: number; updateStats: Awaited<ReturnType<typeof updatePolicy>> }> {
      const cfg = cfgOf(input);
      return withRunPolicy(input, input.checkpoint, async (policy) => {
        const task = await data(input);
        const byId = new Map(task.train.map((q) => [q.id, q]));
        const rolloutIO = artifactIO(deps, { ...input, stage: 'rollout' }, 'icrlvrRollout');
        const trainIds = trainIdsFromTable(await rolloutIO.read(input.questions));
        const rounds = cfg.dynamicSampling ? cfg.maxSamplingRounds : 1;
        let tokens = 0;
        let updateStats: Awaited<ReturnType<typeof updatePolicy>> | undefined;
        const { result, outcome } = await runResumable<StepState, StageOutcome & { rounds: RoundDone[] }>(
          deps,
          async (hooks) => {
            let state: StepState = hooks.resume ?? { rounds: [], nextBatch: 0, batches: 0, chunks: [] };
            const resumedFromBatch = state.nextBatch;
            let batchesRun = 0;
            let batches = 0;
            // the workflow's rule: another round while the kept groups fall short of questionsPerStep (checked on resume too)
            const enough = () => state.rounds.reduce((n, r) => n + r.stats.keptGroups, 0) >= cfg.questionsPerStep;
            for (let round = state.rounds.length; round < rounds && !enough(); round++) {
              const questions = stepPicks(trainIds, cfg, input.step, round).map((id) => byId.get(id)!);
              const done = state.rounds;
              hooks.phase?.('rollout');
              const parents = [input.checkpoint.sha256, input.questions.sha256, input.demos.sha256];
              const shard = await rolloutRows(policy, task, cfg, { step: input.step, round, qOffset: 0, questions }, rolloutIO, parents, {
                resume: state.batches ? { nextBatch: state.nextBatch, batches: state.batches, chunks: state.chunks } : undefined,
                signal: hooks.signal,
                onProgress: (c, n) => hooks.onProgress?.({ rounds: done, nextBatch: c.nextBatch, batches: c.batches, chunks: c.chunks }, n),
              });
              tokens += shard.tokens;
              batchesRun += shard.batchesRun;
              batches += shard.batches;
              hooks.phase?.('scoring');
              // the rollouts' artifact (the same bytes icrlvrRollout writes) is made durable while they
              // are scored; nothing names it (scored table's parents, heartbeat) before it is
              const written = rolloutIO.write(shard.table, ICRLVR_ROLLOUTS, parents);
              // a failed write is this attempt's error, thrown where it is awaited (not an unhandled
              // rejection while the scoring runs, which would end the worker's process): `refs` is
              // written's handler, and refs has one of its own
              const refs = written.then((r) => [r]);
              refs.catch(() => undefined);
              const s = await scoreTables({ ...input, stage: 'scoring', round }, [shard.table], refs);
              state = { rounds: [...done, { rollouts: await written, scored: s.outputs.scored, stats: s.stats }], nextBatch: 0, batches: 0, chunks: [] };
              await hooks.onProgress?.(state);
            }
            hooks.phase?.('update');
            const u = await updateStage({ ...input, stage: 'update', scored: state.rounds.map((r) => r.scored) });
            await hooks.paceAt?.('update');
            updateStats = u.stats;
            return { output: u.outputs.checkpoint, resumedFromBatch, batchesRun, batches, rounds: state.rounds };
          },
          'checkpoint',
        );
        // every artifact the step wrote is in its result's outputs, for the audit trail (lineage attempts, verify)
        const written = Object.fromEntries(outcome.rounds.flatMap((r, k) => [[`round${k}.rollouts`, r.rollouts], [`round${k}.scored`, r.scored]]));
        return { ...result, outputs: { ...written, ...result.outputs }, rounds: outcome.rounds, tokens, updateStats: updateStats! };
      });
    },

    /** Held-out avg@k / pass@k / process score of correct answers. */
    async icrlvrEvaluate(input: IcrlvrBase & IcrlvrRefs & { checkpoint: ArtifactRef; step: number }) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        return withRunPolicy(input, input.checkpoint, async (policy) => {
          const { output, stats } = await evaluateHeldOut(policy, await data(input), cfg, input.step, artifactIO(deps, input), [input.checkpoint.sha256, input.questions.sha256]);
          return { outputs: { eval: output }, stats };
        });
      });
    },

    /**
     * A sweep's comparison table (one row per mode, seed and evaluation step) and its summary:
     * per mode, means over seeds with bootstrap intervals and paired differences to rlvr.
     */
    async icrlvrCompare(input: StageContext & { runs: SweepRunResult[] }) {
      return keepAlive(deps, async () => {
        const comparison = await artifactIO(deps, input).write(comparisonTable(input.runs), ICRLVR_COMPARISON, []);
        return { outputs: { comparison }, stats: { summary: sweepSummary(input.runs) } };
      });
    },
  };
}

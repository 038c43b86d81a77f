import { continueAsNew, executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { EvalSummary, IcrlvrRefs } from '../activities/icrlvr';
import type { IcrlvrConfig } from '../schemas/config/icrlvr';
import type { ArtifactRef } from '../lib/store/ref';
import type { ScoringStats } from '../lib/icrlvr/engine';
import { poolLuck } from '../lib/icrlvr/pool-luck';
import { localStep, localSteps, NamedArtifact, RunStatusOf, RunTracker, routedActivities, shortActivities, stageActivities } from './run-state';
import type { IcrlvrMetrics } from '../schemas/status';
import type { QueueMap } from '../lib/queues';
import { DLAB_KIND, SEARCH_ATTRIBUTES_PATCH, STARTED_AT_MEMO } from './search-attributes';

/**
 * The patch that runs a sampling round's scoring and, when the round is the step's last, the
 * update as one activity (icrlvrScoreUpdate) instead of icrlvrScore then icrlvrUpdate: one
 * activity round trip less per step, same artifacts. Histories recorded before it replay the two
 * activities (test/histories); a run started before it takes the merged activity from its next
 * scoring on. Runs whose queue map routes `inference` and `training` to different task queues keep
 * the two activities (the merged one would have to run where both are served).
 */
export const ICRLVR_SCORE_UPDATE_PATCH = 'icrlvr-score-update';

/**
 * The patch that runs a whole step in one activity (icrlvrStep: each sampling round's plan,
 * rollouts and scoring, then the update) when a round has one rollout shard (rolloutShards 1) and
 * inference and training share a task queue: one activity round trip a step instead of two a
 * round, same artifacts. Recorded histories and runs started before it replay as they ran.
 */
export const ICRLVR_STEP_PATCH = 'icrlvr-step-activity';

/** State handed over by continue-as-new: refs and counters only. */
interface Carry {
  step: number;
  refs: IcrlvrRefs;
  checkpoint: ArtifactRef;
  reference: ArtifactRef;
  artifacts: NamedArtifact[];
  metrics: IcrlvrMetrics;
  evaluations: EvalSummary[];
}

export interface IcrlvrInput {
  config: IcrlvrConfig;
  configHash: string;
  /** the run's task queue per routed activity group (lib/queues.ts), fixed at its start */
  queues?: QueueMap;
  /** the input files `dlab run` checked, path → sha256 (the model directory's model.json, the task files) */
  inputFiles?: Record<string, string>;
  carry?: Carry;
}

/**
 * In-Context RLVR (mode `icrlvr`), the RLVR baseline (`rlvr`) and explicit EG reweighting
 * (`eg-weighted`): prepare → [warm start] → evaluate → for each step: rollout (fanned out
 * over `rolloutShards` activities) → scoring → [more sampling rounds while dynamic sampling
 * dropped groups] → update → [evaluate every `evalEvery` steps].
 * Activities of a step (inference and training on one task queue; docs/architecture.md "In-Context
 * RLVR steps as activities"): with one shard, the whole step is icrlvrStep; with more, each round
 * is its icrlvrRollout shards then icrlvrScoreUpdate (scoring, and the update after the last
 * round); otherwise, and in runs recorded before those patches, icrlvrRollout, icrlvrScore, and
 * icrlvrUpdate after the last round.
 */
export async function icrlvr(input: IcrlvrInput): Promise<RunStatusOf<'icrlvr'>> {
  const { config: cfg, configHash, carry, queues, inputFiles } = input;
  const run = new RunTracker('icrlvr', { artifacts: carry?.artifacts, step: carry?.step, totalSteps: cfg.steps });
  const long = stageActivities(cfg.heartbeatTimeoutSeconds, queues);
  const short = shortActivities(cfg.heartbeatTimeoutSeconds, queues);
  // scoring and update in one activity (ICRLVR_SCORE_UPDATE_PATCH, ICRLVR_STEP_PATCH) only where both groups run on one task queue
  const oneQueue = () => (queues?.inference ?? '') === (queues?.training ?? '');
  const scoreWithUpdate = () => oneQueue() && patched(ICRLVR_SCORE_UPDATE_PATCH);
  const ctx = (stage: string) => ({ experimentId: workflowInfo().workflowId, stage, configHash, config: cfg });
  const metrics: IcrlvrMetrics = carry?.metrics ?? {};
  const evaluations: EvalSummary[] = carry?.evaluations ?? [];
  run.status.metrics = metrics;
  run.status.results = { evaluations };

  let refs: IcrlvrRefs;
  let checkpoint: ArtifactRef;
  let reference: ArtifactRef;
  let latest: Pick<ScoringStats, 'rewardMean' | 'egCorrectMean' | 'egIncorrectMean'> & Partial<ScoringStats> | undefined;

  const evaluate = async (step: number) => {
    await run.enter('evaluate', step);
    const e = await short.icrlvrEvaluate({ ...ctx('evaluate'), ...refs, checkpoint, step });
    run.record('eval', e.outputs.eval);
    const summary: EvalSummary = {
      step,
      avgAtK: e.stats.avgAtK,
      passAtK: e.stats.passAtK,
      processScoreCorrect: e.stats.processScoreCorrect,
      rewardMean: latest?.rewardMean ?? null,
      egCorrectMean: latest?.egCorrectMean ?? null,
      egIncorrectMean: latest?.egIncorrectMean ?? null,
      // measured since outcomes are recorded (older activity results lack them: null)
      heldOutLuckyShareCorrect: e.stats.luckyShareCorrect ?? null,
      soundShare: latest?.soundShare ?? null,
      luckyShare: latest?.luckyShare ?? null,
      luckyShareCorrect: latest?.luckyShareCorrect ?? null,
      egSoundMean: latest?.egSoundMean ?? null,
      egLuckyMean: latest?.egLuckyMean ?? null,
      egLuckAuc: latest?.egLuckAuc ?? null,
      egLuckPairs: latest?.egLuckPairs ?? null,
    };
    evaluations.push(summary);
    Object.assign(metrics, {
      step,
      heldOutAccuracy: summary.avgAtK,
      passAtK: summary.passAtK,
      processScoreCorrect: summary.processScoreCorrect,
      heldOutLuckyShareCorrect: summary.heldOutLuckyShareCorrect,
    });
    if (step === 0) metrics.initialHeldOutAccuracy = summary.avgAtK;
  };

  if (carry) {
    ({ refs, checkpoint, reference } = carry);
  } else {
    await run.enter('prepare', 0);
    const prep = await short.icrlvrPrepare({ ...ctx('prepare'), ...(inputFiles ? { inputFiles } : {}) });
    // the model by its place on the prepare step's worker and by its address in the store (older runs: the place only)
    refs = { modelDir: prep.modelDir, ...(prep.modelSha256 ? { modelSha256: prep.modelSha256 } : {}), questions: prep.outputs.questions, demos: prep.outputs.demos };
    checkpoint = prep.outputs.checkpoint;
    for (const name of ['questions', 'demos'] as const) run.record(name, refs[name]);
    run.record('checkpoint', checkpoint);
    if (cfg.warmStart) {
      await run.enter('warm-start', 0);
      checkpoint = (await long.icrlvrWarmStart({ ...ctx('warm-start'), ...refs, checkpoint })).outputs.checkpoint;
      run.record('warm-checkpoint', checkpoint);
    }
    reference = checkpoint;
    await evaluate(0);
  }

  const firstStep = (carry?.step ?? 0) + 1;
  for (let step = firstStep; step <= cfg.steps; step++) {
    if (step > firstStep && (step - firstStep) % cfg.continueAsNewEvery === 0) {
      await continueAsNew<typeof icrlvr>({ config: cfg, configHash, ...(queues ? { queues } : {}), carry: { step: step - 1, refs, checkpoint, reference, artifacts: run.status.artifacts, metrics, evaluations } });
    }
    const scored: ArtifactRef[] = [];
    let keptGroups = 0;
    let updated: ArtifactRef | undefined;
    const roundScored = (round: number, ref: ArtifactRef, stats: ScoringStats) => {
      scored.push(ref);
      run.record('scored', ref, true);
      keptGroups += stats.keptGroups;
      if (round === 0) {
        latest = stats;
        Object.assign(metrics, {
          rewardMean: latest.rewardMean,
          egCorrectMean: latest.egCorrectMean,
          egIncorrectMean: latest.egIncorrectMean,
          ...(latest.luckyShareCorrect !== undefined ? { luckyShareCorrect: latest.luckyShareCorrect, egLuckAuc: latest.egLuckAuc ?? null } : {}),
        });
        if (stats.soundCount !== undefined) poolLuck(metrics, stats);
      }
    };
    if (cfg.rolloutShards === 1 && oneQueue() && patched(ICRLVR_STEP_PATCH)) {
      // the whole step (its rounds' plans, rollouts and scoring, then the update) in one activity
      await run.enter('rollout', step);
      const r = await long.icrlvrStep({ ...ctx('rollout'), ...refs, checkpoint, reference, step });
      r.rounds.forEach((done, round) => {
        run.record('rollouts.0', done.rollouts, true);
        roundScored(round, done.scored, done.stats);
      });
      updated = r.outputs.checkpoint;
    }
    for (let round = 0; !updated && round < (cfg.dynamicSampling ? cfg.maxSamplingRounds : 1); round++) {
      await run.enter('rollout', step);
      const planInput = { ...ctx('rollout'), ...refs, step, round };
      const questionIds = localSteps() ? await localStep('rollout', [refs.questions.sha256]).icrlvrPlan(planInput) : await short.icrlvrPlan(planInput);
      const shards = Math.min(cfg.rolloutShards, questionIds.length);
      const per = Math.ceil(questionIds.length / shards);
      const results = await Promise.all(
        Array.from({ length: shards }, (_, k) =>
          long.icrlvrRollout({ ...ctx('rollout'), ...refs, checkpoint, step, round, qOffset: k * per, questionIds: questionIds.slice(k * per, (k + 1) * per) }),
        ),
      );
      const rollouts = results.map((r) => r.outputs.rollouts);
      rollouts.forEach((r, k) => run.record(`rollouts.${k}`, r, true));
      await run.enter('scoring', step);
      if (scoreWithUpdate()) {
        // scoring, and the update when this round is the step's last (the activity applies the loop's rule below)
        const su = await short.icrlvrScoreUpdate({ ...ctx('scoring'), ...refs, checkpoint, reference, step, round, rollouts, scored: [...scored], keptGroups });
        roundScored(round, su.outputs.scored, su.stats);
        if (su.outputs.checkpoint) {
          updated = su.outputs.checkpoint;
          break;
        }
        continue;
      }
      const s = await short.icrlvrScore({ ...ctx('scoring'), ...refs, checkpoint, step, round, rollouts });
      roundScored(round, s.outputs.scored, s.stats);
      if (keptGroups >= cfg.questionsPerStep) break;
    }
    if (!updated) {
      await run.enter('update', step);
      updated = (await short.icrlvrUpdate({ ...ctx('update'), ...refs, checkpoint, reference, scored })).outputs.checkpoint;
    }
    checkpoint = updated; // advanced only once the update has returned
    run.record('checkpoint', checkpoint, true);
    run.stepDone(step);
    if (step % cfg.evalEvery === 0 || step === cfg.steps) await evaluate(step);
  }
  return run.finish();
}

export interface IcrlvrSweepInput {
  configHash: string;
  /** `arm`: the name of the run's arm, when the sweep has arms (its runs' ids then name it) */
  runs: { mode: string; seed: number; arm?: string; config: IcrlvrConfig; configHash: string }[];
  /** the task queue per routed activity group of the sweep and of each child run, fixed at its start */
  queues?: QueueMap;
  /** the input files `dlab run` checked (for every child run), path → sha256 */
  inputFiles?: Record<string, string>;
}

/** A sweep: each (mode, seed[, arm]) is a child `icrlvr` workflow; the parent writes one comparison table. */
export async function icrlvrSweep(input: IcrlvrSweepInput): Promise<RunStatusOf<'icrlvr-sweep'>> {
  const run = new RunTracker('icrlvr-sweep', { totalSteps: input.runs.length });
  const { icrlvrCompare } = routedActivities(input.queues, { startToCloseTimeout: '10 minutes' });
  const id = workflowInfo().workflowId;
  await run.enter('runs', 0);
  let done = 0;
  const results = await Promise.all(
    input.runs.map(async (r) => {
      const listed = patched(SEARCH_ATTRIBUTES_PATCH) // children are listed by `dlab runs` like any run
        ? { typedSearchAttributes: [{ key: DLAB_KIND, value: 'icrlvr' }], memo: { [STARTED_AT_MEMO]: new Date().toISOString() } }
        : {};
      const status = await executeChild(icrlvr, { workflowId: `${id}.${r.mode}${r.arm ? `.${r.arm}` : ''}.s${r.seed}`, args: [{ config: r.config, configHash: r.configHash, ...(input.queues ? { queues: input.queues } : {}), ...(input.inputFiles ? { inputFiles: input.inputFiles } : {}) }], ...listed });
      run.stepDone(++done);
      const m = status.metrics ?? {};
      return { mode: r.mode, seed: r.seed, ...(r.arm ? { arm: r.arm } : {}), evaluations: status.results?.evaluations ?? [], pooled: { luckyShareCorrect: m.luckyShareCorrectPooled ?? null, egLuckAuc: m.egLuckAucPooled ?? null } };
    }),
  );
  await run.enter('compare', input.runs.length);
  const compareInput = { experimentId: id, stage: 'compare', configHash: input.configHash, runs: results };
  const cmp = localSteps() ? await localStep('compare', []).icrlvrCompare(compareInput) : await icrlvrCompare(compareInput);
  run.record('comparison', cmp.outputs.comparison);
  run.status.results = { runs: results, ...(cmp.stats ? { summary: cmp.stats.summary } : {}) };
  return run.finish();
}

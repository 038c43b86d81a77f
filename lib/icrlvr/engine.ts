import { ICRLVR_EVAL, ICRLVR_ROLLOUTS, ICRLVR_SCORED } from '../../schemas/artifacts';
import type { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { BatchState, LoopHooks } from '../batches';
import type { Policy } from '../model/policy';
import { Rng } from '../rng';
import { egWeightedRewards, groupAdvantages, keepGroups } from '../rl/advantages';
import { meanPassAtK } from '../rl/metrics';
import { tableFromColumns } from '../store/columns';
import { ArtifactIO, ChunkRef, chunkRef } from '../store/io';
import { ArtifactRef } from '../store/ref';
import type { Table } from 'apache-arrow';
import { PROMPT_TEMPLATES, pickDemos, renderBaselinePrompt, renderEvidencePrompt, renderPrompt, renderQuestionBaselinePrompt } from '../tasks/demos';
import { verifyAnswer } from '../tasks/verifier';
import { Question, TaskData } from './data';
import { RolloutRow, ScoredRow, promptHash, readRollouts, readScored, rolloutsTable, scoredTable } from './records';
import { egVsLuck, outcomeShares, rolloutOutcome } from './outcome';
import { streamOf } from './streams';
import { metrics } from '../metrics';

/**
 * The In-Context RLVR step as engines over a policy (lib/, no Temporal):
 *   rollout  — G prompts per question (m with one demonstration in `icrlvr` mode), one
 *              completion each, log-probs under π_old;
 *   scoring  — verifiable reward, process score, Evidence Gain
 *              EG_D(o) = log π(y_D | [q, o] as Example 1, q_D) − log π(y_D | q_D),
 *              group advantages (of r, or of r·w/mean w in `eg-weighted`), dynamic sampling;
 *   update   — see lib/train/head-trainer.ts;
 *   evaluate — k samples per held-out question: avg@k, pass@k, process score of correct ones.
 */

/** The prompt template a config names. */
export const template = (cfg: Pick<IcrlvrConfig, 'template'>) => PROMPT_TEMPLATES[cfg.template === 'spec' ? 'default' : 'compact'];
const STOP = ['\n\n'];

/**
 * Questions of a step's sampling round: a seeded draw without replacement from the training
 * questions, given as any list in training-question order (e.g. only the ids: icrlvrPlan).
 */
export function stepPicks<T>(train: readonly T[], cfg: Pick<IcrlvrConfig, 'seed' | 'questionsPerStep'>, step: number, round: number): T[] {
  const idx = Int32Array.from({ length: train.length }, (_, i) => i);
  new Rng(cfg.seed, streamOf('questions', step, round)).shuffle(idx);
  return Array.from(idx.subarray(0, Math.min(cfg.questionsPerStep, idx.length)), (i) => train[i]);
}

/** One planned rollout: which question, which slot of its group, which demo, which RNG stream. */
interface PlannedRollout {
  question: Question;
  groupIndex: number;
  demo: TaskData['demos'][number] | null;
  prompt: string;
  stream: number;
}

function planRollouts(data: TaskData, cfg: IcrlvrConfig, step: number, round: number, questions: Question[], qOffset: number): PlannedRollout[] {
  const m = cfg.mode === 'icrlvr' ? cfg.demosPerGroup : 0;
  const plan: PlannedRollout[] = [];
  questions.forEach((q, k) => {
    const qi = qOffset + k;
    const slots = pickDemos(data.demos.length, cfg.groupSize, m, new Rng(cfg.seed, streamOf('demos', step, round, qi)));
    for (let g = 0; g < cfg.groupSize; g++) {
      const demo = slots[g] >= 0 ? data.demos[slots[g]] : null;
      plan.push({ question: q, groupIndex: g, demo, prompt: renderPrompt(q.question, demo, template(cfg)), stream: streamOf('rollout', step, round, qi, g) });
    }
  });
  return plan;
}

export interface ChunkState extends BatchState {
  chunks: ChunkRef[];
}

/** A rollout shard writes its finished batches as a chunk at most this often (ms since the attempt's start or its last chunk). */
export const ROLLOUT_CHUNK_EVERY_MS = 1000;

/**
 * Rollout of questions [qOffset, qOffset + questions.length) of a round, batch by batch.
 *
 * Durability: the state reported through `hooks.onProgress` (the heartbeat) names only batches
 * whose rows are in chunk artifacts: `nextBatch` is the first batch of no chunk. Finished batches
 * are held in memory and written as one chunk once ROLLOUT_CHUNK_EVERY_MS has passed since the
 * last chunk (or the attempt's start); the last batch is never chunked, the shard's artifact is
 * written next. The artifact is written from the rows in memory: the chunks named by the resume
 * state (read back once, at the start of a resumed attempt), then the batches this attempt
 * generated, in batch order. A batch's rows depend only on the plan and its RNG streams, not on
 * which attempt generated them or how the batches were grouped into chunks, so every attempt
 * writes the same bytes.
 */
export async function rolloutShard(...args: Parameters<typeof rolloutRows>): Promise<{ output: ArtifactRef; resumedFromBatch: number; batchesRun: number; batches: number; tokens: number }> {
  const { table, ...rest } = await rolloutRows(...args);
  const [, , , , io, parents] = args;
  return { output: await io.write(table, ICRLVR_ROLLOUTS, parents), ...rest };
}

/**
 * rolloutShard up to its artifact: the shard's rows as the table its artifact is written from
 * (the caller writes it: `io.write(table, ICRLVR_ROLLOUTS, parents)`), for a caller that goes on
 * with the rows while the artifact is made durable. Chunks and progress as rolloutShard.
 */
export async function rolloutRows(
  policy: Policy,
  data: TaskData,
  cfg: IcrlvrConfig,
  at: { step: number; round: number; questions: Question[]; qOffset: number },
  io: ArtifactIO,
  parents: string[],
  hooks: LoopHooks<ChunkState> = {},
  chunkEveryMs = ROLLOUT_CHUNK_EVERY_MS,
): Promise<{ table: Table; resumedFromBatch: number; batchesRun: number; batches: number; tokens: number }> {
  const plan = planRollouts(data, cfg, at.step, at.round, at.questions, at.qOffset);
  const batches = Math.ceil(plan.length / cfg.batchSize);
  let durable: ChunkState = hooks.resume ?? { nextBatch: 0, batches, chunks: [] };
  const resumedFromBatch = durable.nextBatch;
  const rows: RolloutRow[] = [];
  for (const c of durable.chunks) rows.push(...readRollouts(await io.read(c)));
  let unchunked = rows.length; // rows[unchunked..] are not in any chunk yet
  let lastChunkAt = performance.now();
  let tokens = 0;
  let batchesRun = 0;
  for (let b = durable.nextBatch; b < batches; b++) {
    hooks.signal?.throwIfAborted();
    const part = plan.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize);
    const t0 = performance.now();
    const gens = await policy.generate(
      part.map((p) => p.prompt),
      {
        maxTokens: cfg.maxTokens,
        temperature: cfg.temperature,
        topP: cfg.topP,
        topK: 0,
        stop: STOP,
        seed: cfg.seed,
        streams: part.map((p) => p.stream),
        names: part.map((p) => `question ${p.question.id}${p.demo ? ` with demonstration ${p.demo.id}` : ''}`),
      },
    );
    part.forEach((p, i) =>
      rows.push({
        step: at.step,
        round: at.round,
        questionId: p.question.id,
        groupIndex: p.groupIndex,
        demoId: p.demo?.id ?? '',
        promptHash: promptHash(p.prompt),
        prompt: p.prompt,
        completion: gens[i].text,
        tokens: gens[i].tokens,
        logprobs: gens[i].logprobs,
        stream: p.stream,
      }),
    );
    const batchTokens = gens.reduce((n, g) => n + g.tokens.length, 0);
    metrics.rolloutBatch(batchTokens, (performance.now() - t0) / 1000);
    tokens += batchTokens;
    batchesRun += 1;
    if (b + 1 < batches && performance.now() - lastChunkAt >= chunkEveryMs) {
      const chunk = chunkRef(await io.write(rolloutsTable(rows.slice(unchunked)), ICRLVR_ROLLOUTS, parents));
      durable = { nextBatch: b + 1, batches, chunks: [...durable.chunks, chunk] };
      unchunked = rows.length;
      lastChunkAt = performance.now();
    }
    await hooks.onProgress?.(durable, b + 1);
  }
  return { table: rolloutsTable(rows), resumedFromBatch, batchesRun, batches, tokens };
}

export interface ScoringStats {
  rollouts: number;
  groups: number;
  keptGroups: number;
  rewardMean: number;
  egCorrectMean: number | null;
  egIncorrectMean: number | null;
  processScoreCorrect: number | null;
  /** shares of the round's rollouts by outcome (lib/icrlvr/outcome.ts), and of its right answers reached by luck */
  soundShare: number;
  luckyShare: number;
  luckyShareCorrect: number | null;
  /** Evidence Gain of the sound vs the lucky correct rollouts: means, AUC, and nSound · nLucky (to pool AUCs over steps) */
  egSoundMean: number | null;
  egLuckyMean: number | null;
  egLuckAuc: number | null;
  egLuckPairs: number;
  /** right answers of the round with every step right, and with a wrong or missing one */
  soundCount: number;
  luckyCount: number;
}

/**
 * Reward, process score, Evidence Gain and advantages of a round's rollouts (all shards, in
 * order). The EG demos are K seeded picks per step; log π(y_D | baseline) is computed once
 * per demo (per question for egBaseline "question").
 */
export async function scoreRollouts(
  policy: Policy,
  data: TaskData,
  cfg: IcrlvrConfig,
  at: { step: number; round: number },
  rolloutTables: import('apache-arrow').Table[],
  io: ArtifactIO,
  /** the lineage parents of the scored table (awaited only to write it: the rollouts' artifact may still be being written) */
  parents: string[] | Promise<string[]>,
): Promise<{ output: ArtifactRef; stats: ScoringStats }> {
  const rows = rolloutTables.flatMap((t) => readRollouts(t));
  const byId = new Map(data.train.map((q) => [q.id, q]));
  const K = Math.min(cfg.egDemos, data.demos.length);
  const egIdx = pickDemos(data.demos.length, K, K, new Rng(cfg.seed, streamOf('eg-demos', at.step)));
  const egDemos = Array.from(egIdx, (i) => data.demos[i]);
  const tpl = template(cfg);
  // y_D is scored as the continuation of each context (PromptFormat.continuation)
  const item = (context: string, D: { solution: string }) => policy.encodeContinuation(context, D.solution);

  // baselines: log π(y_D | q_D) per demo, or log π(y_D | q as Example 1, q_D) per question and demo
  const baselineKey = (qid: string, d: number) => (cfg.egBaseline === 'question' ? `${qid}|${d}` : `${d}`);
  const baselineItems = new Map<string, { context: number[]; target: number[] }>();
  for (const r of rows) {
    egDemos.forEach((D, d) => {
      const key = baselineKey(r.questionId, d);
      if (baselineItems.has(key)) return;
      const ctx = cfg.egBaseline === 'question' ? renderQuestionBaselinePrompt(byId.get(r.questionId)!.question, D.question, tpl) : renderBaselinePrompt(D.question, tpl);
      baselineItems.set(key, item(ctx, D));
    });
  }
  const baseKeys = [...baselineItems.keys()];
  const baseScores = (await policy.score(baseKeys.map((k) => baselineItems.get(k)!), { batchSize: cfg.batchSize })).scored;
  const baseline = new Map(baseKeys.map((k, i) => [k, baseScores[i].logprob]));
  const evidence = rows.flatMap((r) => egDemos.map((D) => item(renderEvidencePrompt(byId.get(r.questionId)!.question, r.completion, D.question, tpl), D)));
  const evScores = (await policy.score(evidence, { batchSize: cfg.batchSize })).scored;

  const G = cfg.groupSize;
  const rewards = new Float64Array(rows.length);
  const egMean = new Float64Array(rows.length);
  const scored: ScoredRow[] = rows.map((r, i) => {
    const q = byId.get(r.questionId)!;
    const reward = verifyAnswer(r.completion, q.answer);
    rewards[i] = reward;
    const eg = egDemos.map((_, d) => evScores[i * K + d].logprob - baseline.get(baselineKey(r.questionId, d))!);
    const egTok = egDemos.reduce((s, _, d) => s + eg[d] / Math.max(1, evidence[i * K + d].target.length), 0) / Math.max(1, K);
    egMean[i] = eg.reduce((a, b) => a + b, 0) / Math.max(1, K);
    const lpSum = r.logprobs.reduce((a, b) => a + b, 0);
    const ps = data.processScore ? data.processScore(q, r.completion) : NaN;
    return {
      ...r,
      logprobSum: lpSum,
      logprobMean: r.logprobs.length ? lpSum / r.logprobs.length : 0,
      reward,
      processScore: ps,
      egDemoIds: egDemos.map((D) => D.id).join(','),
      eg,
      egMean: egMean[i],
      egTokenMean: egTok,
      advantage: 0,
      kept: 1,
      outcome: rolloutOutcome(reward, ps),
    };
  });
  const shaped = cfg.mode === 'eg-weighted' ? egWeightedRewards(rewards, egMean, G, cfg.egClip) : rewards;
  const adv = groupAdvantages(shaped, G, { normalizeStd: cfg.normalizeStd });
  const keep = cfg.dynamicSampling ? keepGroups(rewards, G) : new Uint8Array(rows.length / G).fill(1);
  scored.forEach((s, i) => {
    s.advantage = adv[i];
    s.kept = keep[Math.floor(i / G)];
  });
  const output = await io.write(scoredTable(scored), ICRLVR_SCORED, await parents);
  return { output, stats: scoringStats(scored, G) };
}

function meanOf(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

export function scoringStats(rows: ScoredRow[], G: number): ScoringStats {
  const correct = rows.filter((r) => r.reward === 1);
  const incorrect = rows.filter((r) => r.reward !== 1);
  const shares = outcomeShares(rows.map((r) => r.outcome));
  const luck = egVsLuck(rows);
  return {
    rollouts: rows.length,
    groups: rows.length / G,
    keptGroups: rows.filter((r, i) => i % G === 0 && r.kept).length,
    rewardMean: meanOf(rows.map((r) => r.reward)) ?? 0,
    egCorrectMean: meanOf(correct.map((r) => r.egMean)),
    egIncorrectMean: meanOf(incorrect.map((r) => r.egMean)),
    processScoreCorrect: meanOf(correct.map((r) => r.processScore).filter((x) => !Number.isNaN(x))),
    soundShare: shares.sound,
    luckyShare: shares.lucky,
    luckyShareCorrect: shares.luckyOfCorrect,
    egSoundMean: luck.egSoundMean,
    egLuckyMean: luck.egLuckyMean,
    egLuckAuc: luck.auc,
    egLuckPairs: luck.pairs,
    soundCount: luck.nSound,
    luckyCount: luck.nLucky,
  };
}

/** The kept groups of a step's rounds, in order, truncated to questionsPerStep groups. */
export function keptForUpdate(scoredTables: import('apache-arrow').Table[], cfg: IcrlvrConfig): ScoredRow[] {
  const kept = scoredTables.flatMap((t) => readScored(t)).filter((r) => r.kept);
  return kept.slice(0, cfg.questionsPerStep * cfg.groupSize);
}

export interface EvalStats {
  avgAtK: number;
  passAtK: number;
  processScoreCorrect: number | null;
  /** of the right held-out answers, the share with a wrong or missing step (null: none right, or no checkable steps) */
  luckyShareCorrect: number | null;
}

/** k samples per held-out question (no demonstrations) at the eval temperature / top-p. */
export async function evaluateHeldOut(
  policy: Policy,
  data: TaskData,
  cfg: IcrlvrConfig,
  step: number,
  io: ArtifactIO,
  parents: string[],
): Promise<{ output: ArtifactRef; stats: EvalStats }> {
  const k = cfg.evalSamples;
  const jobs = data.heldOut.flatMap((q, qi) => Array.from({ length: k }, (_, j) => ({ q, stream: streamOf('eval', qi, j) })));
  const correct = new Int32Array(data.heldOut.length);
  const lucky = new Int32Array(data.heldOut.length);
  const psSum = new Float64Array(data.heldOut.length);
  for (let s = 0; s < jobs.length; s += cfg.batchSize) {
    const part = jobs.slice(s, s + cfg.batchSize);
    const gens = await policy.generate(
      part.map((j) => renderPrompt(j.q.question, null, template(cfg))),
      { maxTokens: cfg.maxTokens, temperature: cfg.evalTemperature, topP: cfg.evalTopP, topK: 0, stop: STOP, seed: cfg.seed, streams: part.map((j) => j.stream), names: part.map((j) => `held-out question ${j.q.id}`) },
    );
    part.forEach((j, i) => {
      const qi = Math.floor((s + i) / k);
      if (verifyAnswer(gens[i].text, j.q.answer)) {
        const ps = data.processScore ? data.processScore(j.q, gens[i].text) : NaN;
        correct[qi] += 1;
        psSum[qi] += Number.isNaN(ps) ? 0 : ps;
        if (rolloutOutcome(1, ps) === 'lucky') lucky[qi] += 1;
      }
    });
  }
  const totalCorrect = correct.reduce((a, b) => a + b, 0);
  const psCorrect = Float64Array.from(correct, (c, i) => (c ? psSum[i] / c : NaN));
  const table = tableFromColumns({
    step: new Int32Array(data.heldOut.length).fill(step),
    question_id: data.heldOut.map((q) => q.id),
    samples: new Int32Array(data.heldOut.length).fill(k),
    correct,
    process_score_correct: psCorrect,
    lucky,
  });
  const output = await io.write(table, ICRLVR_EVAL, parents);
  return {
    output,
    stats: {
      avgAtK: totalCorrect / (k * data.heldOut.length),
      passAtK: meanPassAtK(correct, k, k),
      processScoreCorrect: data.processScore && totalCorrect ? psSum.reduce((a, b) => a + b, 0) / totalCorrect : null,
      luckyShareCorrect: data.processScore && totalCorrect ? lucky.reduce((a, b) => a + b, 0) / totalCorrect : null,
    },
  };
}

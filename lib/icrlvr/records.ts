import { createHash } from 'node:crypto';
import { Table } from 'apache-arrow';
import type { IcrlvrEvaluation } from '../../schemas/status';
import { listColumn, readLists, readNumbers, tableFromColumns } from '../store/columns';
import { Outcome, rolloutOutcome } from './outcome';

/** One sampled completion (a row of icrlvr.rollouts@1). */
export interface RolloutRow {
  step: number;
  round: number;
  questionId: string;
  groupIndex: number;
  /** '' when the prompt had no demonstration */
  demoId: string;
  promptHash: string;
  prompt: string;
  completion: string;
  tokens: number[];
  logprobs: number[];
  stream: number;
}

/** A scored rollout: the audit record of icrlvr.scored@2 (@1 rows read with their outcome derived). */
export interface ScoredRow extends RolloutRow {
  logprobSum: number;
  logprobMean: number;
  reward: number;
  processScore: number;
  egDemoIds: string;
  eg: number[];
  egMean: number;
  egTokenMean: number;
  advantage: number;
  kept: number;
  /** sound | lucky | incorrect | unchecked (lib/icrlvr/outcome.ts) */
  outcome: Outcome;
}

export const promptHash = (prompt: string) => createHash('sha256').update(prompt).digest('hex').slice(0, 16);

const strings = (t: Table, n: string) => t.getChild(n)!.toArray() as string[];
const numbers = (t: Table, n: string) => Array.from(readNumbers(t, n));
function lists(t: Table, n: string): number[][] {
  const { values, offsets } = readLists(t, n);
  return Array.from({ length: offsets.length - 1 }, (_, i) => Array.from(values.subarray(offsets[i], offsets[i + 1])));
}

function rolloutColumns(rows: RolloutRow[]) {
  return {
    step: Int32Array.from(rows, (r) => r.step),
    round: Int32Array.from(rows, (r) => r.round),
    question_id: rows.map((r) => r.questionId),
    group_index: Int32Array.from(rows, (r) => r.groupIndex),
    demo_id: rows.map((r) => r.demoId),
    prompt_hash: rows.map((r) => r.promptHash),
    prompt: rows.map((r) => r.prompt),
    completion: rows.map((r) => r.completion),
    tokens: listColumn(rows.map((r) => r.tokens), 'int32'),
    logprobs: listColumn(rows.map((r) => r.logprobs), 'float32'),
  };
}

export function rolloutsTable(rows: RolloutRow[]): Table {
  return tableFromColumns({ ...rolloutColumns(rows), stream: Int32Array.from(rows, (r) => r.stream) });
}

export function readRollouts(t: Table): RolloutRow[] {
  const [step, round, group] = ['step', 'round', 'group_index'].map((n) => numbers(t, n));
  // icrlvr.scored@1 rows carry no stream column
  const stream = t.getChild('stream') ? numbers(t, 'stream') : new Array<number>(t.numRows).fill(-1);
  const [qid, demo, hash, prompt, completion] = ['question_id', 'demo_id', 'prompt_hash', 'prompt', 'completion'].map((n) => strings(t, n));
  const tokens = lists(t, 'tokens');
  const logprobs = lists(t, 'logprobs');
  return qid.map((_, i) => ({
    step: step[i],
    round: round[i],
    questionId: qid[i],
    groupIndex: group[i],
    demoId: demo[i],
    promptHash: hash[i],
    prompt: prompt[i],
    completion: completion[i],
    tokens: tokens[i],
    logprobs: logprobs[i],
    stream: stream[i],
  }));
}

export function scoredTable(rows: ScoredRow[]): Table {
  const f64 = (f: (r: ScoredRow) => number) => Float64Array.from(rows, f);
  return tableFromColumns({
    ...rolloutColumns(rows),
    logprob_sum: f64((r) => r.logprobSum),
    logprob_mean: f64((r) => r.logprobMean),
    reward: f64((r) => r.reward),
    process_score: f64((r) => r.processScore),
    eg_demo_ids: rows.map((r) => r.egDemoIds),
    eg: listColumn(rows.map((r) => r.eg), 'float32'),
    eg_mean: f64((r) => r.egMean),
    eg_token_mean: f64((r) => r.egTokenMean),
    advantage: f64((r) => r.advantage),
    kept: Uint8Array.from(rows, (r) => r.kept),
    outcome: rows.map((r) => r.outcome),
  });
}

export function readScored(t: Table): ScoredRow[] {
  const base = readRollouts(t);
  const [sum, mean, reward, ps, egMean, egTok, adv, kept] = ['logprob_sum', 'logprob_mean', 'reward', 'process_score', 'eg_mean', 'eg_token_mean', 'advantage', 'kept'].map((n) =>
    n === 'kept' ? Array.from(t.getChild(n)!.toArray() as Uint8Array) : numbers(t, n),
  );
  const egIds = strings(t, 'eg_demo_ids');
  const eg = lists(t, 'eg');
  // icrlvr.scored@1 has no outcome column: the same rule on its reward and process score
  const outcome = t.getChild('outcome') ? (strings(t, 'outcome') as Outcome[]) : reward.map((x, i) => rolloutOutcome(x, ps[i]));
  return base.map((r, i) => ({
    ...r,
    logprobSum: sum[i],
    logprobMean: mean[i],
    reward: reward[i],
    processScore: ps[i],
    egDemoIds: egIds[i],
    eg: eg[i],
    egMean: egMean[i],
    egTokenMean: egTok[i],
    advantage: adv[i],
    kept: kept[i],
    outcome: outcome[i],
  }));
}

/**
 * A sweep's comparison (icrlvr.comparison@3): one row per run (mode, arm, seed) and evaluation step
 * with the held-out avg@k, pass@k, process score of correct answers and share of them reached
 * by luck, and the step's training figures: mean reward, mean Evidence Gain of correct /
 * incorrect rollouts, share of right answers reached by luck, EG of sound / lucky correct
 * rollouts and its AUC (NaN where not measured).
 */
export function comparisonTable(runs: { mode: string; seed: number; arm?: string; evaluations: IcrlvrEvaluation[] }[]): Table {
  const rows = runs.flatMap((r) => r.evaluations.map((e) => ({ ...e, mode: r.mode, seed: r.seed, arm: r.arm ?? '' })));
  const num = (f: (e: (typeof rows)[number]) => number | null) => Float64Array.from(rows, (e) => f(e) ?? NaN);
  return tableFromColumns({
    mode: rows.map((r) => r.mode),
    arm: rows.map((r) => r.arm),
    seed: Int32Array.from(rows, (r) => r.seed),
    step: Int32Array.from(rows, (r) => r.step),
    avg_at_k: num((e) => e.avgAtK),
    pass_at_k: num((e) => e.passAtK),
    process_score_correct: num((e) => e.processScoreCorrect),
    eg_correct: num((e) => e.egCorrectMean),
    eg_incorrect: num((e) => e.egIncorrectMean),
    reward_mean: num((e) => e.rewardMean),
    lucky_share_correct: num((e) => e.luckyShareCorrect ?? null),
    held_out_lucky_share_correct: num((e) => e.heldOutLuckyShareCorrect ?? null),
    eg_sound: num((e) => e.egSoundMean ?? null),
    eg_lucky: num((e) => e.egLuckyMean ?? null),
    eg_luck_auc: num((e) => e.egLuckAuc ?? null),
  });
}

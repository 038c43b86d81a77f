import { Table } from 'apache-arrow';
import { scoringStats } from '../icrlvr/engine';
import { readScored } from '../icrlvr/records';
import { meanPassAtK } from '../rl/metrics';
import { readNumbers } from '../store/columns';
import { GoracsEvalRow, IcrlvrEvalPoint, IcrlvrTrainingPoint, SmokeSummaryRow, SweepRow } from './run';

/** The numbers behind a report's plots, read from a run's Arrow artifacts. */

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function strings(t: Table, column: string): string[] {
  return (t.getChild(column)?.toArray() ?? []) as string[];
}

/**
 * `icrlvr.eval@1` (one row per held-out question: k samples, c correct) →
 * avg@k = Σc / Σk, pass@k = mean over questions of 1 − C(k−c, k)/C(k, k),
 * process score of correct answers = Σ c·ps / Σc over questions with c > 0.
 */
export function icrlvrEvalPoint(t: Table): IcrlvrEvalPoint {
  const step = readNumbers(t, 'step');
  const samples = readNumbers(t, 'samples');
  const correct = readNumbers(t, 'correct');
  const ps = readNumbers(t, 'process_score_correct');
  const lucky = t.getChild('lucky') ? readNumbers(t, 'lucky') : undefined; // icrlvr.eval@2
  let k = 0;
  let c = 0;
  let psSum = 0;
  let l = 0;
  let checked = false;
  for (let i = 0; i < t.numRows; i++) {
    k += samples[i];
    c += correct[i];
    if (correct[i] > 0 && Number.isFinite(ps[i])) {
      psSum += ps[i] * correct[i];
      checked = true;
    }
    if (lucky) l += lucky[i];
  }
  return {
    step: t.numRows ? step[0] : 0,
    avgAtK: k ? c / k : NaN,
    passAtK: t.numRows ? meanPassAtK(correct, samples[0], samples[0]) : NaN,
    processScoreCorrect: c ? psSum / c : null,
    luckyShareCorrect: lucky && c && checked ? l / c : null,
  };
}

/**
 * `icrlvr.scored@1` of one sampling round → reward mean and mean EG of correct (reward 1)
 * and incorrect rollouts, by the workflow's own definition (`scoringStats`); `round` says
 * which sampling round of the step it was (the workflow's metrics use round 0).
 */
export function icrlvrTrainingPoint(t: Table, groupSize: number): IcrlvrTrainingPoint & { round: number } {
  const rows = readScored(t);
  const s = scoringStats(rows, groupSize);
  return {
    step: rows[0]?.step ?? 0,
    round: rows[0]?.round ?? 0,
    rewardMean: s.rewardMean,
    egCorrectMean: s.egCorrectMean,
    egIncorrectMean: s.egIncorrectMean,
    soundShare: s.soundShare,
    luckyShare: s.luckyShare,
    egSoundMean: s.egSoundMean,
    egLuckyMean: s.egLuckyMean,
    egLuckAuc: s.egLuckAuc,
  };
}

/** `icrlvr.comparison@1` → rows (NaN → null). */
export function sweepRows(t: Table): SweepRow[] {
  const mode = strings(t, 'mode');
  // icrlvr.comparison@3's arm (absent before, and empty in sweeps without arms)
  const arm = t.getChild('arm') ? strings(t, 'arm') : undefined;
  // icrlvr.comparison@2's luck columns (absent in @1: null)
  const col = (c: string) => (t.getChild(c) ? readNumbers(t, c) : undefined);
  const [lsc, hlsc, egS, egL, auc] = ['lucky_share_correct', 'held_out_lucky_share_correct', 'eg_sound', 'eg_lucky', 'eg_luck_auc'].map(col);
  const at = (v: ArrayLike<number> | undefined, i: number) => (v ? finite(v[i]) : null);
  const luck = (i: number) => ({ luckyShareCorrect: at(lsc, i), heldOutLuckyShareCorrect: at(hlsc, i), egSound: at(egS, i), egLucky: at(egL, i), egLuckAuc: at(auc, i) });
  const [seed, step, avg, pass, ps, egC, egI, reward] = ['seed', 'step', 'avg_at_k', 'pass_at_k', 'process_score_correct', 'eg_correct', 'eg_incorrect', 'reward_mean'].map((c) => readNumbers(t, c));
  return mode.map((m, i) => ({
    mode: m,
    ...(arm?.[i] ? { arm: arm[i] } : {}),
    seed: seed[i],
    step: step[i],
    avgAtK: finite(avg[i]),
    passAtK: finite(pass[i]),
    processScoreCorrect: finite(ps[i]),
    egCorrect: finite(egC[i]),
    egIncorrect: finite(egI[i]),
    rewardMean: finite(reward[i]),
    ...luck(i),
  }));
}

/** `goracs.poo-trace@1` → POO after each accepted swap (iter 0 = greedy start). */
export function pooTrace(t: Table): { iter: number; poo: number }[] {
  const iter = readNumbers(t, 'iter');
  const poo = readNumbers(t, 'poo');
  return Array.from(iter, (it, i) => ({ iter: it, poo: poo[i] }));
}

/** `goracs.eval@1` → one row per method, seed and metric. */
export function goracsEvalRows(t: Table): GoracsEvalRow[] {
  const method = strings(t, 'method');
  const metric = strings(t, 'metric');
  const [budget, value, seed] = ['budget', 'value', 'seed'].map((c) => readNumbers(t, c));
  return method.map((m, i) => ({ method: m, seed: seed[i], budget: budget[i], metric: metric[i], value: finite(value[i]) }));
}

/** `smoke.summary@1` → per output dimension mean, sd, min, max. */
export function smokeSummary(t: Table): SmokeSummaryRow[] {
  const [dim, mean, std, min, max] = ['dim', 'mean', 'std', 'min', 'max'].map((c) => readNumbers(t, c));
  return Array.from(dim, (d, i) => ({ dim: d, mean: mean[i], std: std[i], min: min[i], max: max[i] }));
}

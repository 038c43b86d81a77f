import { auc } from '../data/rec-metrics';

/**
 * How a scored rollout reached its verdict (docs/icrlvr.md, "Correct by luck"):
 *   sound      the final answer is right (reward 1) and every step line is right
 *              (process score 1);
 *   lucky      the final answer is right but at least one step line is wrong or missing
 *              (process score < 1): correct by luck, what plain RLVR reinforces as much as a
 *              sound trace;
 *   incorrect  the final answer is wrong (reward 0), whatever the steps;
 *   unchecked  the answer is right and the task has no checkable steps (process score NaN).
 */
export type Outcome = 'sound' | 'lucky' | 'incorrect' | 'unchecked';
export const OUTCOMES: readonly Outcome[] = ['sound', 'lucky', 'incorrect', 'unchecked'];

export function rolloutOutcome(reward: number, processScore: number): Outcome {
  if (reward !== 1) return 'incorrect';
  if (Number.isNaN(processScore)) return 'unchecked';
  return processScore >= 1 ? 'sound' : 'lucky';
}

/**
 * Evidence Gain against luck among the correct rollouts with checked steps:
 *   egSoundMean, egLuckyMean  mean EG (the rollout's mean over its EG demos) of each class;
 *   auc                      P(EG_sound > EG_lucky) + ½ P(=): EG as a classifier of
 *                            process-correctness (Mann–Whitney, lib/data/rec-metrics.ts);
 *                            null unless both classes are present;
 *   pairs                    nSound · nLucky, the comparisons the AUC averages — pooled
 *                            over steps, Σ auc·pairs / Σ pairs is the within-step AUC
 *                            (each sound rollout compared only with lucky ones of its step).
 */
export interface EgVsLuck {
  nSound: number;
  nLucky: number;
  egSoundMean: number | null;
  egLuckyMean: number | null;
  auc: number | null;
  pairs: number;
}

export function egVsLuck(rows: readonly { outcome: Outcome; egMean: number }[]): EgVsLuck {
  const sound = rows.filter((r) => r.outcome === 'sound').map((r) => r.egMean);
  const lucky = rows.filter((r) => r.outcome === 'lucky').map((r) => r.egMean);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const both = sound.length > 0 && lucky.length > 0;
  return {
    nSound: sound.length,
    nLucky: lucky.length,
    egSoundMean: mean(sound),
    egLuckyMean: mean(lucky),
    auc: both ? auc(Float64Array.from([...sound, ...lucky]), Uint8Array.from([...sound.map(() => 1), ...lucky.map(() => 0)])) : null,
    pairs: sound.length * lucky.length,
  };
}

/**
 * Shares of a set of rollouts by outcome: sound, lucky and incorrect over all of them, and
 * luckyOfCorrect = lucky / (sound + lucky), the share of right answers reached by luck (null
 * when none is right with checked steps).
 */
export function outcomeShares(outcomes: readonly Outcome[]): { sound: number; lucky: number; incorrect: number; luckyOfCorrect: number | null } {
  const n = outcomes.length;
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  const [s, l, i] = [count('sound'), count('lucky'), count('incorrect')];
  return { sound: n ? s / n : 0, lucky: n ? l / n : 0, incorrect: n ? i / n : 0, luckyOfCorrect: s + l ? l / (s + l) : null };
}

/**
 * A run's correct-by-luck figures pooled over its steps, updated step by step in the workflow
 * (no imports: workflow code). With per step t: s_t sound and l_t lucky right answers, AUC_t of
 * EG over its s_t · l_t pairs,
 *   luckyShareCorrectPooled = Σ l_t / Σ (s_t + l_t)          (correctPooled = Σ (s_t + l_t))
 *   egLuckAucPooled         = Σ AUC_t · s_t l_t / Σ s_t l_t   (egLuckPairsPooled = Σ s_t l_t)
 * i.e. each sound rollout compared only with the lucky ones of its own step.
 */
export function poolLuck(
  into: { luckyShareCorrectPooled?: number | null; correctPooled?: number; egLuckAucPooled?: number | null; egLuckPairsPooled?: number },
  step: { soundCount: number; luckyCount: number; egLuckAuc: number | null; egLuckPairs: number },
): void {
  const correct = (into.correctPooled ?? 0) + step.soundCount + step.luckyCount;
  const lucky = (into.luckyShareCorrectPooled ?? 0) * (into.correctPooled ?? 0) + step.luckyCount;
  into.correctPooled = correct;
  into.luckyShareCorrectPooled = correct ? lucky / correct : null;
  if (step.egLuckAuc !== null && step.egLuckPairs > 0) {
    const pairs = (into.egLuckPairsPooled ?? 0) + step.egLuckPairs;
    into.egLuckAucPooled = ((into.egLuckAucPooled ?? 0) * (into.egLuckPairsPooled ?? 0) + step.egLuckAuc * step.egLuckPairs) / pairs;
    into.egLuckPairsPooled = pairs;
  }
}

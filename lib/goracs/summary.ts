import type { GoracsEvaluationRow, GoracsMethodName, GoracsMetrics } from '../../schemas/status';
import type { EvalSummary } from './evaluate';

/**
 * The evaluation as a run's status reports it (pure: the workflow calls it): one row per
 * method and seed with the task's metrics, and per method the mean over seeds of its
 * headline metrics — HR@10 and NDCG@10 (next item) or AUC (binary) — as `hr10.<method>`, ….
 */
export function evaluationStatus(task: 'next-item' | 'binary', methods: GoracsMethodName[], results: (EvalSummary & { method: GoracsMethodName })[]): { rows: GoracsEvaluationRow[]; metrics: GoracsMetrics } {
  const rows = results.map((r): GoracsEvaluationRow =>
    task === 'binary'
      ? { method: r.method, seed: r.seed, budget: r.budget, auc: r.auc, valLoss: r.valLoss, bestEpoch: r.bestEpoch }
      : { method: r.method, seed: r.seed, budget: r.budget, hr5: r.hr5, hr10: r.hr10, ndcg5: r.ndcg5, ndcg10: r.ndcg10, valLoss: r.valLoss, bestEpoch: r.bestEpoch },
  );
  const mean = (rs: EvalSummary[], key: 'hr10' | 'ndcg10' | 'auc') => rs.reduce((s, r) => s + (r[key] ?? NaN), 0) / rs.length;
  const metrics: GoracsMetrics = {};
  for (const method of methods) {
    const mine = results.filter((r) => r.method === method);
    if (task === 'binary') {
      metrics[`auc.${method}`] = mean(mine, 'auc');
    } else {
      metrics[`hr10.${method}`] = mean(mine, 'hr10');
      metrics[`ndcg10.${method}`] = mean(mine, 'ndcg10');
    }
  }
  return { rows, metrics };
}

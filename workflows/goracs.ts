import { workflowInfo } from '@temporalio/workflow';
import type { GoracsEvalSummary, GoracsRefs } from '../activities/goracs';
import type { GoracsConfig } from '../schemas/config/goracs';
import { RunStatus, RunTracker, shortActivities, stageActivities } from './run-state';

export interface GoracsInput {
  config: GoracsConfig;
  configHash: string;
}

/**
 * GORACS coreset selection (specs/goracs.md): prepare → gradient embedding (fanned out
 * over `embedShards` activities) → OT initialisation (cost matrix, greedy start) →
 * refinement (swaps, one resumable activity heartbeating after every accepted swap) →
 * [evaluation: one activity per method and seed, then the comparison table].
 */
export async function goracs(input: GoracsInput): Promise<RunStatus> {
  const { config: cfg, configHash } = input;
  const evaluate = cfg.evaluation.enabled;
  const run = new RunTracker('goracs', { totalSteps: evaluate ? 4 : 3 });
  const long = stageActivities(cfg.heartbeatTimeoutSeconds);
  const short = shortActivities(cfg.heartbeatTimeoutSeconds);
  const ctx = (stage: string) => ({ experimentId: workflowInfo().workflowId, stage, configHash, config: cfg });
  const metrics: Record<string, number | null> = {};
  run.status.metrics = metrics;

  await run.enter('prepare', 0);
  const prep = await short.goracsPrepare(ctx('prepare'));
  const refs: GoracsRefs = { modelDir: prep.modelDir, samples: prep.outputs.samples };
  run.record('samples', refs.samples);
  Object.assign(metrics, { pool: prep.counts.pool, validation: prep.counts.validation, test: prep.counts.test, budget: cfg.budget });

  // 1. gradient embedding of pool + validation, in contiguous shards
  await run.enter('gradient-embedding', 1);
  const n = prep.counts.pool + prep.counts.validation;
  const shards = Math.min(cfg.embedShards, n);
  const per = Math.ceil(n / shards);
  const embedded = await Promise.all(
    Array.from({ length: shards }, (_, k) => long.goracsEmbed({ ...ctx('gradient-embedding'), ...refs, start: k * per, end: Math.min(n, (k + 1) * per) })),
  );
  const embeddings = embedded.map((e) => e.outputs.embeddings);
  embeddings.forEach((e, k) => run.record(`embeddings.${k}`, e));
  run.stepDone(1);

  // 2. OT initialisation: cost matrix and greedy start
  await run.enter('ot-init', 2);
  const init = await short.goracsInit({ ...ctx('ot-init'), ...refs, embeddings });
  run.record('cost', init.outputs.cost);
  run.record('greedy-coreset', init.outputs.greedy);
  Object.assign(metrics, { pooInitial: init.stats.pooInitial, poo: init.stats.pooInitial, selected: init.stats.selected, swapsAccepted: 0 });
  run.stepDone(2);

  // 3. refinement
  await run.enter('refinement', 3);
  const refined = await long.goracsRefine({ ...ctx('refinement'), ...refs, embeddings, greedy: init.outputs.greedy });
  run.record('coreset', refined.outputs.coreset);
  run.record('poo-trace', refined.outputs.trace);
  Object.assign(metrics, { poo: refined.stats.poo, swapsAccepted: refined.stats.swapsAccepted, selected: refined.stats.selected, refineMs: refined.stats.ms });
  run.status.results = { refinement: { reason: refined.stats.reason, greedyStalled: init.stats.stalled } };
  run.stepDone(3);

  // 4. evaluation
  if (evaluate) {
    await run.enter('evaluation', 4);
    const jobs = cfg.evaluation.methods.flatMap((method) => cfg.evaluation.seeds.map((seed) => ({ method, seed })));
    const results: GoracsEvalSummary[] = await Promise.all(
      jobs.map(async (j) => (await short.goracsEvaluate({ ...ctx('evaluation'), ...refs, embeddings, greedy: init.outputs.greedy, coreset: refined.outputs.coreset, ...j })).stats),
    );
    const cmp = await short.goracsCompare({
      experimentId: workflowInfo().workflowId,
      stage: 'evaluation',
      configHash,
      results,
      parents: [refs.samples.sha256, init.outputs.greedy.sha256, refined.outputs.coreset.sha256],
    });
    run.record('evaluation', cmp.outputs.evaluation);
    run.status.results = {
      ...run.status.results,
      evaluation: results.map((r) => ({ method: r.method, seed: r.seed, budget: r.budget, hr5: r.hr5, hr10: r.hr10, ndcg5: r.ndcg5, ndcg10: r.ndcg10, valLoss: r.valLoss, bestEpoch: r.bestEpoch })),
    };
    for (const method of cfg.evaluation.methods) {
      const mine = results.filter((r) => r.method === method);
      metrics[`hr10.${method}`] = mine.reduce((s, r) => s + r.hr10, 0) / mine.length;
      metrics[`ndcg10.${method}`] = mine.reduce((s, r) => s + r.ndcg10, 0) / mine.length;
    }
    run.stepDone(4);
  }
  return run.finish();
}

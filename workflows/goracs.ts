import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { GoracsEvalSummary, GoracsRefs } from '../activities/goracs';
import type { FoundSwap, RangeVerdict, RefineTraceEntry, Swap } from '../lib/goracs/refine';
import type { GoracsConfig } from '../schemas/config/goracs';
import { localStep, localSteps, RunStatusOf, RunTracker, shortActivities, stageActivities } from './run-state';
import type { GoracsMetrics } from '../schemas/status';
import type { QueueMap } from '../lib/queues';
import { evaluationStatus } from '../lib/goracs/summary';

export interface GoracsInput {
  config: GoracsConfig;
  configHash: string;
  /** the run's task queue per routed activity group (lib/queues.ts), fixed at its start */
  queues?: QueueMap;
  /** the input files `dlab run` checked, path → sha256 (the model directory's model.json, the data file) */
  inputFiles?: Record<string, string>;
}

/**
 * GORACS coreset selection (docs/goracs.md): prepare → gradient embedding (fanned out
 * over `embedShards` activities) → OT initialisation (cost matrix, greedy start) →
 * refinement (swaps: each iteration's candidates fanned out over activities of `swapChunk`
 * swaps, `swapConcurrency` at a time, the first improving swap in the rule's order accepted;
 * variant "label-enhanced" runs it per label class in one resumable activity) →
 * [evaluation: one activity per method and seed, then the comparison table].
 */
export async function goracs(input: GoracsInput): Promise<RunStatusOf<'goracs'>> {
  const { config: cfg, configHash, queues, inputFiles } = input;
  const evaluate = cfg.evaluation.enabled;
  const run = new RunTracker('goracs', { totalSteps: evaluate ? 4 : 3 });
  const long = stageActivities(cfg.heartbeatTimeoutSeconds, queues);
  const short = shortActivities(cfg.heartbeatTimeoutSeconds, queues);
  const ctx = (stage: string) => ({ experimentId: workflowInfo().workflowId, stage, configHash, config: cfg });
  const metrics: GoracsMetrics = {};
  run.status.metrics = metrics;

  await run.enter('prepare', 0);
  const prep = await short.goracsPrepare({ ...ctx('prepare'), ...(inputFiles ? { inputFiles } : {}) });
  // the model by its place on the prepare step's worker and by its address in the store (older runs: the place only)
  const refs: GoracsRefs = { modelDir: prep.modelDir, ...(prep.modelSha256 ? { modelSha256: prep.modelSha256 } : {}), samples: prep.outputs.samples };
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
  const refineInput = { ...ctx('refinement'), ...refs, embeddings, greedy: init.outputs.greedy };
  const refined =
    cfg.variant === 'label-enhanced'
      ? await long.goracsRefineLabelEnhanced(refineInput)
      : ((await legacyRefinement(refineInput, long)) ??
        (await refineBySwaps(chunking(cfg), cfg.maxIters, refineInput, short, (s) => Object.assign(metrics, { poo: s.poo, swapsAccepted: s.iter }))));
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
    const compareInput = {
      experimentId: workflowInfo().workflowId,
      stage: 'evaluation',
      configHash,
      results,
      parents: [refs.samples.sha256, init.outputs.greedy.sha256, refined.outputs.coreset.sha256],
    };
    const cmp = localSteps() ? await localStep('evaluation', compareInput.parents).goracsCompare(compareInput) : await short.goracsCompare(compareInput);
    run.record('evaluation', cmp.outputs.evaluation);
    const { rows, metrics: means } = evaluationStatus(cfg.evaluation.task, cfg.evaluation.methods, results);
    run.status.results = { ...run.status.results, evaluation: rows };
    Object.assign(metrics, means);
    run.stepDone(4);
  }
  return run.finish();
}

type RefineInput = Parameters<ReturnType<typeof shortActivities>['goracsRefineStart']>[0];

/**
 * Refinement (lib/goracs/refine.ts defines the rule), the paper's loop:
 *
 *   S ← greedy start;  while |accepted| < maxIters:
 *     F ← dual scores of POO(S);  candidates ← the cutNum best (out, in) pairs by F, out-major
 *     accept the FIRST candidate with POO(S − out + in) < POO(S); none → stop
 *
 * The candidates of an iteration are split into ranges of `chunk` swaps, evaluated by
 * goracsRefineChunk activities in waves of `chunk · concurrency` swaps; each returns the
 * smallest improving index in its range (all workers hold the same warm-started chain), and
 * the smallest over the first wave that has one is accepted — the swap the sequential rule
 * accepts, whatever the chunk size and the number of workers. The accepted swaps live in the
 * workflow's state, so a killed worker costs at most the chunks it was running.
 */
async function refineBySwaps(
  { chunk, concurrency }: { chunk: number; concurrency: number },
  maxIters: number,
  input: RefineInput,
  short: ReturnType<typeof shortActivities>,
  onSwap: (s: { iter: number; poo: number }) => void,
) {
  const t0 = Date.now();
  const start = await short.goracsRefineStart(input);
  const trace: RefineTraceEntry[] = [{ iter: 0, poo: start.poo, swapOut: -1, swapIn: -1, solverIterations: start.solverIterations, candidatesTried: 0 }];
  const accepted: Swap[] = [];
  let reason: 'max_iters' | 'no_improving_swap' = 'max_iters';
  while (accepted.length < maxIters) {
    const poo = trace[trace.length - 1].poo;
    let found: FoundSwap | undefined;
    for (let lo = 0; lo < start.nSwaps && !found; lo += chunk * concurrency) {
      const ranges: [number, number][] = [];
      for (let a = lo; a < Math.min(start.nSwaps, lo + chunk * concurrency); a += chunk) ranges.push([a, Math.min(start.nSwaps, a + chunk)]);
      const verdicts: RangeVerdict[] = await Promise.all(ranges.map(([a, b]) => short.goracsRefineChunk({ ...input, accepted, poo, lo: a, hi: b })));
      found = verdicts.find((v): v is FoundSwap => v.index >= 0);
    }
    if (!found) {
      reason = 'no_improving_swap';
      break;
    }
    accepted.push(found.swap);
    trace.push({ iter: accepted.length, poo: found.poo, swapOut: found.swap.out, swapIn: found.swap.in, solverIterations: found.solverIterations, candidatesTried: found.index + 1 });
    onSwap({ iter: accepted.length, poo: found.poo });
  }
  const written = await short.goracsRefineWrite({ ...input, accepted, trace, reason });
  const last = trace[trace.length - 1];
  return {
    outputs: written.outputs,
    stats: { pooInitial: trace[0].poo, poo: last.poo, swapsAccepted: accepted.length, selected: start.selected, reason, ms: Date.now() - t0 },
  };
}

/**
 * Compatibility with runs started by earlier versions, so that their histories replay and they
 * finish as they began. Runs started before refinement was fanned out over activities (no
 * 'goracs-refine-chunks' marker in their history) ran it as one resumable activity, which this
 * returns; for every other run it returns undefined. Can go, together with `chunking`'s
 * defaults and the goracsRefine activity, once no open run and no kept history predates the
 * marker (test/histories/goracs-00 and goracs-01 record such runs).
 */
async function legacyRefinement(input: RefineInput, long: ReturnType<typeof stageActivities>) {
  if (patched('goracs-refine-chunks')) return undefined;
  return long.goracsRefine(input);
}

/** Range size and ranges in flight; configs of runs started before swapChunk/swapConcurrency existed carry neither. */
function chunking(cfg: GoracsConfig): { chunk: number; concurrency: number } {
  const chunk = cfg.swapChunk ?? 64;
  const concurrency = cfg.swapConcurrency ?? 2;
  if (!(Number.isInteger(chunk) && chunk >= 1 && Number.isInteger(concurrency) && concurrency >= 1)) {
    throw ApplicationFailure.nonRetryable(`refinement: swapChunk ${cfg.swapChunk} and swapConcurrency ${cfg.swapConcurrency} must be integers ≥ 1`);
  }
  return { chunk, concurrency };
}

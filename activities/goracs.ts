import { Context } from '@temporalio/activity';
import { GORACS_CORESET, GORACS_COST, GORACS_EVAL, GORACS_POO_TRACE, GORACS_SAMPLES } from '../schemas/artifacts';
import { dualScoreOf, type GoracsConfig, type GoracsMethod } from '../schemas/config/goracs';
import { BatchState, StageOutcome } from '../lib/batches';
import type { RecRecord } from '../lib/data/rec-records';
import { coresetTable, costSummaryTable, goracsProblem, GoracsProblem, readCoresetRows, refinementTables } from '../lib/goracs/coreset';
import { concatEmbeddings, embedShard, EmbedState } from '../lib/goracs/embedding';
import { evalData, EvalData, evaluationItems, EvalSummary, EvalTask, evaluationTable, fineTuneAndRank, selectSubset } from '../lib/goracs/evaluate';
import { greedyStart } from '../lib/goracs/greedy';
import { poo } from '../lib/goracs/poo';
import { applySwaps, refine, RefineSession, RefineState, RefineTraceEntry, Swap } from '../lib/goracs/refine';
import { labelEnhancedSelect, labelEnhancedTrace, LabelEnhancedState, labelSwapsAccepted, requireBinaryLabels } from '../lib/goracs/label-enhanced';
import { checkedSamples, checkSampleLengths, readSamples, samplesTable, splitRows } from '../lib/goracs/samples';
import { backboneSha256, modelLimits, readModelDir } from '../lib/model/model-dir';
import { loadTokenizer } from '../lib/model/tokenizers';
import { Memo } from '../lib/memo';
import { ArtifactRef } from '../lib/store/ref';
import { ActivityDeps, artifactIO, keepAlive, runResumable, stageConfig } from './resumable';
import { localModelDir, modelDirFor, policyFor, promptOptionsOf } from './policies';
import { localInputs } from './inputs';
import { pushModel } from '../lib/model/model-store';
import { StageContext, StageResult } from './types';

export interface GoracsBase extends StageContext {
  config: GoracsConfig;
}

/** Where the run's model lives (its directory on the prepare step's worker, its address in the store) and its samples. */
export interface GoracsRefs {
  modelDir: string;
  modelSha256?: string;
  samples: ArtifactRef;
}

/** One method's evaluation for one seed. */
export interface GoracsEvalSummary extends EvalSummary {
  method: GoracsMethod;
}

/** Per-process caches of pure functions of artifacts (a rerun on another worker recomputes the same values). */
const problems = new Memo<GoracsProblem>(2);
const evalDatas = new Memo<EvalData>(2);

/** Heartbeat state of the label-enhanced refinement: both classes' refine states. */
interface LabelBeat extends BatchState {
  label: LabelEnhancedState;
}

/** Refinement sessions of this worker (refinement split over activities), by problem, start and cutNum. */
const sessions = new Memo<RefineSession>(2);

/** Heartbeat state of the refinement: the refine loop's own state, with swaps as "batches" for progress. */
interface RefineBeat extends BatchState {
  refine: RefineState;
}

/** GORACS activities: thin adapters from Temporal to lib/goracs. */
export function goracsActivities(deps: ActivityDeps) {
  const cfgOf = (input: GoracsBase) => stageConfig('goracs', input);
  const recordsOf = async (input: GoracsBase & GoracsRefs): Promise<RecRecord[]> => readSamples(await artifactIO(deps, input).read(input.samples));
  const problemOf = (input: GoracsBase & { embeddings: ArtifactRef[] }, cfg: GoracsConfig) =>
    problems.get([...input.embeddings.map((e) => e.sha256), cfg.cost, cfg.lambda].join('|'), async () => {
      const io = artifactIO(deps, input);
      const tables = [];
      for (const e of input.embeddings) tables.push(await io.read(e));
      return goracsProblem(concatEmbeddings(tables), cfg.cost, cfg.lambda);
    });
  const embedParents = (input: GoracsRefs & { embeddings: ArtifactRef[] }) => [input.samples.sha256, ...input.embeddings.map((e) => e.sha256)];
  /** This worker's refinement session for the run's problem and greedy start, one that `accepted` extends (else a new one). */
  const sessionOf = async (input: GoracsBase & { embeddings: ArtifactRef[]; greedy: ArtifactRef }, cfg: GoracsConfig, accepted: Swap[]): Promise<RefineSession> => {
    const key = [...input.embeddings.map((e) => e.sha256), cfg.cost, cfg.lambda, input.greedy.sha256, cfg.cutNum, dualScoreOf(cfg)].join('|');
    const have = sessions.peek(key);
    if (have) {
      const s = await have.catch(() => undefined);
      if (s && s.extends(accepted)) return s;
      sessions.delete(key);
    }
    return sessions.get(key, async () => {
      const p = await problemOf(input, cfg);
      const initial = readCoresetRows(await artifactIO(deps, input).read(input.greedy));
      return new RefineSession(p.cm.cost, p.nT, p.nV, initial, cfg.cutNum, dualScoreOf(cfg));
    });
  };

  return {
    /** The model (built or the user's) and the samples artifact. */
    async goracsPrepare(
      input: GoracsBase & { inputFiles?: Record<string, string> },
    ): Promise<{ outputs: { samples: ArtifactRef }; modelDir: string; modelSha256: string; counts: { pool: number; validation: number; test: number } }> {
      return keepAlive(deps, async () => {
        const cfg = await localInputs(deps, cfgOf(input), input.inputFiles);
        const modelDir = await modelDirFor(deps, cfg.model, input.inputFiles);
        const { sha256: modelSha256 } = await pushModel(deps.store, modelDir); // for the workers of the later stages, wherever they are
        const dir = await readModelDir(modelDir);
        // the data checked against the config and the model now, not after hours of embedding and refinement
        const { records, split, source } = checkedSamples(cfg);
        const limits = modelLimits(cfg.model, { tokenizer: loadTokenizer(dir.tokenizerPath), maxPos: dir.json.dims.maxPos, dir: modelDir });
        const nextItem = cfg.evaluation.enabled && cfg.evaluation.task !== 'binary';
        checkSampleLengths(records, limits.prompts, limits.maxPos, limits.field, source, cfg.evaluation.enabled, nextItem ? evaluationItems(cfg.data, records) : undefined);
        const samples = await artifactIO(deps, input).write(samplesTable(records), GORACS_SAMPLES, []);
        return { outputs: { samples }, modelDir, modelSha256, counts: { pool: split.pool.length, validation: split.validation.length, test: split.test.length } };
      });
    },

    /** Gradient embedding of pool + validation samples [start, end) (in sample order), batch by batch, resumable. */
    async goracsEmbed(input: GoracsBase & GoracsRefs & { start: number; end: number }): Promise<StageResult> {
      const cfg = cfgOf(input);
      const policy = await policyFor(await localModelDir(deps, input, input.config.model), promptOptionsOf(cfg.model));
      const records = await recordsOf(input);
      const split = splitRows(records, input.samples.sha256);
      const all = Int32Array.from([...split.pool, ...split.validation]).sort();
      const projection = cfg.projection ? { ...cfg.projection, seed: cfg.seed } : undefined;
      const parents = [input.samples.sha256, backboneSha256(policy.model), policy.model.sha256.head];
      const { result } = await runResumable<EmbedState>(
        deps,
        (hooks) => embedShard(policy, { records, rows: all.subarray(input.start, input.end) }, { batchSize: cfg.batchSize, projection }, artifactIO(deps, input), parents, hooks),
        'embeddings',
      );
      return result;
    },

    /** OT initialisation: the cost matrix (summary artifact) and the greedy facility-location start (coreset artifact). */
    async goracsInit(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[] }) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        const io = artifactIO(deps, input);
        const p = await problemOf(input, cfg);
        const parents = embedParents(input);
        const cost = await io.write(costSummaryTable(p, cfg.cost, cfg.lambda), GORACS_COST, parents);
        const g = greedyStart(p.cm.cost, p.nT, p.nV, cfg.budget);
        const { table, poo } = coresetTable(p, g.rows, new Int32Array(g.rows.length), dualScoreOf(cfg));
        const greedy = await io.write(table, GORACS_CORESET, parents, { stalled: g.stalled, added: g.added });
        return { outputs: { cost, greedy }, stats: { pooInitial: poo, selected: g.rows.length, stalled: g.stalled, added: g.added, nPool: p.nT, nVal: p.nV } };
      });
    },

    /**
     * Refinement by swaps from the greedy start: heartbeats after every accepted swap (the
     * refine state: S, POO, trace); a retried attempt resumes from the last one (refine
     * replays the accepted swaps' warm-started solves from the greedy start, bit-identically).
     */
    async goracsRefine(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef }) {
      const cfg = cfgOf(input);
      const io = artifactIO(deps, input);
      const p = await problemOf(input, cfg);
      const initial = readCoresetRows(await io.read(input.greedy));
      const parents = [...embedParents(input), input.greedy.sha256];
      const t0 = Date.now();
      const { result, outcome } = await runResumable<RefineBeat, StageOutcome & { trace: ArtifactRef; state: RefineState }>(
        deps,
        async (hooks) => {
          const resumedFrom = hooks.resume?.refine.iter ?? 0;
          const state = await refine(p.cm.cost, p.nT, p.nV, initial, { maxIters: cfg.maxIters, cutNum: cfg.cutNum, dualScore: dualScoreOf(cfg) }, {
            resume: hooks.resume?.refine,
            signal: hooks.signal,
            onProgress: (s) => hooks.onProgress?.({ nextBatch: s.iter, batches: cfg.maxIters, refine: s }),
          });
          const tables = refinementTables(p, state.selected, state.trace, undefined, dualScoreOf(cfg));
          const trace = await io.write(tables.trace, GORACS_POO_TRACE, parents);
          const output = await io.write(tables.coreset, GORACS_CORESET, [...parents, trace.sha256], { reason: state.reason ?? null });
          return { output, trace, state, resumedFromBatch: resumedFrom, batchesRun: state.iter - resumedFrom, batches: cfg.maxIters };
        },
        'coreset',
      );
      const s = outcome.state;
      return {
        ...result,
        outputs: { coreset: outcome.output, trace: outcome.trace },
        stats: { pooInitial: s.trace[0].poo, poo: s.poo, swapsAccepted: s.iter, selected: s.selected.length, reason: s.reason ?? null, ms: Date.now() - t0 },
      };
    },

    /**
     * The label-enhanced variant [LabelEnhancedITRA] (config `variant: "label-enhanced"`,
     * binary labels): greedy start + refinement on the positives against the positive
     * validation rows, then on the negatives, budget split by the validation positive rate;
     * heartbeats both classes' refine states and resumes from them. Writes the coreset (the
     * positives' rows, then the negatives') and one trace: the positives' entries, then the
     * negatives', swaps as pool rows.
     */
    async goracsRefineLabelEnhanced(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef }) {
      const cfg = cfgOf(input);
      const io = artifactIO(deps, input);
      const p = await problemOf(input, cfg);
      requireBinaryLabels([...p.poolLabel, ...p.valLabel], (i) => (i < p.nT ? `pool sample ${p.poolIds[i]}` : `validation row ${i - p.nT}`));
      const poolLabels = Uint8Array.from(p.poolLabel);
      const valLabels = Uint8Array.from(p.valLabel);
      const parents = [...embedParents(input), input.greedy.sha256];
      const t0 = Date.now();
      const { result, outcome } = await runResumable<LabelBeat, StageOutcome & { trace: ArtifactRef; poo: number; state: LabelEnhancedState; selected: number }>(
        deps,
        async (hooks) => {
          const resumedFrom = hooks.resume ? labelSwapsAccepted(hooks.resume.label) : 0;
          const out = await labelEnhancedSelect(p.cm.cost, p.nT, p.nV, poolLabels, valLabels, cfg.budget, { maxIters: cfg.maxIters, cutNum: cfg.cutNum, dualScore: dualScoreOf(cfg) }, {
            resume: hooks.resume?.label,
            signal: hooks.signal,
            onProgress: (s) => hooks.onProgress?.({ nextBatch: labelSwapsAccepted(s), batches: 2 * cfg.maxIters, label: s }),
          });
          const { trace: entries, enteredAt } = labelEnhancedTrace(poolLabels, valLabels, cfg.budget, out.state);
          const tables = refinementTables(p, out.selected, entries, enteredAt, dualScoreOf(cfg));
          const trace = await io.write(tables.trace, GORACS_POO_TRACE, parents);
          const output = await io.write(tables.coreset, GORACS_CORESET, [...parents, trace.sha256], { variant: 'label-enhanced' });
          const done = labelSwapsAccepted(out.state);
          return { output, trace, poo: tables.poo, state: out.state, selected: out.selected.length, resumedFromBatch: resumedFrom, batchesRun: done - resumedFrom, batches: 2 * cfg.maxIters };
        },
        'coreset',
      );
      const { state } = outcome;
      const reason = [state.positive?.reason, state.negative?.reason].filter(Boolean).join('/');
      // POO of the (class-blind) greedy start, against which the status compares
      const pooInitial = poo(p.cm.cost, p.nT, p.nV, readCoresetRows(await io.read(input.greedy))).value;
      return {
        ...result,
        outputs: { coreset: outcome.output, trace: outcome.trace },
        stats: { pooInitial, poo: outcome.poo, swapsAccepted: labelSwapsAccepted(state), selected: outcome.selected, reason, ms: Date.now() - t0 },
      };
    },

    /**
     * Refinement split over activities (the workflow's loop, docs/goracs.md "Parallel evaluation of
     * candidate swaps"): the start of the chain — POO of the greedy start and
     * the number of candidate swaps per iteration.
     */
    async goracsRefineStart(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef }) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        const p = await problemOf(input, cfg);
        const session = await sessionOf(input, cfg, []);
        const nS = readCoresetRows(await artifactIO(deps, input).read(input.greedy)).length;
        return { poo: session.poo, solverIterations: session.solverIterations, selected: nS, nSwaps: RefineSession.candidateCount(p.nT, nS, cfg.cutNum) };
      });
    },

    /**
     * Candidate swaps [lo, hi) of the iteration after `accepted`: the smallest improving
     * index in the range (exact, warm-started solves; swaps the dual bound rules out are
     * skipped), or −1. `poo` is the workflow's POO of the current S, checked against this
     * worker's chain.
     */
    async goracsRefineChunk(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef; accepted: Swap[]; poo: number; lo: number; hi: number }) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        const session = await sessionOf(input, cfg, input.accepted);
        const stats = { solves: 0, pruned: 0, pivots: 0 };
        // cancellation reaches a running chunk through its keep-alive heartbeats (every second)
        const verdict = await session.evaluate(input.accepted, input.poo, input.lo, input.hi, stats, Context.current().cancellationSignal);
        return { ...verdict, stats };
      });
    },

    /** The coreset and POO trace artifacts of a refinement the workflow ran chunk by chunk. */
    async goracsRefineWrite(
      input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef; accepted: Swap[]; trace: RefineTraceEntry[]; reason: 'max_iters' | 'no_improving_swap' },
    ) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        const io = artifactIO(deps, input);
        const p = await problemOf(input, cfg);
        const selected = applySwaps(readCoresetRows(await io.read(input.greedy)), input.accepted);
        const parents = [...embedParents(input), input.greedy.sha256];
        const tables = refinementTables(p, selected, input.trace, undefined, dualScoreOf(cfg));
        const trace = await io.write(tables.trace, GORACS_POO_TRACE, parents);
        const coreset = await io.write(tables.coreset, GORACS_CORESET, [...parents, trace.sha256], { reason: input.reason });
        return { outputs: { coreset, trace } };
      });
    },

    /** Fine-tune the head on one method's subset (seeded), then the test split: HR@5/10, NDCG@5/10 (next item) or AUC (binary). */
    async goracsEvaluate(input: GoracsBase & GoracsRefs & { embeddings: ArtifactRef[]; greedy: ArtifactRef; coreset: ArtifactRef; method: GoracsMethod; seed: number }) {
      return keepAlive(deps, async () => {
        const cfg = cfgOf(input);
        const ev = cfg.evaluation;
        const io = artifactIO(deps, input);
        const modelDir = await localModelDir(deps, input, input.config.model);
        const policy = await policyFor(modelDir, promptOptionsOf(cfg.model));
        const records = await recordsOf(input);
        const split = splitRows(records, input.samples.sha256);
        const items = evaluationItems(cfg.data, records);
        const task: EvalTask = ev.task === 'binary' ? { kind: 'binary', yes: ev.binaryTargets[0], no: ev.binaryTargets[1] } : { kind: 'next-item' };
        const data = await evalDatas.get([modelDir, policy.model.sha256.head, policy.prompts.chat ? 'chat' : 'plain', input.samples.sha256, ev.negatives, cfg.seed, JSON.stringify(task)].join('|'), () =>
          evalData(policy, records, split, items, ev.negatives, cfg.seed, cfg.batchSize, task),
        );
        const p = await problemOf(input, cfg);
        const sel = { goracs: readCoresetRows(await io.read(input.coreset)), greedy: readCoresetRows(await io.read(input.greedy)) };
        const subset = selectSubset(input.method, cfg.budget, p.nT, p.poolG, input.seed, sel);
        const stats = await fineTuneAndRank(policy.head, data, subset, ev, input.seed);
        const summary: GoracsEvalSummary = { method: input.method, seed: input.seed, budget: subset.length, ...stats };
        return { stats: summary };
      });
    },

    /** The evaluation table: one row per method, seed and metric. */
    async goracsCompare(input: StageContext & { results: GoracsEvalSummary[]; parents: string[] }) {
      return keepAlive(deps, async () => {
        const evaluation = await artifactIO(deps, input).write(evaluationTable(input.results), GORACS_EVAL, input.parents);
        return { outputs: { evaluation } };
      });
    },
  };
}

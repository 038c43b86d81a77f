// `npm run bench:icrlvr`: where the time of an In-Context RLVR step goes, on a real dev
// server with an in-process worker (examples/icrlvr/small.json's model and task, 50 pretraining
// steps, 6 steps, rollouts in one shard so tokens/s is one generation stream), over BENCH_RUNS
// (default 5) runs of that workflow, each followed by a bare pass over the same work (every run
// does the same: checked):
//  - share of rollout, scoring, update and orchestration (loop wall time not covered by any
//    activity: workflow tasks, scheduling, the server) over the runs' training steps, and run by
//    run; scoring and the update run as one activity (icrlvrScoreUpdate) in runs since the
//    'icrlvr-score-update' patch, so their shares are given together, and apart from the worker's
//    own timings; a whole step in one activity (icrlvrStep, runs with one rollout shard since the
//    'icrlvr-step-activity' patch) is split by the worker's own timing of its rolloutRows calls:
//    those are its rollout time, the rest of the activity (plans, scoring while the rollouts'
//    artifact is written, update) its scoring + update time;
//  - rollout tokens/s inside the workflow (the worker's timing of the rolloutRows calls inside
//    the icrlvrStep activities: generation plus chunk writes and heartbeats; the shard's own
//    artifact is written behind the scoring) next to a bare `policy.generate` of the same work —
//    for each step the checkpoint it started from, its rounds' prompts and RNG streams, the same
//    batches — which samples the same tokens (checked): rolloutOverBare, each step's time the
//    median of its timings inside (one a run) and of its bare ones (one a pass), so that a spell
//    of a shared machine's slowness (seconds long, either side) does not decide the ratio; run by
//    run (one timing of each step over the bare medians); and the same for the last step alone.
// The rollout / bare ratio depends on the intra-op thread count (DLAB_ORT_THREADS, default one
// per physical core): a pool as wide as the machine shares its cores with V8's helper threads and
// the dev server inside the workflow, not in the bare passes (docs/benchmarks.md).
// Ends with one line: a JSON object of the figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFirst, fetchRunChain, tsToIso } from '../client/events';
import { PACKAGE_ROOT } from '../lib/config/code-version';
import { configHash } from '../lib/config/canonical';
import { readRollouts } from '../lib/icrlvr/records';
import { Policy } from '../lib/model/policy';
import { intraOpThreads } from '../lib/model/session-cache';
import { intOption } from '../lib/config/options';
import { storeForHome } from '../lib/store/artifact-store';
import { ArtifactRef } from '../lib/store/ref';
import { checkpointFromTable } from '../lib/train/checkpoint';
import { parseConfig } from '../schemas/config';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { withBenchCluster } from './bench-cluster';

type Interval = [number, number];

/** Total length of the union of intervals. */
function covered(intervals: Interval[]): number {
  const s = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [a, b] = [-Infinity, -Infinity];
  for (const [x, y] of s) {
    if (x > b) {
      if (b > a) total += b - a;
      [a, b] = [x, y];
    } else b = Math.max(b, y);
  }
  if (b > a) total += b - a;
  return total;
}

/** workflows of the same config timed one after the other, each followed by a bare pass over the same work (BENCH_RUNS) */
const RUNS = intOption('BENCH_RUNS', process.env.BENCH_RUNS ?? '5', 1);

async function main() {
  const raw = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'examples', 'icrlvr', 'small.json'), 'utf8'));
  const cfg = parseConfig('icrlvr', { ...raw, steps: 6, evalEvery: 100, rolloutShards: 1, pretrain: { ...raw.pretrain, steps: 50 } });
  // where a step's time goes, seen from inside this (in-process) worker, per workflow run: the
  // whole activity (interceptor), the policy.generate calls in it, and the rolloutRows calls of
  // icrlvrStep activities
  const inside = new Map<string, Map<string, number[]>>();
  const insideOf = (run: string) => inside.get(run) ?? inside.set(run, new Map()).get(run)!;
  const push = (run: string, key: string, ms: number) => insideOf(run).set(key, [...(insideOf(run).get(key) ?? []), ms]);
  let generateMs = 0;
  let shardMs = 0;
  const engine = require('../lib/icrlvr/engine') as { rolloutRows: (...args: unknown[]) => Promise<unknown> };
  const shard = engine.rolloutRows;
  engine.rolloutRows = async (...args: unknown[]) => {
    const t = performance.now();
    try {
      return await shard(...args);
    } finally {
      if (Context.current().info.activityType === 'icrlvrStep') shardMs += performance.now() - t;
    }
  };
  const generate = Policy.prototype.generate;
  Policy.prototype.generate = async function (this: Policy, ...args: Parameters<typeof generate>) {
    const t = performance.now();
    try {
      return await generate.apply(this, args);
    } finally {
      generateMs += performance.now() - t;
    }
  };
  const interceptor = () => ({
    inbound: {
      async execute(input: unknown, next: (input: unknown) => Promise<unknown>) {
        const t = performance.now();
        const g = generateMs;
        const sh = shardMs;
        try {
          return await next(input);
        } finally {
          const { activityType: type, workflowExecution } = Context.current().info;
          const run = workflowExecution?.workflowId ?? '';
          push(run, type, performance.now() - t);
          if (type === 'icrlvrRollout' || type === 'icrlvrStep') push(run, 'generateInRollout', generateMs - g);
          if (type === 'icrlvrStep') push(run, 'shardInStep', shardMs - sh);
        }
      },
    },
  });
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return !s.length ? 0 : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const sum = (xs: number[] | undefined) => (xs ?? []).reduce((a, b) => a + b, 0);
  const figures = await withBenchCluster(async (client, home) => {
    // RUNS workflows of the same config one after the other, each followed by a bare pass over
    // the first run's work: the same work each time (checked: the same prompts, RNG streams and
    // tokens step by step), so every step is
    // timed RUNS times inside the workflow and RUNS times bare, the two alternated so that both see
    // the same spells of a shared machine; the first run also pays the pretraining and the worker's
    // warm-up.
    //
    // The bare pass: bare generation of the very work of the steps — for each step the policy its
    // rollouts were sampled from (the checkpoint the step started at), its rounds' prompts and RNG
    // streams, batched as the rollout batched them (each round's plan in batches of batchSize) — so
    // it samples the same tokens, checked; after one warm-up batch.
    const store = storeForHome(home);
    const { readdirSync } = await import('node:fs');
    const runs: RunFigures[] = [];
    const work: { policy: Policy; rounds: ReturnType<typeof readRollouts>[] }[] = [];
    const gen = (policy: Policy, rows: ReturnType<typeof readRollouts>) =>
      policy.generate(rows.map((r) => r.prompt), { maxTokens: cfg.maxTokens, temperature: cfg.temperature, topK: 0, topP: cfg.topP, seed: cfg.seed, stop: ['\n\n'], streams: rows.map((r) => r.stream) });
    const batchesOf = (rows: ReturnType<typeof readRollouts>) => Array.from({ length: Math.ceil(rows.length / cfg.batchSize) }, (_, b) => rows.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize));
    const bareStepMs: number[][] = []; // [step][pass]
    let sameTokens = true;
    for (let r = 0; r < RUNS; r++) {
      const workflowId = `bench-icrlvr-${r + 1}`;
      await client.workflow.execute('icrlvr', { taskQueue: 'bench', workflowId, args: [{ config: cfg, configHash: configHash(cfg) }] });
      const run = await analyseRun(client, workflowId, insideOf(workflowId));
      runs.push(run);
      if (r === 0) {
        if (!run.stepWork.length) throw new Error('bench-icrlvr: no icrlvrStep activity in the history (the bench needs rolloutShards 1 and one task queue)');
        const base = await Policy.load(join(home, 'models', readdirSync(join(home, 'models')).find((d) => d.startsWith('built-') || d.startsWith('pretrained-'))!));
        for (const w of run.stepWork) {
          const rounds: ReturnType<typeof readRollouts>[] = [];
          for (const ref of w.rollouts) rounds.push(readRollouts(await store.get(ref)));
          work.push({ policy: base.withHead(checkpointFromTable(await store.get(w.checkpoint), 0, 'bench').head), rounds });
          bareStepMs.push([]);
        }
        await gen(work[0].policy, work[0].rounds[0].slice(0, cfg.batchSize));
      } else {
        // the same work as the first run: its rollouts' prompts, RNG streams and tokens, step by step
        if (run.stepWork.length !== work.length) sameTokens = false;
        for (const [k, w] of run.stepWork.entries()) {
          const rounds = await Promise.all(w.rollouts.map(async (ref) => readRollouts(await store.get(ref))));
          const want = work[k]?.rounds ?? [];
          const same = rounds.length === want.length && rounds.every((rows, j) => rows.length === want[j].length && rows.every((x, i) => x.prompt === want[j][i].prompt && x.stream === want[j][i].stream && x.tokens.join() === want[j][i].tokens.join()));
          if (!same) sameTokens = false;
        }
      }
      for (const [k, { policy, rounds }] of work.entries()) {
        const s0 = performance.now();
        for (const rows of rounds) {
          for (const batch of batchesOf(rows)) {
            const gens = await gen(policy, batch);
            gens.forEach((g, i) => {
              if (g.tokens.length !== batch[i].tokens.length || g.tokens.some((t, j) => t !== batch[i].tokens[j])) sameTokens = false;
            });
          }
        }
        bareStepMs[k].push(performance.now() - s0);
      }
    }
    const [first] = runs;
    const steps = first.stepTokens.length;
    const tokens = sum(first.stepTokens);
    // each step's rollout: the median of its RUNS timings inside, and of its RUNS timings bare
    const insideStep = first.stepTokens.map((_, k) => median(runs.map((r) => r.shardMs[k])));
    const bareStep = bareStepMs.map(median);
    const rate = (ms: number[]) => tokens / (sum(ms) / 1000);
    const all = <K extends keyof RunFigures>(k: K) => runs.map((r) => r[k] as number);
    const wall = sum(all('wall'));
    const insideAll = new Map<string, number[]>();
    for (const m of inside.values()) for (const [k, v] of m) insideAll.set(k, [...(insideAll.get(k) ?? []), ...v]);
    return {
      runs: RUNS,
      scheduleToStartMedianMs: median(runs.flatMap((r) => r.toStart)),
      completeToNextScheduleMedianMs: median(runs.flatMap((r) => r.toNext)),
      completeToWorkflowTaskStartMedianMs: median(runs.flatMap((r) => r.toWft)),
      workflowTaskMedianMs: median(runs.flatMap((r) => r.wft)),
      insideMedianMs: Object.fromEntries([...insideAll].map(([k, v]) => [k, +median(v).toFixed(1)])),
      generateShareOfRolloutInside: sum(insideAll.get('generateInRollout')) / (sum(insideAll.get('icrlvrRollout')) + sum(insideAll.get('shardInStep'))),
      steps: cfg.steps,
      loopWallMs: wall,
      // shares over all runs' loops
      rolloutShare: sum(all('rolloutCovered')) / wall,
      scoringShare: sum(all('scoringCovered')) / wall,
      updateShare: sum(all('updateCovered')) / wall,
      scoringUpdateShare: sum(all('scoringUpdateCovered')) / wall,
      regularActivitiesPerStep: sum(all('activities')) / (RUNS * cfg.steps),
      orchestrationShare: sum(all('orchestration')) / wall,
      perRunOrchestrationShare: runs.map((r) => +(r.orchestration / r.wall).toFixed(4)),
      msPerStep: wall / (RUNS * cfg.steps),
      // the steps' rollout, each step the median of the runs, and bare generate of the same work, each step the median of the passes
      rolloutTokensPerSec: rate(insideStep),
      bareGenerateTokensPerSec: rate(bareStep),
      sameTokens,
      // each run alone (one timing of every step) over the bare passes' medians
      perRunRolloutOverBare: runs.map((r) => +(sum(bareStep) / sum(r.shardMs)).toFixed(3)),
      // each bare pass alone, over all steps
      bareGenerateTokensPerSecReps: Array.from({ length: RUNS }, (_, p) => +rate(bareStepMs.map((x) => x[p])).toFixed(0)),
      // step by step: the median rollout inside over the median bare
      perStepRolloutOverBare: insideStep.map((ms, k) => +(bareStep[k] / ms).toFixed(3)),
      // the last step alone: the rollout and its generate calls (each the median of the runs), bare
      lastStepRolloutTokensPerSec: first.stepTokens[steps - 1] / (insideStep[steps - 1] / 1000),
      lastStepGenerateTokensPerSec: first.stepTokens[steps - 1] / (median(runs.map((r) => insideOf(r.workflowId).get('generateInRollout')!.at(-1)!)) / 1000),
      bareLastStepTokensPerSec: first.stepTokens[steps - 1] / (bareStep[steps - 1] / 1000),
    };
  }, { worker: { activityInterceptors: [interceptor as never] } });
  // the headline ratio: the steps' rollout (inside their icrlvrStep activities) over bare generate of the same work
  const rolloutOverBare = figures.rolloutTokensPerSec / figures.bareGenerateTokensPerSec;
  const lastStepOverBare = figures.lastStepRolloutTokensPerSec / figures.bareLastStepTokensPerSec;
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const threads = intraOpThreads();
  console.log(
    `${figures.runs} runs of ${figures.steps} steps (ONNX Runtime at ${threads} intra-op thread${threads === 1 ? '' : 's'} a session: DLAB_ORT_THREADS), ${figures.msPerStep.toFixed(0)} ms per step, ${figures.regularActivitiesPerStep.toFixed(1)} regular activities per step: rollout ${pct(figures.rolloutShare)}, ` +
      `scoring + update ${pct(figures.scoringUpdateShare)} (as separate activities: scoring ${pct(figures.scoringShare)}, update ${pct(figures.updateShare)}), orchestration ${pct(figures.orchestrationShare)} ` +
      `(run by run: ${figures.perRunOrchestrationShare.map(pct).join(', ')})`,
  );
  console.log(
    `rollout ${figures.rolloutTokensPerSec.toFixed(0)} tokens/s inside the workflow (each step the median of ${figures.runs} runs) vs ${figures.bareGenerateTokensPerSec.toFixed(0)} tokens/s bare generate of the same work ` +
      `(each step the median of ${figures.bareGenerateTokensPerSecReps.length} passes; pass by pass ${figures.bareGenerateTokensPerSecReps.join(', ')}; same tokens: ${figures.sameTokens ? 'yes' : 'NO'}): ×${rolloutOverBare.toFixed(2)} of bare ` +
      `(run by run: ${figures.perRunRolloutOverBare.map((x) => `×${x.toFixed(2)}`).join(', ')})`,
  );
  console.log(`step by step, rollout / bare: ${figures.perStepRolloutOverBare.map((x) => `×${x.toFixed(2)}`).join(', ')}`);
  console.log(
    `the last step alone: rollout ${figures.lastStepRolloutTokensPerSec.toFixed(0)} tokens/s, its generate calls ${figures.lastStepGenerateTokensPerSec.toFixed(0)} tokens/s, bare ${figures.bareLastStepTokensPerSec.toFixed(0)} tokens/s (×${lastStepOverBare.toFixed(2)} of bare)`,
  );
  console.log(
    `gaps (server events, medians): scheduled → started ${figures.scheduleToStartMedianMs} ms, completed → next scheduled ${figures.completeToNextScheduleMedianMs} ms ` +
      `(completed → workflow task started ${figures.completeToWorkflowTaskStartMedianMs} ms, the workflow task ${figures.workflowTaskMedianMs} ms); ` +
      `inside the worker (medians, ms): ${JSON.stringify(figures.insideMedianMs)}; generate is ${pct(figures.generateShareOfRolloutInside)} of the rollout time inside the worker`,
  );
  console.log(JSON.stringify({ bench: 'icrlvr', ortThreads: threads, ...Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, typeof v === 'number' ? +v.toFixed(4) : v])), rolloutOverBare: +rolloutOverBare.toFixed(3), lastStepOverBare: +lastStepOverBare.toFixed(3) }));
}

/** One workflow run's figures, from its history (the server's event times) and the worker's own timings. */
interface RunFigures {
  workflowId: string;
  /** the training loop: first scheduled → last completed step activity */
  wall: number;
  /** time covered by rollout / scoring / update activities (a step activity split by its rolloutRows time) */
  rolloutCovered: number;
  scoringCovered: number;
  updateCovered: number;
  scoringUpdateCovered: number;
  /** loop time covered by no activity */
  orchestration: number;
  activities: number;
  /** per icrlvrStep, in history order: tokens sampled, rolloutRows ms inside the worker, its checkpoint and rollouts */
  stepTokens: number[];
  shardMs: number[];
  stepWork: { checkpoint: ArtifactRef; rollouts: ArtifactRef[] }[];
  toStart: number[];
  toNext: number[];
  toWft: number[];
  wft: number[];
}

async function analyseRun(client: Client, workflowId: string, inside: Map<string, number[]>): Promise<RunFigures> {
  const byStage = new Map<string, Interval[]>();
  const stepTokens: number[] = [];
  const stepWork: RunFigures['stepWork'] = [];
  const stepInputs = new Map<string, ArtifactRef>();
  let loopStart = Infinity;
  let loopEnd = -Infinity;
  const toStart: number[] = [];
  const toNext: number[] = [];
  const toWft: number[] = [];
  const wft: number[] = [];
  for (const { events } of await fetchRunChain(client, workflowId)) {
    let lastDone: number | undefined;
    let wftStarted: number | undefined;
    for (const e of events) {
      const t = Date.parse(tsToIso(e.eventTime)!);
      if (e.activityTaskScheduledEventAttributes && lastDone !== undefined) toNext.push(t - lastDone);
      if (e.activityTaskCompletedEventAttributes) lastDone = t;
      // the workflow task after an activity's completion: waiting for the worker, then the task itself
      if (e.workflowTaskStartedEventAttributes && lastDone !== undefined) {
        toWft.push(t - lastDone);
        wftStarted = t;
      }
      if (e.workflowTaskCompletedEventAttributes && wftStarted !== undefined) {
        wft.push(t - wftStarted);
        wftStarted = undefined;
      }
      if (e.activityTaskStartedEventAttributes) toStart.push(t - Date.parse(tsToIso(events.find((x) => String(x.eventId) === String(e.activityTaskStartedEventAttributes!.scheduledEventId))!.eventTime)!));
    }
    const scheduled = new Map<string, { type: string; stage: string }>();
    const started = new Map<string, number>();
    for (const e of events) {
      const t = Date.parse(tsToIso(e.eventTime)!);
      const a = e.activityTaskScheduledEventAttributes;
      if (a) scheduled.set(String(e.eventId), { type: a.activityType!.name!, stage: (decodeFirst(a.input) as { stage: string }).stage });
      if (a?.activityType?.name === 'icrlvrStep') stepInputs.set(String(e.eventId), (decodeFirst(a.input) as { checkpoint: ArtifactRef }).checkpoint);
      if (e.activityTaskStartedEventAttributes) started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), t);
      const c = e.activityTaskCompletedEventAttributes;
      if (c) {
        const s = scheduled.get(String(c.scheduledEventId))!;
        const t0 = started.get(String(c.scheduledEventId))!;
        if (!['rollout', 'scoring', 'update'].includes(s.stage)) continue;
        const stage = s.type === 'icrlvrScoreUpdate' ? 'scoring+update' : s.type === 'icrlvrStep' ? 'step' : s.stage;
        byStage.set(stage, [...(byStage.get(stage) ?? []), [t0, t]]);
        loopStart = Math.min(loopStart, Date.parse(tsToIso(events.find((x) => String(x.eventId) === String(c.scheduledEventId))!.eventTime)!));
        loopEnd = Math.max(loopEnd, t);
        if (s.type === 'icrlvrRollout') throw new Error('bench-icrlvr: a separate icrlvrRollout activity in the history (the bench times rollouts inside icrlvrStep: rolloutShards 1, one task queue)');
        if (s.type === 'icrlvrStep') {
          const r = decodeFirst(c.result) as { tokens: number; rounds: { rollouts: ArtifactRef }[] };
          stepTokens.push(r.tokens);
          stepWork.push({ checkpoint: stepInputs.get(String(c.scheduledEventId))!, rollouts: r.rounds.map((x) => x.rollouts) });
        }
      }
    }
  }
  const shardMs = inside.get('shardInStep') ?? [];
  const rolloutInSteps = shardMs.reduce((a, b) => a + b, 0);
  const cover = (stage: string) => covered(byStage.get(stage) ?? []);
  const wall = loopEnd - loopStart;
  return {
    workflowId,
    wall,
    rolloutCovered: cover('rollout') + rolloutInSteps,
    scoringCovered: cover('scoring'),
    updateCovered: cover('update'),
    scoringUpdateCovered: cover('scoring') + cover('update') + cover('scoring+update') + cover('step') - rolloutInSteps,
    orchestration: wall - covered([...byStage.values()].flat()),
    activities: [...byStage.values()].reduce((n, v) => n + v.length, 0),
    stepTokens,
    shardMs,
    stepWork,
    toStart,
    toNext,
    toWft,
    wft,
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

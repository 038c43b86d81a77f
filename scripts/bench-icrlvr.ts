// `npm run bench:icrlvr`: where the time of an In-Context RLVR step goes, on a real dev
// server with an in-process worker (examples/icrlvr/small.json's model and task, 50 pretraining steps, 6 steps,
// rollouts in one shard so tokens/s is one generation stream):
//  - share of rollout, scoring, update and orchestration (loop wall time not covered by any
//    activity: workflow tasks, scheduling, the server) over the training steps; scoring and the
//    update run as one activity (icrlvrScoreUpdate) in runs since the 'icrlvr-score-update'
//    patch, so their shares are given together, and apart from the worker's own timings;
//    a whole step in one activity (icrlvrStep, runs with one rollout shard since the
//    'icrlvr-step-activity' patch) is split by the worker's own timing of its rolloutRows calls:
//    those are its rollout time, the rest of the activity (plans, scoring while the rollouts'
//    artifact is written, update) its scoring + update time;
//  - rollout tokens/s inside the workflow (the worker's timing of the rolloutRows calls inside
//    the icrlvrStep activities: generation plus chunk writes and heartbeats; the shard's own
//    artifact is written behind the scoring) next
//    to a bare `policy.generate` of the same work — for each step the checkpoint it started
//    from, its rounds' prompts and RNG streams, the same batches — which samples the same tokens
//    (checked; median of 5 passes over all steps): rolloutOverBare; and the same for the last
//    step alone.
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
import { storeForHome } from '../lib/store/artifact-store';
import { ArtifactRef } from '../lib/store/ref';
import { checkpointFromTable } from '../lib/train/checkpoint';
import { parseConfig } from '../schemas/config';
import { Context } from '@temporalio/activity';
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

async function main() {
  const raw = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'examples', 'icrlvr', 'small.json'), 'utf8'));
  const cfg = parseConfig('icrlvr', { ...raw, steps: 6, evalEvery: 100, rolloutShards: 1, pretrain: { ...raw.pretrain, steps: 50 } });
  // where a rollout activity's time goes, seen from inside this (in-process) worker: the whole
  // activity (interceptor) and the policy.generate calls in it
  const inside = new Map<string, number[]>();
  let generateMs = 0;
  let shardMs = 0; // rolloutRows calls inside icrlvrStep activities
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
          const type = Context.current().info.activityType;
          inside.set(type, [...(inside.get(type) ?? []), performance.now() - t]);
          if (type === 'icrlvrRollout' || type === 'icrlvrStep') inside.set('generateInRollout', [...(inside.get('generateInRollout') ?? []), generateMs - g]);
          if (type === 'icrlvrStep') inside.set('shardInStep', [...(inside.get('shardInStep') ?? []), shardMs - sh]);
        }
      },
    },
  });
  const figures = await withBenchCluster(async (client, home) => {
    const handle = await client.workflow.start('icrlvr', { taskQueue: 'bench', workflowId: 'bench-icrlvr', args: [{ config: cfg, configHash: configHash(cfg) }] });
    await handle.result();
    // activity intervals by stage, from the server's event times
    const byStage = new Map<string, Interval[]>();
    let rolloutTokens = 0;
    const stepTokens: number[] = []; // per icrlvrStep activity, in history order
    // each icrlvrStep, in history order: the checkpoint its rollouts were sampled from, and its rounds' rollouts
    const stepWork: { checkpoint: ArtifactRef; rollouts: ArtifactRef[] }[] = [];
    const stepInputs = new Map<string, ArtifactRef>();
    let rolloutMs = 0;
    let loopStart = Infinity;
    let loopEnd = -Infinity;
    const toStart: number[] = [];
    const toNext: number[] = [];
    const toWft: number[] = [];
    const wft: number[] = [];
    for (const { events } of await fetchRunChain(client, 'bench-icrlvr')) {
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
          if (s.type === 'icrlvrRollout') {
            const r = decodeFirst(c.result) as { tokens: number; outputs: { rollouts: ArtifactRef } };
            rolloutTokens += r.tokens;
            rolloutMs += t - t0;
          }
          if (s.type === 'icrlvrStep') {
            const r = decodeFirst(c.result) as { tokens: number; rounds: { rollouts: ArtifactRef }[] };
            rolloutTokens += r.tokens;
            stepTokens.push(r.tokens);
            stepWork.push({ checkpoint: stepInputs.get(String(c.scheduledEventId))!, rollouts: r.rounds.map((x) => x.rollouts) });
          }
        }
      }
    }
    const wall = loopEnd - loopStart;
    const share = (stage: string) => covered(byStage.get(stage) ?? []) / wall;
    const all = covered([...byStage.values()].flat());

    // bare generation of the very work of the steps: for each step the policy its rollouts were
    // sampled from (the checkpoint the step started at), its rounds' prompts and RNG streams,
    // batched as the rollout batched them (each round's plan in batches of batchSize) — so it
    // samples the same tokens, checked below; all steps timed BARE_REPS times after one warm-up
    // batch, the median rate
    const BARE_REPS = 5;
    if (!stepWork.length) throw new Error('bench-icrlvr: no icrlvrStep activity in the history (the bench needs rolloutShards 1 and one task queue)');
    const store = storeForHome(home);
    const { readdirSync } = await import('node:fs');
    const base = await Policy.load(join(home, 'models', readdirSync(join(home, 'models')).find((d) => d.startsWith('built-') || d.startsWith('pretrained-'))!));
    const work: { policy: Policy; rounds: ReturnType<typeof readRollouts>[] }[] = [];
    for (const w of stepWork) {
      const rounds: ReturnType<typeof readRollouts>[] = [];
      for (const ref of w.rollouts) rounds.push(readRollouts(await store.get(ref)));
      work.push({ policy: base.withHead(checkpointFromTable(await store.get(w.checkpoint), 0, 'bench').head), rounds });
    }
    const gen = (policy: Policy, rows: ReturnType<typeof readRollouts>) =>
      policy.generate(rows.map((r) => r.prompt), { maxTokens: cfg.maxTokens, temperature: cfg.temperature, topK: 0, topP: cfg.topP, seed: cfg.seed, stop: ['\n\n'], streams: rows.map((r) => r.stream) });
    const batchesOf = (rows: ReturnType<typeof readRollouts>) => Array.from({ length: Math.ceil(rows.length / cfg.batchSize) }, (_, b) => rows.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize));
    await gen(work[0].policy, work[0].rounds[0].slice(0, cfg.batchSize));
    const bareRates: number[] = [];
    const bareStepRates: number[][] = stepWork.map(() => []);
    let sameTokens = true;
    for (let rep = 0; rep < BARE_REPS; rep++) {
      let bareTokens = 0;
      let bareMs = 0;
      for (const [k, { policy, rounds }] of work.entries()) {
        let stepTokens_ = 0;
        const s0 = performance.now();
        for (const rows of rounds) {
          for (const batch of batchesOf(rows)) {
            const gens = await gen(policy, batch);
            gens.forEach((g, i) => {
              stepTokens_ += g.tokens.length;
              if (g.tokens.length !== batch[i].tokens.length || g.tokens.some((t, j) => t !== batch[i].tokens[j])) sameTokens = false;
            });
          }
        }
        const ms = performance.now() - s0;
        bareTokens += stepTokens_;
        bareMs += ms;
        bareStepRates[k].push(stepTokens_ / (ms / 1000));
      }
      bareRates.push(bareTokens / (bareMs / 1000));
    }
    const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);
    const sum = (xs: number[] | undefined) => (xs ?? []).reduce((a, b) => a + b, 0);
    const insideMedians = Object.fromEntries([...inside].map(([k, v]) => [k, +median(v).toFixed(1)]));
    return {
      scheduleToStartMedianMs: median(toStart),
      completeToNextScheduleMedianMs: median(toNext),
      completeToWorkflowTaskStartMedianMs: median(toWft),
      workflowTaskMedianMs: median(wft),
      insideMedianMs: insideMedians,
      generateShareOfRolloutInside: sum(inside.get('generateInRollout')) / (sum(inside.get('icrlvrRollout')) + shardMs),
      rolloutInsideMs: sum(inside.get('icrlvrRollout')) + shardMs,
      rolloutServerMs: rolloutMs,
      steps: cfg.steps,
      loopWallMs: wall,
      rolloutShare: share('rollout') + shardMs / wall,
      scoringShare: share('scoring'),
      updateShare: share('update'),
      scoringUpdateShare: share('scoring') + share('update') + share('scoring+update') + share('step') - shardMs / wall,
      regularActivitiesPerStep: [...byStage.values()].reduce((n, v) => n + v.length, 0) / cfg.steps,
      orchestrationShare: (wall - all) / wall,
      msPerStep: wall / cfg.steps,
      rolloutTokensPerSec: rolloutTokens / ((rolloutMs + shardMs) / 1000),
      stepRolloutShardMs: shardMs,
      // the last step alone (icrlvrStep runs): the policy and prompts the bare figure uses
      lastStepRolloutTokensPerSec: stepTokens.length ? stepTokens[stepTokens.length - 1] / (inside.get('shardInStep')!.at(-1)! / 1000) : null,
      lastStepGenerateTokensPerSec: stepTokens.length ? stepTokens[stepTokens.length - 1] / (inside.get('generateInRollout')!.at(-1)! / 1000) : null,
      // bare generate of the same work as the steps' rollouts
      bareGenerateTokensPerSec: median(bareRates),
      bareLastStepTokensPerSec: median(bareStepRates[bareStepRates.length - 1]),
      bareSameTokens: sameTokens,
      // step by step: the rollout inside the workflow over bare generate of that step's work
      perStepRolloutOverBare: stepTokens.map((n, k) => +(n / (inside.get('shardInStep')![k] / 1000) / median(bareStepRates[k])).toFixed(3)),
      bareGenerateTokensPerSecReps: bareRates.map((x) => +x.toFixed(0)),
    };
  }, { worker: { activityInterceptors: [interceptor as never] } });
  // the headline ratio: the steps' rollout (inside their icrlvrStep activities) over bare generate of the same work
  const rolloutOverBare = figures.rolloutTokensPerSec / figures.bareGenerateTokensPerSec;
  const lastStepOverBare = figures.lastStepRolloutTokensPerSec! / figures.bareLastStepTokensPerSec;
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(
    `${figures.steps} steps (ONNX Runtime at ${intraOpThreads()} intra-op thread${intraOpThreads() === 1 ? '' : 's'} a session: DLAB_ORT_THREADS), ${figures.msPerStep.toFixed(0)} ms per step, ${figures.regularActivitiesPerStep.toFixed(1)} regular activities per step: rollout ${pct(figures.rolloutShare)}, ` +
      `scoring + update ${pct(figures.scoringUpdateShare)} (as separate activities: scoring ${pct(figures.scoringShare)}, update ${pct(figures.updateShare)}), orchestration ${pct(figures.orchestrationShare)}`,
  );
  console.log(
    `rollout ${figures.rolloutTokensPerSec.toFixed(0)} tokens/s inside the workflow vs ${figures.bareGenerateTokensPerSec.toFixed(0)} tokens/s bare generate of the same work ` +
      `(median of ${figures.bareGenerateTokensPerSecReps.length}: ${figures.bareGenerateTokensPerSecReps.join(', ')}; same tokens: ${figures.bareSameTokens ? 'yes' : 'NO'}): ×${rolloutOverBare.toFixed(2)} of bare`,
  );
  console.log(`step by step, rollout / bare: ${figures.perStepRolloutOverBare.map((x) => `×${x.toFixed(2)}`).join(', ')}`);
  console.log(
    `the last step alone: rollout ${figures.lastStepRolloutTokensPerSec!.toFixed(0)} tokens/s, its generate calls ${figures.lastStepGenerateTokensPerSec!.toFixed(0)} tokens/s, bare ${figures.bareLastStepTokensPerSec.toFixed(0)} tokens/s (×${lastStepOverBare.toFixed(2)} of bare)`,
  );
  console.log(
    `gaps (server events, medians): scheduled → started ${figures.scheduleToStartMedianMs} ms, completed → next scheduled ${figures.completeToNextScheduleMedianMs} ms ` +
      `(completed → workflow task started ${figures.completeToWorkflowTaskStartMedianMs} ms, the workflow task ${figures.workflowTaskMedianMs} ms); ` +
      `inside the worker (medians, ms): ${JSON.stringify(figures.insideMedianMs)}; generate is ${pct(figures.generateShareOfRolloutInside)} of the rollout time inside the worker ` +
      `(${figures.rolloutInsideMs.toFixed(0)} ms: rollout activities, and rolloutRows in step activities ${figures.stepRolloutShardMs.toFixed(0)} ms; ` +
      `rollout activities ${figures.rolloutServerMs.toFixed(0)} ms started → completed on the server)`,
  );
  console.log(JSON.stringify({ bench: 'icrlvr', ortThreads: intraOpThreads(), ...Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, typeof v === 'number' ? +v.toFixed(4) : v])), rolloutOverBare: +rolloutOverBare.toFixed(3), lastStepOverBare: +lastStepOverBare.toFixed(3) }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

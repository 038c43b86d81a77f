// `npm run compare:goracs`: is GORACS's refinement worth it at toy scale? The runs of
// examples/goracs/compare.json over several data seeds (data.seed) and fine-tuning seeds
// (evaluation.seeds), with both dual-score ranks, started through the client API on a dev
// server with a worker in this process; then per arm the mean with a bootstrap 95 % interval,
// and paired differences over (data seed, fine-tuning seed) units (lib/goracs/seed-comparison.ts).
//
// Per data seed d, two runs:
//   compare.json, data.seed d, evaluation.seeds S                       (dualScore absent: rth-largest)
//   the same with dualScore "rth-smallest", methods goracs and greedy   (greedy: must match the first run)
// Environment: GORACS_DATA_SEEDS (default 1,…,10), GORACS_FT_SEEDS (default 0,1,2,3,4),
// GORACS_CONFIG (default examples/goracs/compare.json), GORACS_MAX_ITERS (default: the config's),
// GORACS_RESAMPLES (default 10000).
// Prints markdown tables, then one line: a JSON object of the figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startExperiment } from '../client/start';
import type { RunStatusOf } from '../schemas/status';
import { seedComparison, UnitScore } from '../lib/goracs/seed-comparison';
import { withBenchCluster } from './bench-cluster';

const list = (v: string | undefined, d: number[]) => (v ? v.split(',').map((x) => Number(x.trim())) : d);
const DATA_SEEDS = list(process.env.GORACS_DATA_SEEDS, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
const FT_SEEDS = list(process.env.GORACS_FT_SEEDS, [0, 1, 2, 3, 4]);
const CONFIG = process.env.GORACS_CONFIG ?? join(__dirname, '../../examples/goracs/compare.json');
const RESAMPLES = Number(process.env.GORACS_RESAMPLES ?? 10_000);
const MAX_ITERS = process.env.GORACS_MAX_ITERS ? Number(process.env.GORACS_MAX_ITERS) : undefined;
const METRICS = ['hr10', 'ndcg10'];

interface RunRecord {
  dataSeed: number;
  dualScore: 'rth-largest' | 'rth-smallest';
  id: string;
  seconds: number;
  pooInitial: number;
  poo: number;
  swapsAccepted: number;
  reason: string | null;
}

async function runOne(client: Client, base: Record<string, unknown>, dataSeed: number, dualScore: RunRecord['dualScore'], methods: string[]) {
  const b = base as { data: Record<string, unknown>; evaluation: Record<string, unknown> };
  const config = {
    ...base,
    ...(dualScore === 'rth-smallest' ? { dualScore } : {}),
    data: { ...b.data, seed: dataSeed },
    evaluation: { ...b.evaluation, seeds: FT_SEEDS, methods },
  };
  const id = `compare-goracs-d${dataSeed}-${dualScore}`;
  const t0 = Date.now();
  await startExperiment(client, { kind: 'goracs', config, id, taskQueue: 'bench' });
  const status = (await client.workflow.getHandle(id).result()) as RunStatusOf<'goracs'>;
  const m = status.metrics ?? {};
  const run: RunRecord = {
    dataSeed,
    dualScore,
    id,
    seconds: (Date.now() - t0) / 1000,
    pooInitial: m.pooInitial ?? NaN,
    poo: m.poo ?? NaN,
    swapsAccepted: m.swapsAccepted ?? NaN,
    reason: status.results?.refinement?.reason ?? null,
  };
  const rows = status.results?.evaluation ?? [];
  process.stderr.write(`${id}: ${run.seconds.toFixed(1)} s, POO ${run.pooInitial.toFixed(5)} → ${run.poo.toFixed(5)} (${run.swapsAccepted} swaps, ${run.reason})\n`);
  return { run, rows };
}

const f3 = (x: number) => (x >= 0 ? ' ' : '') + x.toFixed(3);

async function main() {
  const base = { ...(JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>), ...(MAX_ITERS !== undefined ? { maxIters: MAX_ITERS } : {}) };
  const methods = (base as { evaluation: { methods: string[] } }).evaluation.methods;
  const t0 = Date.now();
  const { runs, scores } = await withBenchCluster(async (client) => {
    const runs: RunRecord[] = [];
    const scores: UnitScore[] = [];
    for (const d of DATA_SEEDS) {
      for (const [rank, ms] of [['rth-largest', methods], ['rth-smallest', ['goracs', 'greedy']]] as const) {
        const { run, rows } = await runOne(client, base, d, rank, [...ms]);
        runs.push(run);
        for (const r of rows) {
          const arm = r.method === 'goracs' ? `goracs/${rank}` : rank === 'rth-largest' ? r.method : `${r.method}/check`;
          scores.push({ arm, dataSeed: d, fineTuneSeed: r.seed, values: { hr10: r.hr10 ?? NaN, ndcg10: r.ndcg10 ?? NaN } });
        }
      }
    }
    return { runs, scores };
  });
  const wallSeconds = (Date.now() - t0) / 1000;

  // the greedy start does not depend on the dual scores: the second run's greedy evaluation must repeat the first's
  const greedy = new Map(scores.filter((s) => s.arm === 'greedy').map((s) => [`${s.dataSeed}.${s.fineTuneSeed}`, s.values.hr10]));
  const mismatches = scores.filter((s) => s.arm === 'greedy/check' && greedy.get(`${s.dataSeed}.${s.fineTuneSeed}`) !== s.values.hr10).length;

  const arms = ['goracs/rth-largest', 'goracs/rth-smallest', ...methods.filter((m) => m !== 'goracs')];
  const differences: [string, string][] = [
    ['goracs/rth-largest', 'greedy'],
    ['goracs/rth-largest', 'random'],
    ['goracs/rth-smallest', 'greedy'],
    ['goracs/rth-smallest', 'random'],
    ['goracs/rth-smallest', 'goracs/rth-largest'],
  ].filter(([a, b]) => arms.includes(a) && arms.includes(b)) as [string, string][];
  const summary = seedComparison(scores, arms, differences, METRICS, { seed: 0, resamples: RESAMPLES });

  const units = DATA_SEEDS.length * FT_SEEDS.length;
  const out: string[] = [];
  out.push(`GORACS comparison: ${CONFIG}${MAX_ITERS !== undefined ? ` with maxIters ${MAX_ITERS}` : ''}, data seeds ${DATA_SEEDS.join(', ')} × fine-tuning seeds ${FT_SEEDS.join(', ')} = ${units} units; bootstrap 95 % intervals (${RESAMPLES} resamples, percentile)`);
  out.push('', '| data seed | dual score | POO greedy → refined | swaps | stop | run s |', '|---|---|---|---|---|---|');
  for (const r of runs) out.push(`| ${r.dataSeed} | ${r.dualScore} | ${r.pooInitial.toFixed(5)} → ${r.poo.toFixed(5)} | ${r.swapsAccepted} | ${r.reason} | ${r.seconds.toFixed(0)} |`);
  out.push('', '| arm | HR@10 mean [95 % CI] | NDCG@10 mean [95 % CI] |', '|---|---|---|');
  for (const arm of arms) {
    const cell = (metric: string) => {
      const s = summary.arms.find((x) => x.arm === arm && x.metric === metric)!;
      return `${s.mean.toFixed(3)} [${s.lo.toFixed(3)}, ${s.hi.toFixed(3)}]`;
    };
    out.push(`| ${arm} | ${cell('hr10')} | ${cell('ndcg10')} |`);
  }
  out.push(
    '',
    `Paired differences: over the ${units} (data seed, fine-tuning seed) units; over the ${DATA_SEEDS.length} data seeds (each the mean over its fine-tuning seeds, resampled as clusters); data seeds where Δ > 0 / = 0 / < 0.`,
    '',
    '| paired difference | ΔHR@10, units [95 % CI] | ΔHR@10, data seeds [95 % CI] | + / 0 / − | ΔNDCG@10, units [95 % CI] | ΔNDCG@10, data seeds [95 % CI] | + / 0 / − |',
    '|---|---|---|---|---|---|---|',
  );
  for (const [a, b] of differences) {
    const cells = METRICS.map((metric) => {
      const s = summary.differences.find((x) => x.a === a && x.b === b && x.metric === metric)!;
      const o = s.overDataSeeds;
      const signs = [(p: number) => p > 0, (p: number) => p === 0, (p: number) => p < 0].map((f) => s.perDataSeed.filter((p) => f(p.mean)).length).join(' / ');
      return `${f3(s.mean)} [${f3(s.lo)}, ${f3(s.hi)}] | ${f3(o.mean)} [${f3(o.lo)}, ${f3(o.hi)}] | ${signs}`;
    });
    out.push(`| ${a} − ${b} | ${cells.join(' | ')} |`);
  }
  out.push('', `greedy evaluations repeated by the rth-smallest runs: ${mismatches === 0 ? 'identical' : `${mismatches} differ`}; wall time ${wallSeconds.toFixed(0)} s`);
  console.log(out.join('\n'));
  console.log(JSON.stringify({ config: CONFIG, maxIters: base.maxIters, dataSeeds: DATA_SEEDS, fineTuneSeeds: FT_SEEDS, resamples: RESAMPLES, runs, ...summary, scores, greedyCheckMismatches: mismatches, wallSeconds }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

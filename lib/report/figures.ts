import type { VegaLiteSpec } from './vega';
import { armLabel, type ReportAttempt, type RunDescription } from './run';

/**
 * The report's figures as Vega-Lite specs with their data inline, so each one can be
 * re-made from its `.vl.json` alone (`vl2svg plots/<name>.vl.json`).
 */
export interface Figure {
  /** file stem under plots/ */
  name: string;
  title: string;
  caption: string;
  spec: VegaLiteSpec;
}

type Row = Record<string, string | number | null>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 340;
const HEIGHT = 220;

function base(title: string, values: Row[]): VegaLiteSpec {
  return { $schema: SCHEMA, title, background: 'white', config: { font: 'sans-serif', view: { stroke: '#ddd' } }, data: { values } };
}

/** A file-name-safe form of a run id. */
export function slug(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_');
}

const seriesColor = (field: string, title: string) => ({ field, type: 'nominal', title });

/**
 * Lines over steps, one per series (`series` = the run id when several runs are drawn,
 * else the quantity); `dash` splits a series further (EG of correct vs incorrect).
 */
function lines(title: string, values: Row[], o: { x: string; xTitle: string; y: string; yTitle: string; series: string; seriesTitle: string; dash?: string; unit?: boolean }): VegaLiteSpec {
  return {
    ...base(title, values),
    width: WIDTH,
    height: HEIGHT,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: o.x, type: 'quantitative', title: o.xTitle, axis: { tickMinStep: 1 } },
      y: { field: o.y, type: 'quantitative', title: o.yTitle, scale: o.unit ? { domain: [0, 1] } : { zero: false } },
      color: seriesColor(o.series, o.seriesTitle),
      ...(o.dash ? { strokeDash: { field: o.dash, type: 'nominal', title: o.dash } } : {}),
    },
  };
}

/**
 * Lines split by the field `by` (e.g. correct vs incorrect rollouts): coloured by it for one run;
 * for several runs coloured by run, `by` drawn as the dash.
 */
function split(many: boolean, title: string, values: Row[], o: { x: string; xTitle: string; y: string; yTitle: string; unit?: boolean }, by: string): VegaLiteSpec {
  return many ? lines(title, values, { ...o, series: 'run', seriesTitle: 'run', dash: by }) : lines(title, values, { ...o, series: by, seriesTitle: by });
}

/** Learning curves of icrlvr runs, overlaid and coloured by run id when there are several. */
export function icrlvrFigures(runs: RunDescription[]): Figure[] {
  const withData = runs.filter((r) => r.icrlvr);
  if (!withData.length) return [];
  const many = withData.length > 1;
  const evals: Row[] = withData.flatMap((r) => r.icrlvr!.evaluations.map((e) => ({ run: r.id, step: e.step, avgAtK: num(e.avgAtK), passAtK: num(e.passAtK) })));
  const training: Row[] = withData.flatMap((r) => r.icrlvr!.training.map((t) => ({ run: r.id, step: t.step, rewardMean: num(t.rewardMean) })));
  const eg: Row[] = withData.flatMap((r) =>
    r.icrlvr!.training.flatMap((t) => [
      { run: r.id, step: t.step, rollouts: 'correct', eg: t.egCorrectMean },
      { run: r.id, step: t.step, rollouts: 'incorrect', eg: t.egIncorrectMean },
    ]).filter((p) => p.eg !== null && Number.isFinite(p.eg)),
  );
  // correct-by-luck: the round's rollouts by outcome (training) and the held-out right answers
  const luck: Row[] = withData.flatMap((r) => [
    ...r.icrlvr!.training.flatMap((t) => [
      { run: r.id, step: t.step, share: 'train: sound', value: t.soundShare },
      { run: r.id, step: t.step, share: 'train: lucky', value: t.luckyShare },
    ]),
    ...r.icrlvr!.evaluations.map((e) => ({ run: r.id, step: e.step, share: 'held-out: lucky of correct', value: e.luckyShareCorrect })),
  ]).filter((p) => p.value !== null && p.value !== undefined && Number.isFinite(p.value));
  const egLuck: Row[] = withData.flatMap((r) =>
    r.icrlvr!.training.flatMap((t) => [
      { run: r.id, step: t.step, rollouts: 'sound', eg: t.egSoundMean },
      { run: r.id, step: t.step, rollouts: 'lucky', eg: t.egLuckyMean },
    ]).filter((p) => p.eg !== null && p.eg !== undefined && Number.isFinite(p.eg)),
  );
  const runSeries = { series: 'run', seriesTitle: 'run' };
  const k = withData.map((r) => (r.config as { evalSamples?: number } | null)?.evalSamples).find((x) => x !== undefined) ?? 'k';
  return [
    {
      name: 'icrlvr-heldout-accuracy',
      title: `Held-out accuracy (avg@${k})`,
      caption: `mean correctness of ${k} samples per held-out question at each evaluation; step 0 is the (warm-started) initial policy`,
      spec: lines(`Held-out accuracy (avg@${k})`, evals.filter((e) => e.avgAtK !== null), { x: 'step', xTitle: 'step', y: 'avgAtK', yTitle: `avg@${k}`, ...runSeries, unit: true }),
    },
    {
      name: 'icrlvr-pass-at-k',
      title: `Held-out pass@${k}`,
      caption: `share of held-out questions with at least one correct answer among ${k} samples`,
      spec: lines(`Held-out pass@${k}`, evals.filter((e) => e.passAtK !== null), { x: 'step', xTitle: 'step', y: 'passAtK', yTitle: `pass@${k}`, ...runSeries, unit: true }),
    },
    {
      name: 'icrlvr-reward-mean',
      title: 'Training reward (mean over the step’s rollouts)',
      caption: 'verifiable reward of the first sampling round of each step',
      spec: lines('Training reward', training.filter((t) => t.rewardMean !== null), { x: 'step', xTitle: 'step', y: 'rewardMean', yTitle: 'mean reward', ...runSeries, unit: true }),
    },
    {
      name: 'icrlvr-evidence-gain',
      title: 'Evidence Gain of correct vs incorrect rollouts',
      caption: 'mean EG per step (first sampling round); only the gap between the two lines carries information',
      spec: split(many, 'Evidence Gain: correct vs incorrect', eg, { x: 'step', xTitle: 'step', y: 'eg', yTitle: 'mean EG' }, 'rollouts'),
    },
    ...(luck.length
      ? [
          {
            name: 'icrlvr-correct-by-luck',
            title: 'Correct by luck',
            caption: 'training rollouts (first sampling round) that are right with every step right (sound) or right with a wrong or missing step (lucky), as shares of all rollouts; and the share of right held-out answers that are lucky',
            spec: split(many, 'Correct by luck', luck, { x: 'step', xTitle: 'step', y: 'value', yTitle: 'share', unit: true }, 'share'),
          },
        ]
      : []),
    ...(egLuck.length
      ? [
          {
            name: 'icrlvr-evidence-gain-luck',
            title: 'Evidence Gain of sound vs lucky correct rollouts',
            caption: 'mean EG per step of the right training rollouts with every step right (sound) and with a wrong or missing step (lucky): the paper’s mechanism is a gap between the two',
            spec: split(many, 'Evidence Gain: sound vs lucky', egLuck, { x: 'step', xTitle: 'step', y: 'eg', yTitle: 'mean EG' }, 'rollouts'),
          },
        ]
      : []),
  ];
}

const SWEEP_METRICS: [keyof NonNullable<RunDescription['sweep']>['rows'][number], string][] = [
  ['avgAtK', 'held-out avg@k'],
  ['passAtK', 'held-out pass@k'],
  ['rewardMean', 'train reward'],
  ['egCorrect', 'EG correct'],
  ['egIncorrect', 'EG incorrect'],
  ['luckyShareCorrect', 'train: lucky of correct'],
  ['egLuckAuc', 'EG-vs-luck AUC'],
];

/** A sweep's comparison per mode: mean over seeds (line) and each seed (points), one panel per metric. */
export function sweepFigure(run: RunDescription): Figure | undefined {
  if (!run.sweep?.rows.length) return undefined;
  const values: Row[] = run.sweep.rows.flatMap((r) => SWEEP_METRICS.map(([key, metric]) => ({ mode: armLabel(r), seed: r.seed, step: r.step, metric, value: r[key] as number | null }))).filter((v) => v.value !== null);
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1 } };
  const color = { field: 'mode', type: 'nominal', title: 'mode' };
  return {
    name: `${slug(run.id)}-sweep`,
    title: `Sweep ${run.id}: modes compared`,
    caption: 'lines: mean over seeds; points: single seeds (from the sweep’s icrlvr.comparison table)',
    spec: {
      ...base(`Sweep ${run.id}: modes compared`, values),
      facet: { column: { field: 'metric', type: 'nominal', title: null, sort: SWEEP_METRICS.map(([, m]) => m) } },
      spec: {
        width: 200,
        height: 180,
        layer: [
          { mark: { type: 'line' }, encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: 'value', scale: { zero: false } }, color } },
          { mark: { type: 'point', opacity: 0.6 }, encoding: { x, y: { field: 'value', type: 'quantitative' }, color, shape: { field: 'seed', type: 'nominal', title: 'seed' } } },
        ],
      },
      resolve: { scale: { y: 'independent' } },
    },
  };
}

/** GORACS: POO over refinement (per accepted swap) and HR@10 / NDCG@10 per selection method. */
export function goracsFigures(runs: RunDescription[]): Figure[] {
  const withData = runs.filter((r) => r.goracs);
  const many = withData.length > 1;
  const out: Figure[] = [];
  const trace: Row[] = withData.flatMap((r) => r.goracs!.trace.map((t) => ({ run: r.id, swap: t.iter, poo: t.poo })));
  if (trace.length) {
    out.push({
      name: 'goracs-poo',
      title: 'POO over refinement',
      caption: 'partial optimal-transport objective of the selection after each accepted swap (swap 0 = the greedy start); lower is better',
      spec: lines('POO over refinement', trace, { x: 'swap', xTitle: 'accepted swaps', y: 'poo', yTitle: 'POO', series: 'run', seriesTitle: 'run' }),
    });
  }
  const METRICS: Record<string, string> = { hr10: 'HR@10', ndcg10: 'NDCG@10', auc: 'AUC' };
  const evals: Row[] = withData.flatMap((r) => r.goracs!.evaluation.filter((e) => e.metric in METRICS && e.value !== null).map((e) => ({ run: r.id, method: e.method, seed: e.seed, metric: METRICS[e.metric], value: e.value })));
  if (evals.length) {
    const methods = [...new Set(evals.map((e) => e.method as string))];
    const x = { field: 'method', type: 'nominal', title: 'method', sort: methods };
    const color = many ? { field: 'run', type: 'nominal', title: 'run' } : { field: 'method', type: 'nominal', title: 'method', sort: methods, legend: null };
    const offset = many ? { xOffset: { field: 'run', type: 'nominal' } } : {};
    out.push({
      name: 'goracs-methods',
      title: 'Selection methods compared (test split)',
      caption: 'bars: mean over fine-tuning seeds; ticks: single seeds; HR/NDCG: ranking of the true next item among sampled negatives; AUC: yes-vs-no score of binary test rows',
      spec: {
        ...base('Selection methods compared', evals),
        facet: { column: { field: 'metric', type: 'nominal', title: null, sort: Object.values(METRICS) } },
        spec: {
          width: 220,
          height: HEIGHT,
          layer: [
            { mark: { type: 'bar', opacity: 0.8 }, encoding: { x, ...offset, y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: 'value' }, color } },
            { mark: { type: 'tick', color: 'black', thickness: 1.5 }, encoding: { x, ...offset, y: { field: 'value', type: 'quantitative' } } },
          ],
        },
      },
    });
  }
  return out;
}

/** Smoke: per output dimension, the mean (point) and min–max range (rule) of the summary. */
export function smokeFigure(run: RunDescription): Figure | undefined {
  if (!run.smoke?.summary.length) return undefined;
  const values: Row[] = run.smoke.summary.map((s) => ({ dim: s.dim, mean: num(s.mean), std: num(s.std), min: num(s.min), max: num(s.max) }));
  const x = { field: 'dim', type: 'ordinal', title: 'output dimension' };
  return {
    name: `${slug(run.id)}-summary`,
    title: `Summary of ${run.id}`,
    caption: 'per output dimension of the final transform: mean (point), min–max (rule)',
    spec: {
      ...base(`Summary of ${run.id}`, values),
      width: WIDTH,
      height: HEIGHT,
      layer: [
        { mark: { type: 'rule', color: '#999' }, encoding: { x, y: { field: 'min', type: 'quantitative', title: 'value' }, y2: { field: 'max' } } },
        { mark: { type: 'point', filled: true }, encoding: { x, y: { field: 'mean', type: 'quantitative' } } },
      ],
    },
  };
}

const STATUS_COLORS: Record<string, string> = { completed: '#4c78a8', running: '#54a24b', failed: '#e45756', timed_out: '#f58518', cancelled: '#9d755d' };

/** Every activity attempt on a time axis (seconds since the run's first attempt), coloured by how it ended. */
export function timelineFigure(run: RunDescription): Figure | undefined {
  const timed = run.attempts.filter((a): a is ReportAttempt & { startedAt: string } => a.startedAt !== null);
  if (!timed.length) return undefined;
  const t0 = Math.min(...timed.map((a) => Date.parse(a.startedAt)));
  const values: Row[] = timed.map((a) => {
    const start = (Date.parse(a.startedAt) - t0) / 1000;
    return { activity: a.activity, stage: a.stage, attempt: a.attempt, status: a.status, start, end: start + Math.max(a.durationMs ?? 0, 0) / 1000 };
  });
  const activities = [...new Set(values.map((v) => v.activity as string))];
  const statuses = Object.keys(STATUS_COLORS);
  return {
    name: `${slug(run.id)}-timeline`,
    title: `Activity attempts of ${run.id}`,
    caption: 'one bar per activity attempt, from its start to its end (or now, while running)',
    spec: {
      ...base(`Activity attempts of ${run.id}`, values),
      width: WIDTH + 160,
      height: Math.max(60, 22 * activities.length),
      mark: { type: 'bar' },
      encoding: {
        y: { field: 'activity', type: 'nominal', title: null, sort: activities },
        x: { field: 'start', type: 'quantitative', title: 'seconds since the first attempt' },
        x2: { field: 'end' },
        color: { field: 'status', type: 'nominal', title: 'attempt', scale: { domain: statuses, range: statuses.map((s) => STATUS_COLORS[s]) } },
      },
    },
  };
}

function num(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : x;
}

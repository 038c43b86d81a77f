import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, writeReport, Report } from '../../lib/report';
import { configDifferences } from '../../lib/report/config-diff';
import { goracsEvalRows, icrlvrEvalPoint, pooTrace } from '../../lib/report/extract';
import type { ReportAttempt, RunDescription } from '../../lib/report/run';
import { renderSvg } from '../../lib/report/vega';
import { tableFromColumns } from '../../lib/store/columns';
import { tempDir } from '../helpers/tmp';

const attempts = (t0: string): ReportAttempt[] => [
  { stage: 'prepare', activity: 'icrlvrPrepare', attempt: 1, startedAt: t0, endedAt: null, durationMs: 1200, status: 'completed', worker: 'w1' },
  { stage: 'rollout', activity: 'icrlvrRollout', attempt: 1, startedAt: new Date(Date.parse(t0) + 1500).toISOString(), endedAt: null, durationMs: 800, status: 'failed', worker: 'w1', error: 'worker died' },
  { stage: 'rollout', activity: 'icrlvrRollout', attempt: 2, startedAt: new Date(Date.parse(t0) + 2500).toISOString(), endedAt: null, durationMs: 900, status: 'completed', worker: 'w2', resumedFromBatch: 3 },
];

function icrlvrRun(id: string, lr: number, acc: number[]): RunDescription {
  return {
    id,
    kind: 'icrlvr',
    state: 'completed',
    stage: 'done',
    step: 4,
    progress: { done: 4, total: 4 },
    metrics: { heldOutAccuracy: acc[acc.length - 1] },
    config: { mode: 'icrlvr', lr, evalSamples: 4, task: { digits: 1 } },
    configHash: 'ab'.repeat(32),
    artifacts: [
      { name: 'eval', step: 0, sha256: 'e'.repeat(64), schema: 'icrlvr.eval@1', rows: 8, bytes: 900, lineage: { stage: 'evaluate', producer: 'icrlvrEvaluate', configHash: 'ab'.repeat(32), codeVersion: 'dlab@0.1.0+abc', parents: ['f'.repeat(64)] } },
    ],
    attempts: attempts('2026-01-01T00:00:00.000Z'),
    icrlvr: {
      evaluations: acc.map((a, i) => ({ step: 2 * i, avgAtK: a, passAtK: Math.min(1, 2 * a), processScoreCorrect: null, luckyShareCorrect: null })),
      training: [1, 2, 3, 4].map((step) => ({ step, rewardMean: 0.1 * step, egCorrectMean: -20 + step, egIncorrectMean: step === 2 ? null : -25, soundShare: 0.05 * step, luckyShare: 0.1, egSoundMean: -2, egLuckyMean: -6, egLuckAuc: 0.7 })),
    },
  };
}

const goracsRun: RunDescription = {
  id: 'goracs/1',
  kind: 'goracs',
  state: 'running',
  stage: 'evaluation',
  step: 4,
  progress: { done: 3, total: 4 },
  config: { budget: 20 },
  configHash: 'cd'.repeat(32),
  artifacts: [],
  attempts: [{ stage: 'refinement', activity: 'goracsRefine', attempt: 1, startedAt: '2026-01-01T00:00:00.000Z', endedAt: null, durationMs: 5000, status: 'running', worker: 'w1' }],
  goracs: {
    trace: [{ iter: 0, poo: 0.3 }, { iter: 1, poo: 0.29 }, { iter: 2, poo: 0.285 }],
    evaluation: ['goracs', 'random'].flatMap((method, m) => [0, 1].flatMap((seed) => ['hr10', 'ndcg10'].map((metric) => ({ method, seed, budget: 20, metric, value: 0.3 - 0.1 * m + 0.01 * seed })))),
  },
};

const smokeRun: RunDescription = {
  id: 'smoke-1',
  kind: 'smoke',
  state: 'failed',
  stage: 'transform',
  step: 1,
  progress: { done: 1, total: 3 },
  error: 'activity failed: <boom>',
  config: { rows: 10 },
  configHash: null,
  artifacts: [{ name: 'table', step: 0, sha256: '1'.repeat(64), schema: 'smoke.table@1', rows: 10, bytes: 100 }],
  attempts: [],
  smoke: { summary: [0, 1, 2].map((dim) => ({ dim, mean: dim * 0.1, std: 1, min: -1, max: 1 })) },
};

const sweepRun: RunDescription = {
  id: 'sweep-1',
  kind: 'icrlvr-sweep',
  state: 'completed',
  stage: 'done',
  step: 4,
  progress: { done: 4, total: 4 },
  config: { sweep: { modes: ['rlvr', 'icrlvr'], seeds: [1, 2] } },
  configHash: '12'.repeat(32),
  artifacts: [],
  attempts: [],
  sweep: {
    rows: ['rlvr', 'icrlvr'].flatMap((mode) =>
      [1, 2].flatMap((seed) => [0, 2].map((step) => ({ mode, seed, step, avgAtK: 0.1 * seed, passAtK: 0.2, processScoreCorrect: null, egCorrect: -3, egIncorrect: -4, rewardMean: step ? 0.2 : null, luckyShareCorrect: 0.3, heldOutLuckyShareCorrect: 0.25, egSound: -2, egLucky: -5, egLuckAuc: 0.6 }))),
    ),
  },
};

/** Width and height attributes of the outer <svg>. */
function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  assert.ok(m, `not an <svg> with a size: ${svg.slice(0, 120)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Every data source of a Vega-Lite spec, anywhere in it. */
function dataSources(spec: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (spec && typeof spec === 'object') {
    const o = spec as Record<string, unknown>;
    if (o.data && typeof o.data === 'object') out.push(o.data as Record<string, unknown>);
    for (const v of Object.values(o)) dataSources(v, out);
  }
  return out;
}

describe('dlab report: rendering (lib/report)', function () {
  this.timeout(60_000);
  const dir = tempDir('report');
  let single: Report;
  let several: Report;
  let written: Awaited<ReturnType<typeof writeReport>>;

  before(async () => {
    single = await buildReport([icrlvrRun('icr-a', 0.01, [0.1, 0.2, 0.15])], '2026-01-01T00:00:00Z');
    several = await buildReport([icrlvrRun('icr-a', 0.01, [0.1, 0.2, 0.15]), icrlvrRun('icr-b', 0.003, [0.1, 0.05, 0.08]), goracsRun, smokeRun, sweepRun], '2026-01-01T00:00:00Z');
    written = await writeReport(join(dir.path, 'out'), several);
  });
  after(() => dir.cleanup());

  it('one icrlvr run: learning curves (avg@k, pass@k, reward, EG correct vs incorrect, correct-by-luck shares, EG sound vs lucky) and its timeline', () => {
    assert.deepEqual(single.figures.map((f) => f.name), ['icrlvr-heldout-accuracy', 'icrlvr-pass-at-k', 'icrlvr-reward-mean', 'icrlvr-evidence-gain', 'icrlvr-correct-by-luck', 'icrlvr-evidence-gain-luck', 'icr-a-timeline']);
    const acc = single.figures[0].spec as { data: { values: { step: number; avgAtK: number }[] } };
    assert.deepEqual(acc.data.values.map((v) => [v.step, v.avgAtK]), [[0, 0.1], [2, 0.2], [4, 0.15]]);
    const eg = single.figures[3].spec as { data: { values: { rollouts: string }[] } };
    assert.equal(eg.data.values.length, 7, '4 correct + 3 incorrect points (step 2 has no incorrect rollout)');
    assert.match(single.figures[0].title, /avg@4/);
  });

  it('several runs: curves overlaid and coloured by run, POO and methods for goracs, a sweep per mode, smoke summary, a timeline per run with attempts', () => {
    const names = several.figures.map((f) => f.name);
    for (const n of ['icrlvr-heldout-accuracy', 'icrlvr-evidence-gain', 'goracs-poo', 'goracs-methods', 'sweep-1-sweep', 'smoke-1-summary', 'icr-a-timeline', 'icr-b-timeline', 'goracs_1-timeline']) assert.ok(names.includes(n), `figure ${n} in ${names.join(', ')}`);
    const acc = several.figures.find((f) => f.name === 'icrlvr-heldout-accuracy')!.spec as { encoding: { color: { field: string } }; data: { values: { run: string }[] } };
    assert.equal(acc.encoding.color.field, 'run');
    assert.deepEqual([...new Set(acc.data.values.map((v) => v.run))], ['icr-a', 'icr-b']);
    assert.equal(new Set(names).size, names.length, 'file names are unique');
  });

  it('every spec carries its data inline (no URL) and renders to an SVG of non-zero size with marks', () => {
    for (const f of several.figures) {
      const sources = dataSources(f.spec);
      assert.ok(sources.length >= 1 && sources.every((d) => Array.isArray(d.values) && !('url' in d)), `${f.name}: inline values only`);
      const { width, height } = svgSize(f.svg);
      assert.ok(width > 50 && height > 50, `${f.name}: ${width}×${height}`);
      assert.ok((f.svg.match(/<path/g) ?? []).length > 3, `${f.name}: drawn marks`);
    }
  });

  it('writes index.html and, per figure, plots/<name>.vl.json (spec with data) and plots/<name>.svg that re-renders identically', async () => {
    assert.ok(existsSync(written.html));
    assert.equal(written.plots.length, several.figures.length);
    const files = readdirSync(join(dir.path, 'out', 'plots')).sort();
    assert.deepEqual(files, several.figures.flatMap((f) => [`${f.name}.svg`, `${f.name}.vl.json`]).sort());
    for (const p of written.plots) {
      const spec = JSON.parse(readFileSync(p.spec, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(spec, several.figures.find((f) => f.name === p.name)!.spec);
      assert.equal(await renderSvg(spec), readFileSync(p.svg, 'utf8'), `${p.name}: the .vl.json alone re-makes the figure`);
    }
  });

  it('the page is self-contained: every figure inline, no scripts, stylesheets links or http(s) src/href, a CSP forbidding fetches', () => {
    const html = readFileSync(written.html, 'utf8');
    assert.equal((html.match(/<figure class="plot"/g) ?? []).length, several.figures.length);
    assert.equal((html.match(/<svg/g) ?? []).length, several.figures.length);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
    assert.doesNotMatch(html, /\s(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  it('shows config differences, the config hash and code version, artifacts with sha256/schema/rows/bytes, retries, and escapes text', () => {
    const html = several.html;
    assert.match(html, /<code>lr<\/code><\/td><td><code>0.01<\/code><\/td><td><code>0.003<\/code>/, 'lr differs between the icrlvr runs');
    assert.match(html, /dlab@0\.1\.0\+abc/);
    assert.match(html, /<code>abababababababab<\/code>/);
    assert.match(html, /<code title="e{64}">e{16}<\/code><\/td><td>icrlvr\.eval@1<\/td><td>8<\/td><td>900<\/td>/);
    // rollout: 2 attempts, 1 completed, 1 failed, 1 retry; mean of completed 0.90 s
    assert.match(html, /<td>rollout<\/td><td>icrlvrRollout<\/td><td>2<\/td><td>1<\/td><td>1<\/td><td>1<\/td><td>0<\/td><td>0.90 s<\/td><td>0.90 s<\/td><td>0.90 s<\/td>/);
    assert.match(html, /activity failed: &lt;boom&gt;/);
    assert.doesNotMatch(html, /<boom>/);
    // sweep: mean ± sd over seeds 1, 2 of avg@k = 0.1·seed → 0.15 ± 0.07071
    assert.match(html, /<td>0<\/td><td>icrlvr<\/td><td>2<\/td><td>0.15 ± 0.07071<\/td>/);
  });
});

describe('dlab report: numbers from artifacts (lib/report/extract)', () => {
  it('icrlvr.eval: avg@k = Σ correct / Σ samples, pass@k = share of questions with a correct sample, process score weighted by correct', () => {
    const t = tableFromColumns({
      step: Int32Array.from([5, 5, 5]),
      question_id: ['q1', 'q2', 'q3'],
      samples: Int32Array.from([4, 4, 4]),
      correct: Int32Array.from([2, 0, 1]),
      process_score_correct: Float64Array.from([0.5, NaN, 1]),
    });
    const p = icrlvrEvalPoint(t);
    assert.equal(p.step, 5);
    assert.equal(p.avgAtK, 3 / 12);
    assert.equal(p.passAtK, 2 / 3);
    assert.ok(Math.abs(p.processScoreCorrect! - (2 * 0.5 + 1) / 3) < 1e-12);
  });

  it('goracs.eval and poo-trace rows', () => {
    const ev = tableFromColumns({ method: ['goracs', 'random'], budget: Int32Array.from([20, 20]), metric: ['hr10', 'hr10'], value: Float64Array.from([0.3, NaN]), seed: Int32Array.from([0, 1]) });
    assert.deepEqual(goracsEvalRows(ev), [
      { method: 'goracs', seed: 0, budget: 20, metric: 'hr10', value: 0.3 },
      { method: 'random', seed: 1, budget: 20, metric: 'hr10', value: null },
    ]);
    const trace = tableFromColumns({ iter: Int32Array.from([0, 1]), poo: Float64Array.from([0.3, 0.25]), swap_out: Int32Array.from([-1, 4]), swap_in: Int32Array.from([-1, 9]), solver_iters: Int32Array.from([10, 12]), candidates_tried: Int32Array.from([0, 3]) });
    assert.deepEqual(pooTrace(trace), [{ iter: 0, poo: 0.3 }, { iter: 1, poo: 0.25 }]);
  });

  it('config differences: only the dotted paths whose values differ, absent fields included', () => {
    assert.deepEqual(configDifferences([{ a: 1, b: { c: 2 }, m: ['x'] }, { a: 1, b: { c: 3 }, m: ['x'], d: true }]), [
      { path: 'b.c', values: ['2', '3'] },
      { path: 'd', values: [undefined, 'true'] },
    ]);
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { startExperiment } from '../../client/start';
import { fileOfUri } from '../../lib/store/artifact-store';
import { dlab, TestCluster, TestStatus } from '../helpers/cluster';

/**
 * `dlab report` end to end: real smoke, icrlvr and goracs runs on a real dev server and
 * worker, reports written by the CLI, opened in headless Chromium: every figure is drawn
 * with a non-zero size, and the page makes no request beyond its own file.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const QUEUE = 'report';

const SMOKE = { seed: 5, rows: 200, dim: 4, hidden: 8, batchSize: 100, rounds: 2 };
/** a smoke run slow enough to be reported while it runs (≈ 60 batches × 0.5 s: the worker paces it) */
const SMOKE_SLOW = { seed: 6, rows: 3000, dim: 4, hidden: 8, batchSize: 50, rounds: 1 };
/** a smoke run paused after its transform, whose output is then corrupted: the summarise stage fails */
const SMOKE_TO_FAIL = { seed: 7, rows: 400, dim: 4, hidden: 8, batchSize: 50, rounds: 1 };
/** 0.5 s after each batch of these two runs */
const PACE = { 'rep-running': 500, 'rep-failed': 500 };
const ICRLVR = {
  mode: 'icrlvr',
  seed: 3,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 20, heldOutQuestions: 6, demoPool: 8 },
  warmStart: { steps: 10, batchSize: 16, lr: 0.01 },
  steps: 2,
  questionsPerStep: 3,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  maxTokens: 12,
  dynamicSampling: false,
  epochs: 2,
  evalEvery: 1,
  evalSamples: 2,
  rolloutShards: 1,
  batchSize: 8,
};
/** two modes × one seed, one step each: the children of a sweep and its comparison table */
const SWEEP = { ...ICRLVR, steps: 1, sweep: { modes: ['rlvr', 'icrlvr'], seeds: [1] } };
const GORACS = {
  seed: 1,
  budget: 15,
  maxIters: 3,
  cutNum: 3,
  model: { build: { vocab: 130, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 80, valUsers: 20, testUsers: 20, seed: 3 },
  evaluation: { methods: ['goracs', 'random'], seeds: [0, 1], epochs: 2, negatives: 10 },
  embedShards: 1,
  batchSize: 32,
};

interface Written {
  html: string;
  plots: { name: string; spec: string; svg: string }[];
}

describe('dlab report in a real browser (real dev server, smoke + icrlvr + goracs runs)', function () {
  this.timeout(240_000);
  let cluster: TestCluster;
  let browser: Browser;
  let env: NodeJS.ProcessEnv;
  const final = new Map<string, TestStatus>();

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH; on Debian: apt-get install chromium)`);
    cluster = await TestCluster.start();
    const home = cluster.home(QUEUE);
    env = cluster.env(home, QUEUE);
    await cluster.startWorker(home, QUEUE, PACE);
    const client = await cluster.client();
    for (const [kind, id, config] of [
      ['smoke', 'rep-smoke', SMOKE],
      ['icrlvr', 'rep-icrlvr', ICRLVR],
      ['goracs', 'rep-goracs', GORACS],
      ['icrlvr', 'rep-sweep', SWEEP],
    ] as const) {
      await startExperiment(client, { kind, config, id, taskQueue: QUEUE });
    }
    for (const id of ['rep-smoke', 'rep-icrlvr', 'rep-goracs', 'rep-sweep']) final.set(id, await cluster.waitFor(id, (s) => s.state !== 'running', 180_000));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  /** Runs `dlab report … --json`, opens the page, returns what the browser saw. */
  async function reportInBrowser(ids: string[], out: string) {
    const r = await dlab(['report', ...ids, '--out', out, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const written = JSON.parse(r.stdout) as Written;
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(written.html).href, { waitUntil: 'load' });
    const figures = await page.$$eval('figure.plot', (els) =>
      els.map((el) => {
        const svg = el.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return { name: el.getAttribute('data-plot') ?? '', width: box?.width ?? 0, height: box?.height ?? 0, marks: svg ? svg.querySelectorAll('path, rect, line').length : 0 };
      }),
    );
    const states = await page.$$eval('h2 .state', (els) => els.map((e) => e.textContent ?? ''));
    const errors = await page.$$eval('p.error', (els) => els.map((e) => e.textContent ?? ''));
    await page.close();
    return { written, figures, states, errors, offsite: requests.filter((u) => !/^(file|data|about|blob):/.test(u)), requests };
  }

  it('the runs completed', () => {
    for (const [id, s] of final) assert.equal(s.state, 'completed', `${id}: ${JSON.stringify(s)}`);
  });

  it('one icrlvr run: learning curves and timeline drawn in Chromium, no network request; the curves hold the workflow\'s own numbers', async () => {
    const out = join(cluster.root.path, 'report-icrlvr');
    const { written, figures, states, offsite, requests } = await reportInBrowser(['rep-icrlvr'], out);
    assert.deepEqual(offsite, [], 'no request leaves the file');
    assert.deepEqual(requests, [pathToFileURL(written.html).href], 'the page loads nothing but itself');
    assert.deepEqual(figures.map((f) => f.name).sort(), written.plots.map((p) => p.name).sort());
    for (const n of ['icrlvr-heldout-accuracy', 'icrlvr-pass-at-k', 'icrlvr-reward-mean', 'icrlvr-evidence-gain', 'rep-icrlvr-timeline']) assert.ok(figures.some((f) => f.name === n), `figure ${n}`);
    for (const f of figures) assert.ok(f.width > 0 && f.height > 0 && f.marks > 0, `${f.name} rendered: ${JSON.stringify(f)}`);
    assert.deepEqual(states, ['completed']);

    // from the eval / scored artifacts, the same numbers the workflow reported in its status
    const m = final.get('rep-icrlvr')!.metrics!;
    const acc = JSON.parse(readFileSync(written.plots.find((p) => p.name === 'icrlvr-heldout-accuracy')!.spec, 'utf8')) as { data: { values: { step: number; avgAtK: number }[] } };
    assert.deepEqual(acc.data.values.map((v) => v.step), [0, 1, 2], 'evaluations at steps 0 (warm start), 1 and 2');
    assert.equal(acc.data.values[0].avgAtK, m.initialHeldOutAccuracy);
    assert.equal(acc.data.values[2].avgAtK, m.heldOutAccuracy);
    const reward = JSON.parse(readFileSync(written.plots.find((p) => p.name === 'icrlvr-reward-mean')!.spec, 'utf8')) as { data: { values: { step: number; rewardMean: number }[] } };
    assert.deepEqual(reward.data.values.map((v) => v.step), [1, 2]);
    assert.equal(reward.data.values[1].rewardMean, m.rewardMean);
    for (const p of written.plots) assert.ok(existsSync(p.svg) && existsSync(p.spec));
  });

  it('several runs, one still running: comparison page with curves, POO, methods and a timeline per run, all drawn; no network request', async () => {
    const client = await cluster.client();
    await startExperiment(client, { kind: 'smoke', config: SMOKE_SLOW, id: 'rep-running', taskQueue: QUEUE });
    await cluster.waitFor('rep-running', (s) => s.stage === 'transform');
    const ids = ['rep-icrlvr', 'rep-goracs', 'rep-smoke', 'rep-running'];
    const { written, figures, states, offsite } = await reportInBrowser(ids, join(cluster.root.path, 'report-all'));
    await client.workflow.getHandle('rep-running').cancel();

    assert.deepEqual(offsite, []);
    assert.deepEqual(figures.map((f) => f.name).sort(), written.plots.map((p) => p.name).sort());
    for (const n of ['icrlvr-heldout-accuracy', 'goracs-poo', 'goracs-methods', 'rep-smoke-summary', 'rep-running-timeline', 'rep-goracs-timeline']) assert.ok(figures.some((f) => f.name === n), `figure ${n} in ${figures.map((f) => f.name).join(', ')}`);
    for (const f of figures) assert.ok(f.width > 0 && f.height > 0 && f.marks > 0, `${f.name} rendered: ${JSON.stringify(f)}`);
    assert.deepEqual(states, ['completed', 'completed', 'completed', 'running']);

    const html = readFileSync(written.html, 'utf8');
    assert.match(html, /smoke runs: config differences<\/h3>\s*<table class="config-diff"><thead><tr><th>field<\/th><th>rep-smoke<\/th><th>rep-running<\/th>/, 'the two smoke configs compared');
    const g = final.get('rep-goracs')!.metrics!;
    const poo = JSON.parse(readFileSync(written.plots.find((p) => p.name === 'goracs-poo')!.spec, 'utf8')) as { data: { values: { swap: number; poo: number }[] } };
    assert.equal(poo.data.values.length, g.swapsAccepted! + 1, 'greedy start + one point per accepted swap');
    assert.equal(poo.data.values[poo.data.values.length - 1].poo, g.poo);
  });

  it('a sweep: its comparison per mode drawn from the comparison table, its children\'s attempts in its audit trail', async () => {
    const { written, figures, offsite } = await reportInBrowser(['rep-sweep'], join(cluster.root.path, 'report-sweep'));
    assert.deepEqual(offsite, []);
    const sweep = figures.find((f) => f.name === 'rep-sweep-sweep');
    assert.ok(sweep && sweep.width > 0 && sweep.height > 0 && sweep.marks > 0, JSON.stringify(figures));
    const spec = JSON.parse(readFileSync(written.plots.find((p) => p.name === 'rep-sweep-sweep')!.spec, 'utf8')) as { data: { values: { mode: string; step: number }[] } };
    assert.deepEqual([...new Set(spec.data.values.map((v) => `${v.mode}@${v.step}`))].sort(), ['icrlvr@0', 'icrlvr@1', 'rlvr@0', 'rlvr@1']);
    const html = readFileSync(written.html, 'utf8');
    assert.match(html, /<h3>Comparison per mode<\/h3>/);
    assert.match(html, /<td>rep-sweep\.rlvr\.s1<\/td>/, 'attempts of the child runs are listed with their workflow id');
  });

  it('a cancelled run and a failed one (input corrupted under a pause): states, the failure, and every figure drawn', async () => {
    const client = await cluster.client();
    await startExperiment(client, { kind: 'smoke', config: SMOKE_TO_FAIL, id: 'rep-failed', taskQueue: QUEUE });
    await cluster.waitFor('rep-failed', (s) => s.stage === 'transform');
    await client.workflow.getHandle('rep-failed').signal('pause');
    const paused = await cluster.waitFor('rep-failed', (s) => s.artifacts.length === 2); // table + transformed, held before summarise
    const victim = fileOfUri(paused.artifacts[1].uri);
    const bytes = readFileSync(victim);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(victim, bytes);
    await client.workflow.getHandle('rep-failed').signal('resume');
    await cluster.waitFor('rep-failed', (s) => s.state === 'failed');
    await cluster.waitFor('rep-running', (s) => s.state === 'cancelled');

    const { figures, states, errors, offsite } = await reportInBrowser(['rep-running', 'rep-failed'], join(cluster.root.path, 'report-ended'));
    assert.deepEqual(offsite, []);
    assert.deepEqual(states, ['cancelled', 'failed']);
    assert.ok(errors.some((e) => e.includes(paused.artifacts[1].sha256)), `the failure names the corrupted artifact: ${JSON.stringify(errors)}`);
    for (const n of ['rep-running-timeline', 'rep-failed-timeline']) assert.ok(figures.some((f) => f.name === n), `figure ${n}`);
    for (const f of figures) assert.ok(f.width > 0 && f.height > 0 && f.marks > 0, `${f.name} rendered: ${JSON.stringify(f)}`);
  });
});

import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { startExperiment } from '../../client/start';
import { DlabInputError } from '../../lib/errors';
import { DEFAULT_REC_SYNTH, generateRecData, recTextRecords, renderItem, renderRecPrompt } from '../../lib/data/rec-synth';
import { roundHalfEven } from '../../lib/goracs/label-enhanced';
import { fileOfUri } from '../../lib/store/artifact-store';
import { dlab, TestCluster, TestStatus } from '../helpers/cluster';

/**
 * GORACS end to end on a real dev server and a real worker process: a tiny synthetic
 * recommendation set and model, gradient embedding in 2 shards → OT init → refinement →
 * evaluation of 3 methods; and a budget larger than the pool refused before anything starts.
 */
const ID = 'goracs-tiny';
const CONFIG = {
  seed: 1,
  budget: 20,
  maxIters: 5,
  cutNum: 3,
  model: { build: { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 150, valUsers: 40, testUsers: 40, seed: 3 },
  evaluation: { methods: ['goracs', 'random', 'full'], seeds: [0], epochs: 3, negatives: 20 },
  embedShards: 2,
  batchSize: 32,
  heartbeatTimeoutSeconds: 10,
};

describe('GORACS workflow (real dev server)', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let final: TestStatus;

  before(async () => {
    cluster = await TestCluster.start();
    const w = await cluster.startWorker(cluster.home('goracs'), 'goracs');
    await startExperiment(await cluster.client(), { kind: 'goracs', config: CONFIG, id: ID, taskQueue: 'goracs' });
    final = await cluster.waitFor(ID, (s) => s.state !== 'running', 240_000);
    await w.stop();
  });
  after(async () => cluster?.stop());

  it('completes gradient embedding → OT init → refinement → evaluation with sane metrics', () => {
    assert.equal(final.state, 'completed', JSON.stringify(final));
    const m = final.metrics!;
    assert.ok(m.poo! <= m.pooInitial!, `POO ${m.poo} must not exceed the greedy start's ${m.pooInitial}`);
    assert.ok(m.poo! >= 0 && m.poo! <= 1, 'C is in [0, 1], so is POO');
    assert.ok(m.swapsAccepted! >= 0 && m.swapsAccepted! <= CONFIG.maxIters);
    // the greedy start keeps only rows with positive weight: |S| = budget unless it stalled
    assert.ok(m.selected! >= 1 && m.selected! <= CONFIG.budget);
    assert.equal(m.pool, 150);
    assert.equal(m.validation, 40);
  });

  it('lists every artifact kind; the coreset has |S| rows of distinct pool rows and weights summing to 1', () => {
    const byName = new Map(final.artifacts.map((a) => [a.name, a]));
    for (const n of ['samples', 'embeddings.0', 'embeddings.1', 'cost', 'greedy-coreset', 'coreset', 'poo-trace', 'evaluation']) assert.ok(byName.has(n), `artifact ${n}`);
    assert.equal(byName.get('embeddings.0')!.rows + byName.get('embeddings.1')!.rows, 190, 'pool + validation embedded once');
    const coreset = tableFromIPC(readFileSync(fileOfUri(byName.get('coreset')!.uri)));
    assert.equal(coreset.numRows, final.metrics!.selected);
    const rows = coreset.getChild('index')!.toArray() as Int32Array;
    assert.equal(new Set(rows).size, rows.length);
    const w = coreset.getChild('w')!.toArray() as Float64Array;
    assert.ok(Math.abs(w.reduce((s, x) => s + x, 0) - 1) < 1e-9);
    const trace = tableFromIPC(readFileSync(fileOfUri(byName.get('poo-trace')!.uri)));
    assert.equal(trace.numRows, final.metrics!.swapsAccepted! + 1, 'iter 0 + one row per accepted swap');
  });

  it('reports the evaluation in `status --json` (one entry per method and seed, HR@10 and NDCG@10 in [0, 1])', () => {
    const ev = final.evaluation as { method: string; seed: number; hr10: number; ndcg10: number }[];
    assert.deepEqual(ev.map((e) => e.method), ['goracs', 'random', 'full']);
    for (const e of ev) {
      assert.ok(e.hr10 >= 0 && e.hr10 <= 1 && e.ndcg10 >= 0 && e.ndcg10 <= e.hr10, JSON.stringify(e));
    }
  });

  it('variant "label-enhanced" on labelled JSONL data: positives then negatives, n₊ = round(n·|V₊|/|V|) at most, each row of its class', async () => {
    const d = generateRecData({ ...DEFAULT_REC_SYNTH, items: 30, clusters: 3, poolUsers: 150, valUsers: 40, testUsers: 10, seed: 3 });
    const samples = [...d.pool, ...d.validation, ...d.test];
    const records = recTextRecords(samples).map((r, i) => ({ ...r, label: samples[i].next % 2 }));
    const file = join(cluster.root.path, 'labelled.jsonl');
    writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n'));
    const id = 'goracs-label-enhanced';
    const config = { ...CONFIG, data: { type: 'jsonl', path: file }, variant: 'label-enhanced', evaluation: { enabled: false } };
    const w = await cluster.startWorker(cluster.home('goracs-le'), 'goracs-le');
    await startExperiment(await cluster.client(), { kind: 'goracs', config, id, taskQueue: 'goracs-le' });
    const s = await cluster.waitFor(id, (st) => st.state !== 'running', 240_000);
    await w.stop();
    assert.equal(s.state, 'completed', JSON.stringify(s));
    const coreset = tableFromIPC(readFileSync(fileOfUri(s.artifacts.find((a) => a.name === 'coreset')!.uri)));
    const labelOf = new Map(records.map((r) => [r.id, r.label]));
    const labels = (coreset.getChild('id')!.toArray() as string[]).map((x) => labelOf.get(x));
    const val = records.filter((r) => r.split === 'validation');
    const nPos = roundHalfEven(CONFIG.budget * val.filter((r) => r.label === 1).length, val.length);
    const positives = labels.filter((l) => l === 1).length;
    assert.ok(positives >= 1 && positives <= nPos, `${positives} positives, n₊ = ${nPos}`);
    assert.ok(labels.length - positives >= 1 && labels.length - positives <= CONFIG.budget - nPos);
    assert.deepEqual(labels, [...labels].sort((a, b) => b! - a!), 'the positives first, then the negatives');
  });

  it('evaluation.task "binary": CTR-style Yes/No rows are scored by AUC (a table of AUC rows, no HR/NDCG), every AUC in [0, 1]', async () => {
    // "history + candidate item → Yes/No": the candidate is the true next item (Yes) for every other sample, else another item (No)
    const d = generateRecData({ ...DEFAULT_REC_SYNTH, items: 30, clusters: 3, poolUsers: 150, valUsers: 40, testUsers: 40, seed: 3 });
    const samples = [...d.pool, ...d.validation, ...d.test];
    const records = samples.map((smp, i) => {
      const label = i % 2 === 0 ? 1 : 0;
      const candidate = label === 1 ? smp.next : (smp.next + 1 + (i % 29)) % 30;
      return { id: smp.id, prompt: renderRecPrompt(smp.history) + renderItem(candidate), target: label === 1 ? 'Yes' : 'No', label, split: smp.split };
    });
    const file = join(cluster.root.path, 'binary.jsonl');
    writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n'));
    const id = 'goracs-binary';
    const config = { ...CONFIG, data: { type: 'jsonl', path: file }, evaluation: { ...CONFIG.evaluation, task: 'binary', epochs: 5 } };
    const w = await cluster.startWorker(cluster.home('goracs-bin'), 'goracs-bin');
    await startExperiment(await cluster.client(), { kind: 'goracs', config, id, taskQueue: 'goracs-bin' });
    const s = await cluster.waitFor(id, (st) => st.state !== 'running', 240_000);
    await w.stop();
    assert.equal(s.state, 'completed', JSON.stringify(s));
    const ev = s.evaluation as { method: string; auc: number; hr10?: number }[];
    assert.deepEqual(ev.map((e) => e.method), ['goracs', 'random', 'full']);
    for (const e of ev) assert.ok(e.auc >= 0 && e.auc <= 1 && e.hr10 === undefined, JSON.stringify(e));
    for (const m of ['goracs', 'random', 'full'] as const) assert.equal(s.metrics![`auc.${m}`], ev.find((e) => e.method === m)!.auc);
    assert.ok(ev.find((e) => e.method === 'full')!.auc > 0.5, 'the yes/no signal is learnable: full data beats chance');
    const table = tableFromIPC(readFileSync(fileOfUri(s.artifacts.find((a) => a.name === 'evaluation')!.uri)));
    assert.deepEqual([...new Set(table.getChild('metric')!.toArray() as string[])], ['auc', 'valLoss']);
    console.log(`      binary AUC: ${ev.map((e) => `${e.method} ${e.auc.toFixed(3)}`).join(', ')}`);
  });

  it('evaluation.task "binary" with a test row lacking its label is refused before anything starts (the check goracsPrepare runs), naming the sample', async () => {
    const rows = readFileSync(join(cluster.root.path, 'binary.jsonl'), 'utf8').split('\n').map((l) => JSON.parse(l) as { id: string; split: string; label?: number });
    const victim = rows.find((r) => r.split === 'test')!;
    delete victim.label;
    const file = join(cluster.root.path, 'binary-unlabelled.jsonl');
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
    const id = 'goracs-binary-unlabelled';
    await assert.rejects(
      startExperiment(await cluster.client(), { kind: 'goracs', config: { ...CONFIG, data: { type: 'jsonl', path: file }, evaluation: { ...CONFIG.evaluation, task: 'binary' } }, id, taskQueue: 'goracs-bin2' }),
      (err: Error) => err instanceof DlabInputError && new RegExp(`test sample ${victim.id} has no 0/1 label`).test(err.message),
    );
    await assert.rejects((await cluster.client()).workflow.getHandle(id).describe(), /not found/i, 'no workflow was started');
  });

  it('evaluation.task "binary" on the synthetic (next-item) data is refused before anything starts', async () => {
    await assert.rejects(
      startExperiment(await cluster.client(), { kind: 'goracs', config: { ...CONFIG, evaluation: { ...CONFIG.evaluation, task: 'binary' } }, id: 'goracs-bad-task', taskQueue: 'goracs' }),
      (err: Error) => err instanceof DlabInputError && /evaluation\.task/.test(err.message),
    );
  });

  it('a budget larger than the pool is refused before anything starts, naming the field (API and CLI)', async () => {
    const bad = { ...CONFIG, budget: 500 };
    await assert.rejects(
      startExperiment(await cluster.client(), { kind: 'goracs', config: bad, id: 'goracs-bad', taskQueue: 'goracs' }),
      (err: Error) => err instanceof DlabInputError && /budget: budget n = 500 exceeds the pool size data\.poolUsers = 150/.test(err.message),
    );
    const file = join(cluster.root.path, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = await dlab(['run', 'goracs', '--config', file, '--id', 'goracs-bad-cli'], cluster.env(cluster.home('goracs'), 'goracs'));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /budget/);
    const client = await cluster.client();
    await assert.rejects(client.workflow.getHandle('goracs-bad-cli').describe(), 'no workflow was started');
  });
});

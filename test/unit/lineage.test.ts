import { strict as assert } from 'node:assert';
import { tableFromArrays } from 'apache-arrow';
import { SMOKE_SUMMARY } from '../../schemas/artifacts';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { readStoredArtifact, resolveArtifactSha, StoredArtifact } from '../../lib/store/catalog';
import { ArtifactNode, buildLineageTree, collectAncestry, ProducingAttempt, renderLineageTree } from '../../lib/store/lineage';
import { DlabInputError } from '../../lib/errors';
import { tempDir } from '../helpers/tmp';

/**
 * table ← model;  x1 ← table, model;  x2 ← x1, model;  summary ← x2, table.
 * A DAG: `table` and `model` are reached along several paths.
 */
const h = (c: string) => c.repeat(64);
const [MODEL, TABLE, X1, X2, SUMMARY] = [h('e'), h('1'), h('2'), h('3'), h('4')];
const art = (sha256: string, stage: string, parents: string[]): StoredArtifact => ({
  sha256,
  schema: `smoke.${stage}@1`,
  experimentId: 'exp-1',
  stage,
  producer: `smoke${stage}`,
  configHash: h('c'),
  codeVersion: 'dlab@test',
  parents,
  bytes: 100,
  file: `/store/${sha256}.arrow`,
});
const STORE = new Map<string, StoredArtifact>([
  [TABLE, art(TABLE, 'generate', [MODEL])],
  [X1, art(X1, 'transform', [TABLE, MODEL])],
  [X2, art(X2, 'transform', [X1, MODEL])],
  [SUMMARY, art(SUMMARY, 'summarise', [X2, TABLE])],
]);

describe('lineage tree (lib/store/lineage.ts)', () => {
  it('collects each ancestor once, breadth-first; a hash the store lacks is recorded as absent', async () => {
    const reads: string[] = [];
    const found = await collectAncestry(SUMMARY, async (sha) => (reads.push(sha), STORE.get(sha)));
    assert.deepEqual([...found.keys()], [SUMMARY, X2, TABLE, X1, MODEL]);
    assert.deepEqual(reads, [SUMMARY, X2, TABLE, X1, MODEL], 'no artifact read twice');
    assert.equal(found.get(MODEL), undefined);
  });

  it('expands every artifact once: summary → x2 → x1 → table → model; later paths are `seen`, the model a `file` leaf', async () => {
    const found = await collectAncestry(SUMMARY, async (sha) => STORE.get(sha));
    const tree = buildLineageTree(SUMMARY, found) as ArtifactNode;
    const shape = (n: ReturnType<typeof buildLineageTree>): unknown => (n.kind === 'artifact' ? [n.stage, n.parents.map(shape)] : n.kind);
    assert.deepEqual(shape(tree), ['summarise', [['transform', [['transform', [['generate', ['file']], 'file']], 'file']], 'seen']]);
    assert.equal(tree.configHash, h('c'));
    assert.equal(tree.codeVersion, 'dlab@test');
    assert.equal(tree.attempt, null, 'no history given: attempt unknown');
  });

  it('attaches the producing attempt to its artifact and a model file path to its leaf', async () => {
    const found = await collectAncestry(X1, async (sha) => STORE.get(sha));
    const attempt: ProducingAttempt = { workflowId: 'exp-1', runId: 'r1', activityType: 'smokeTransform', activityId: '7', attempt: 2, worker: 'w@host' };
    const tree = buildLineageTree(X1, found, new Map([[X1, attempt]]), new Map([[MODEL, '/models/tiny/backbone.onnx']])) as ArtifactNode;
    assert.deepEqual(tree.attempt, attempt);
    assert.deepEqual(tree.parents[1], { kind: 'file', sha256: MODEL, path: '/models/tiny/backbone.onnx' });
    const lines = renderLineageTree(tree);
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^222222222222  smoke\.transform@1  exp-1 \/ transform  by smokeTransform attempt 2 \(activity 7, run r1, worker w@host\)/);
    assert.match(lines[1], /^├─ 111111111111 .* by smokegenerate, attempt unknown/);
    assert.match(renderLineageTree(buildLineageTree(TABLE, found))[1], /^└─ eeeeeeeeeeee  file, not an artifact \(a model file or outside input\)$/);
    assert.match(lines[2], /^│  └─ eeeeeeeeeeee  file, not an artifact: \/models\/tiny\/backbone\.onnx/);
    assert.match(lines[3], /^└─ eeeeeeeeeeee  file, not an artifact: \/models\/tiny\/backbone\.onnx/);
  });
});

describe('artifact catalog (lib/store/catalog.ts)', () => {
  const dir = tempDir('catalog');
  const store = new LocalArtifactStore(dir.path);
  after(() => dir.cleanup());
  const summary = (mean: number) => tableFromArrays({ dim: Int32Array.of(0), mean: Float64Array.of(mean), std: Float64Array.of(1), min: Float64Array.of(0), max: Float64Array.of(2) });
  const lineage = { experimentId: 'exp-2', stage: 'summarise', producer: 'smokeSummarise', configHash: h('c'), codeVersion: 'dlab@test', parents: [h('a')] };

  it('reads an artifact’s lineage from its schema; a hash not in the store is undefined', async () => {
    const ref = await store.put(summary(0.5), SMOKE_SUMMARY, lineage);
    const got = await readStoredArtifact(store, ref.sha256);
    assert.deepEqual({ ...got, extra: undefined }, { ...lineage, extra: undefined, schema: 'smoke.summary@1', sha256: ref.sha256, bytes: ref.bytes, file: store.locate(ref.sha256) });
    assert.equal(await readStoredArtifact(store, h('0')), undefined);
  });

  it('resolves a unique sha256 prefix; an ambiguous or unknown one is an input error naming it', async () => {
    const a = await store.put(summary(1.5), SMOKE_SUMMARY, lineage);
    assert.equal(await resolveArtifactSha(store, a.sha256.slice(0, 10).toUpperCase()), a.sha256);
    assert.equal(await resolveArtifactSha(store, a.sha256), a.sha256);
    await assert.rejects(resolveArtifactSha(store, 'ffff' + 'f'.repeat(60)), (e: Error) => e instanceof DlabInputError && /no artifact f{64} in the store/.test(e.message));
    await assert.rejects(resolveArtifactSha(store, 'xyz'), /not a sha256 or a prefix of one/);
    // 17 artifacts: by pigeonhole two share their first hex digit, so that one-digit prefix is ambiguous
    const shas = [a.sha256];
    for (let i = 0; i < 16; i++) shas.push((await store.put(summary(10 + i), SMOKE_SUMMARY, lineage)).sha256);
    const digit = [...'0123456789abcdef'].find((d) => shas.filter((s) => s.startsWith(d)).length >= 2)!;
    await assert.rejects(resolveArtifactSha(store, digit), /ambiguous: \d+ artifacts match/);
  });
});

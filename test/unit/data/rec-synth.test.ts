import { strict as assert } from 'node:assert';
import { DEFAULT_REC_SYNTH, generateRecData, RecSample, RecSynthConfig } from '../../../lib/data/rec-synth';
import { DlabInputError } from '../../../lib/errors';

const small: RecSynthConfig = { ...DEFAULT_REC_SYNTH, poolUsers: 1000, valUsers: 300, testUsers: 200 };

function fingerprint(samples: RecSample[]): string {
  return JSON.stringify(samples.map((s) => [s.id, Array.from(s.history), s.next, s.user, s.split, s.kind, s.shifted]));
}

/** Share of consecutive item pairs (within history + next) that stay in one cluster. */
function sameClusterShare(samples: RecSample[], itemCluster: Int32Array): number {
  let same = 0;
  for (const s of samples) if (itemCluster[s.next] === itemCluster[s.history[s.history.length - 1]]) same++;
  return same / samples.length;
}

/** Share of a split's next items that fall in the clusters popular after the shift (upper half). */
function newClusterShare(samples: RecSample[], itemCluster: Int32Array, clusters: number): number {
  return samples.filter((s) => itemCluster[s.next] >= clusters / 2).length / samples.length;
}

describe('rec-synth: synthetic sequential recommendation with planted structure', () => {
  const data = generateRecData(small);

  it('is deterministic in the seed (and changes with it)', () => {
    const again = generateRecData(small);
    for (const split of ['pool', 'validation', 'test'] as const) assert.equal(fingerprint(again[split]), fingerprint(data[split]));
    assert.deepEqual(again.itemCluster, data.itemCluster);
    assert.notEqual(fingerprint(generateRecData({ ...small, seed: 2 }).pool), fingerprint(data.pool));
  });

  it('sizes: pool of poolUsers with round(10%) noisy and round(10%) duplicates; val and test of their users; histories of ⌈H/2⌉…H items', () => {
    assert.equal(data.pool.length, 1000);
    assert.equal(data.validation.length, 300);
    assert.equal(data.test.length, 200);
    assert.equal(data.pool.filter((s) => s.kind === 'noisy').length, 100);
    assert.equal(data.pool.filter((s) => s.kind === 'duplicate').length, 100);
    const all = [...data.pool, ...data.validation, ...data.test];
    assert.equal(new Set(all.map((s) => s.id)).size, all.length, 'ids are unique');
    for (const s of all) {
      assert.ok(s.history.length >= 5 && s.history.length <= 10, `history of ${s.history.length}`);
      for (const i of [...s.history, s.next]) assert.ok(Number.isInteger(i) && i >= 0 && i < 200);
    }
    assert.ok(data.validation.every((s) => s.split === 'validation' && s.shifted && s.kind === 'clean'));
    assert.ok(data.pool.every((s) => s.split === 'pool'));
  });

  it('10 clusters of 20 items', () => {
    const sizes = new Array(10).fill(0);
    for (const c of data.itemCluster) sizes[c]++;
    assert.deepEqual(sizes, new Array(10).fill(20));
  });

  it('cluster structure: the next item shares the last item’s cluster far above chance (1/10) for clean users, near chance for noisy ones', () => {
    const clean = data.pool.filter((s) => s.kind === 'clean');
    const noisy = data.pool.filter((s) => s.kind === 'noisy');
    assert.ok(sameClusterShare(clean, data.itemCluster) > 0.7);
    assert.ok(sameClusterShare(noisy, data.itemCluster) < 0.25);
  });

  it('time shift: validation users favour the newly popular clusters; the shifted part of the pool does too, the old part does not', () => {
    const share = (xs: RecSample[]) => newClusterShare(xs, data.itemCluster, 10);
    const old = data.pool.filter((s) => s.kind === 'clean' && !s.shifted);
    const shifted = data.pool.filter((s) => s.kind === 'clean' && s.shifted);
    assert.equal(shifted.length, Math.round(0.2 * 800));
    assert.ok(share(data.validation) > 0.6 && share(shifted) > 0.6, `${share(data.validation)} ${share(shifted)}`);
    assert.ok(share(old) < 0.3, `${share(old)}`);
    const none = generateRecData({ ...small, shift: 0 });
    assert.ok(share(none.validation) < 0.3, 'shift 0: validation looks like the old pool');
  });

  it('near-duplicates: same user and next item as a clean pool sample, history differing in at most one position', () => {
    const clean = data.pool.filter((s) => s.kind === 'clean');
    for (const d of data.pool.filter((s) => s.kind === 'duplicate')) {
      const src = clean.find((c) => c.user === d.user)!;
      assert.equal(src.next, d.next);
      assert.equal(src.history.length, d.history.length);
      assert.ok(src.history.filter((x, t) => x !== d.history[t]).length <= 1);
    }
  });

  it('validation and test do not depend on the pool size (own RNG streams)', () => {
    const other = generateRecData({ ...small, poolUsers: 400 });
    const strip = (xs: RecSample[]) => JSON.stringify(xs.map((s) => [Array.from(s.history), s.next]));
    assert.equal(strip(other.validation), strip(data.validation));
    assert.equal(strip(other.test), strip(data.test));
  });

  it('the default configuration generates 3000 / 500 / 500 samples', () => {
    const d = generateRecData(DEFAULT_REC_SYNTH);
    assert.deepEqual([d.pool.length, d.validation.length, d.test.length], [3000, 500, 500]);
  });

  describe('bad config', () => {
    const cases: [string, Partial<RecSynthConfig>, RegExp][] = [
      ['historyLength > 10', { historyLength: 11 }, /historyLength must be an integer in \[1, 10\], found 11/],
      ['more clusters than items', { items: 5, clusters: 6 }, /clusters must be an integer in \[1, 5\]/],
      ['shift outside [0, 1]', { shift: 1.5 }, /shift must be a number in \[0, 1\], found 1.5/],
      ['no validation users', { valUsers: 0 }, /valUsers must be an integer in \[1,/],
      ['noisy + duplicates > 1', { noisyFraction: 0.7, duplicateFraction: 0.5 }, /noisyFraction \+ duplicateFraction must be <= 1/],
    ];
    for (const [name, patch, message] of cases) {
      it(name, () => assert.throws(() => generateRecData({ ...small, ...patch }), (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
  });
});

import { DlabInputError } from '../errors';
import { Rng } from '../rng';

export { auc, rankMetrics, sampleNegatives } from './rec-metrics';
export type { RankMetrics } from './rec-metrics';
export { recTextRecords, renderItem, renderRecPrompt } from './rec-prompt';
export { loadRecArrow, loadRecJsonl } from './rec-records';
export type { RecRecord, RecSplit } from './rec-records';

/**
 * Built-in synthetic sequential recommendation with planted structure (docs/goracs.md, "Data"):
 * "history of up to 10 items → next item", where the right coreset of the pool is
 * measurably better than a random one.
 *
 * Items. `items` items in `clusters` clusters of equal size (±1), assigned by a seeded
 * permutation; each cluster's items form a ring (in permutation order).
 *
 * Users and the time shift. Cluster popularity in the old period is
 *   p_old(c) ∝ exp(−4c/C),  and the newer one  p_shift = (1 − shift)·p_old + shift·p_new,
 *   p_new(c) ∝ exp(−4(C−1−c)/C)   (the mirror image: old-popular clusters become rare).
 * A user has a home cluster h ~ p (p_old or p_shift) and cluster preference
 *   π_u = 0.6·δ_h + 0.4·p,
 * and a ring direction: +1 in the old period; a shifted user walks −1 with probability
 * `shift` (so item transitions move too, not only tastes).
 *
 * Sessions (a Markov chain over items). First item: cluster ~ π_u, item uniform in it.
 * From item x in cluster c: with probability STAY = 0.8 stay in c — then with probability
 * SUCCESSOR = 0.7 the ring neighbour of x in the user's direction, else a uniformly drawn
 * other item of c; otherwise (0.2) jump to a cluster ~ π_u and a uniform item there.
 * A sample is one session of L + 1 items, L uniform in [⌈H/2⌉, H] (H = historyLength):
 * history = the first L, next = the last.
 *
 * Splits.
 *   validation, test: valUsers / testUsers clean users from p_shift (shifted = true);
 *   pool (poolUsers samples): round(noisyFraction·poolUsers) noisy users (every item
 *     uniform over all items), round(duplicateFraction·poolUsers) near-duplicates (a copy
 *     of an earlier clean pool sample with one history item replaced by another item of
 *     the same cluster; same user and `shifted` as the copied sample), the rest clean —
 *     round(shiftedPoolFraction·clean) of them from p_shift, the others from p_old.
 *     The pool is shuffled, then numbered.
 * Determinism: everything follows from `seed`; items, pool, validation and test draw from
 * their own RNG streams (0, 1, 2, 3), so e.g. changing poolUsers leaves val/test unchanged.
 */
export interface RecSynthConfig {
  items: number;
  clusters: number;
  /** pool samples (one per user, duplicates included) */
  poolUsers: number;
  valUsers: number;
  testUsers: number;
  /** H ≤ 10: longest history */
  historyLength: number;
  noisyFraction: number;
  duplicateFraction: number;
  /** 0..1: how far the val/test preference distribution (and ring direction) moved */
  shift: number;
  seed: number;
  /** share of the clean pool drawn from the shifted distribution (default 0.2) */
  shiftedPoolFraction?: number;
}

export const DEFAULT_REC_SYNTH: Readonly<Required<RecSynthConfig>> = Object.freeze({
  items: 200,
  clusters: 10,
  poolUsers: 3000,
  valUsers: 500,
  testUsers: 500,
  historyLength: 10,
  noisyFraction: 0.1,
  duplicateFraction: 0.1,
  shift: 0.8,
  seed: 1,
  shiftedPoolFraction: 0.2,
});

export type RecSampleSplit = 'pool' | 'validation' | 'test';

export interface RecSample {
  id: string;
  history: Int32Array;
  next: number;
  user: number;
  split: RecSampleSplit;
  kind: 'clean' | 'noisy' | 'duplicate';
  shifted: boolean;
}

export interface RecData {
  pool: RecSample[];
  validation: RecSample[];
  test: RecSample[];
  /** cluster of each item, Int32Array(items) */
  itemCluster: Int32Array;
}

const STAY = 0.8;
const SUCCESSOR = 0.7;
const HOME = 0.6;
export const MAX_HISTORY = 10;

export function generateRecData(cfg: RecSynthConfig): RecData {
  checkConfig(cfg);
  const C = cfg.clusters;
  const world = buildWorld(cfg.items, C, new Rng(cfg.seed, 0));
  const pOld = new Float64Array(C);
  const pNew = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    pOld[c] = Math.exp((-4 * c) / C);
    pNew[c] = Math.exp((-4 * (C - 1 - c)) / C);
  }
  normalise(pOld);
  normalise(pNew);
  const pShift = new Float64Array(C);
  for (let c = 0; c < C; c++) pShift[c] = (1 - cfg.shift) * pOld[c] + cfg.shift * pNew[c];

  // pool
  const rng = new Rng(cfg.seed, 1);
  const nNoisy = Math.round(cfg.noisyFraction * cfg.poolUsers);
  const nDup = Math.min(Math.round(cfg.duplicateFraction * cfg.poolUsers), cfg.poolUsers - nNoisy);
  const nClean = cfg.poolUsers - nNoisy - nDup;
  if (nDup > 0 && nClean === 0) {
    throw new DlabInputError('rec-synth config: duplicates need clean pool samples to copy; lower noisyFraction + duplicateFraction');
  }
  const nShifted = Math.round((cfg.shiftedPoolFraction ?? DEFAULT_REC_SYNTH.shiftedPoolFraction) * nClean);
  const pool: RecSample[] = [];
  let user = 0;
  for (let u = 0; u < nClean; u++) {
    const shifted = u < nShifted;
    pool.push(session(world, cfg, shifted ? pShift : pOld, shifted, rng, user++, 'pool'));
  }
  for (let u = 0; u < nNoisy; u++) pool.push(noisySession(cfg, rng, user++));
  for (let d = 0; d < nDup; d++) pool.push(nearDuplicate(pool[rng.int(nClean)], world, rng));
  rng.shuffle(pool);
  pool.forEach((s, i) => (s.id = `pool-${i}`));

  const shiftedSplit = (n: number, stream: number, split: RecSampleSplit, prefix: string): RecSample[] => {
    const r = new Rng(cfg.seed, stream);
    const out: RecSample[] = [];
    for (let i = 0; i < n; i++) {
      const s = session(world, cfg, pShift, true, r, user++, split);
      s.id = `${prefix}-${i}`;
      out.push(s);
    }
    return out;
  };
  const validation = shiftedSplit(cfg.valUsers, 2, 'validation', 'val');
  const test = shiftedSplit(cfg.testUsers, 3, 'test', 'test');
  return { pool, validation, test, itemCluster: world.itemCluster };
}

interface World {
  itemCluster: Int32Array;
  /** members[c] = items of cluster c in ring order */
  members: Int32Array[];
  /** position of each item in its cluster's ring */
  ringPos: Int32Array;
}

function buildWorld(items: number, clusters: number, rng: Rng): World {
  const perm = new Int32Array(items);
  for (let i = 0; i < items; i++) perm[i] = i;
  rng.shuffle(perm);
  const itemCluster = new Int32Array(items);
  const lists: number[][] = Array.from({ length: clusters }, () => []);
  for (let p = 0; p < items; p++) {
    const c = p % clusters;
    itemCluster[perm[p]] = c;
    lists[c].push(perm[p]);
  }
  const ringPos = new Int32Array(items);
  const members = lists.map((l) => Int32Array.from(l));
  members.forEach((m) => m.forEach((item, k) => (ringPos[item] = k)));
  return { itemCluster, members, ringPos };
}

/** One clean user's session from cluster popularity p. */
function session(w: World, cfg: RecSynthConfig, p: Float64Array, shifted: boolean, rng: Rng, user: number, split: RecSampleSplit): RecSample {
  const C = p.length;
  const pref = new Float64Array(C);
  const home = draw(p, rng);
  for (let c = 0; c < C; c++) pref[c] = (1 - HOME) * p[c] + (c === home ? HOME : 0);
  const direction = shifted && rng.next() < cfg.shift ? -1 : 1;
  const L = historyLength(cfg.historyLength, rng);
  const seq = new Int32Array(L + 1);
  let c = draw(pref, rng);
  seq[0] = uniformIn(w.members[c], rng);
  for (let t = 1; t <= L; t++) {
    const x = seq[t - 1];
    if (rng.next() < STAY) {
      const ring = w.members[c];
      if (ring.length === 1) seq[t] = x;
      else if (rng.next() < SUCCESSOR) seq[t] = ring[(w.ringPos[x] + direction + ring.length) % ring.length];
      else seq[t] = ring[(w.ringPos[x] + 1 + rng.int(ring.length - 1)) % ring.length]; // another item of c
    } else {
      c = draw(pref, rng);
      seq[t] = uniformIn(w.members[c], rng);
    }
  }
  return { id: '', history: seq.slice(0, L), next: seq[L], user, split, kind: 'clean', shifted };
}

function noisySession(cfg: RecSynthConfig, rng: Rng, user: number): RecSample {
  const L = historyLength(cfg.historyLength, rng);
  const seq = new Int32Array(L + 1);
  for (let t = 0; t <= L; t++) seq[t] = rng.int(cfg.items);
  return { id: '', history: seq.slice(0, L), next: seq[L], user, split: 'pool', kind: 'noisy', shifted: false };
}

function nearDuplicate(src: RecSample, w: World, rng: Rng): RecSample {
  const history = src.history.slice();
  const t = rng.int(history.length);
  const ring = w.members[w.itemCluster[history[t]]];
  if (ring.length > 1) history[t] = ring[(w.ringPos[history[t]] + 1 + rng.int(ring.length - 1)) % ring.length];
  return { id: '', history, next: src.next, user: src.user, split: 'pool', kind: 'duplicate', shifted: src.shifted };
}

function historyLength(H: number, rng: Rng): number {
  const lo = Math.ceil(H / 2);
  return lo + rng.int(H - lo + 1);
}

function draw(p: Float64Array, rng: Rng): number {
  let x = rng.next();
  for (let c = 0; c < p.length - 1; c++) {
    x -= p[c];
    if (x < 0) return c;
  }
  return p.length - 1;
}

function uniformIn(items: Int32Array, rng: Rng): number {
  return items[rng.int(items.length)];
}

function normalise(p: Float64Array): void {
  let s = 0;
  for (let c = 0; c < p.length; c++) s += p[c];
  for (let c = 0; c < p.length; c++) p[c] /= s;
}

function checkConfig(cfg: RecSynthConfig): void {
  const int = (field: keyof RecSynthConfig, min: number, max = Infinity) => {
    const v = cfg[field] as number;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new DlabInputError(`rec-synth config: ${field} must be an integer in [${min}, ${max}], found ${v}`);
    }
  };
  const unit = (field: keyof RecSynthConfig) => {
    const v = cfg[field] as number;
    if (!(v >= 0 && v <= 1)) throw new DlabInputError(`rec-synth config: ${field} must be a number in [0, 1], found ${v}`);
  };
  int('items', 2);
  int('clusters', 1, cfg.items);
  int('poolUsers', 1);
  int('valUsers', 1);
  int('testUsers', 0);
  int('historyLength', 1, MAX_HISTORY);
  int('seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  unit('noisyFraction');
  unit('duplicateFraction');
  unit('shift');
  if (cfg.shiftedPoolFraction !== undefined) unit('shiftedPoolFraction');
  if (cfg.noisyFraction + cfg.duplicateFraction > 1) {
    throw new DlabInputError(`rec-synth config: noisyFraction + duplicateFraction must be <= 1, found ${cfg.noisyFraction} + ${cfg.duplicateFraction}`);
  }
}

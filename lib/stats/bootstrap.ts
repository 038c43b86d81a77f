import { auc } from '../data/rec-metrics';
import { DlabInputError } from '../errors';
import { Rng } from '../rng';

/**
 * Percentile-bootstrap intervals, the project's one home for them (comparisons of methods over
 * seeds, AUCs of scores). Every interval is a function of (values, seed, resamples, level) only.
 *
 * Percentile bootstrap of a statistic θ over n units x_1 … x_n:
 *   θ̂    = θ(x_1 … x_n)
 *   for b = 1 … B: draw n units with replacement, x*_b = (x_{k_1} … x_{k_n}),
 *                  k_t = rng.int(n) with rng = new Rng(seed, BOOTSTRAP_STREAM), drawn in order
 *                  t = 1 … n for b = 1, then b = 2, …
 *                  θ*_b = θ(x*_b)
 *   [lo, hi] = [q(α/2), q(1 − α/2)] of θ*_1 … θ*_B,  α = 1 − level
 *   q(p) = the order statistic at 0-based position p·(B − 1) of the sorted θ*, interpolated
 *          linearly between its two neighbours (numpy's default "linear" quantile)
 * The interval says how far θ̂ moves when the same number of units is drawn again from the
 * units at hand; with few units (5–15 seeds) it is narrower than the truth (the bootstrap
 * cannot see spread the sample does not show), so read it as a rough guide, not a test.
 */

export interface BootstrapOptions {
  /** seed of the resampling (lib/rng.ts) */
  seed: number;
  /** B, resamples; default 10 000 */
  resamples?: number;
  /** coverage of the interval; default 0.95 */
  level?: number;
}

export interface Interval {
  /** the statistic on the units at hand */
  mean: number;
  lo: number;
  hi: number;
  /** units the statistic is over */
  n: number;
}

/** The Rng stream of the resampling: one sequence per seed, not shared with any other use. */
export const BOOTSTRAP_STREAM = 7919;
export const DEFAULT_RESAMPLES = 10_000;

/**
 * Mean of `values` with its percentile-bootstrap interval (θ = the mean over units).
 *   values  finite numbers, n ≥ 1 (n = 1 gives lo = hi = mean)
 * Throws DlabInputError for no values, a non-finite value or bad options.
 */
export function meanInterval(values: ArrayLike<number>, opts: BootstrapOptions): Interval {
  const x = Float64Array.from(values as ArrayLike<number>);
  checkValues('meanInterval', x);
  const { B, alpha, rng } = setup('meanInterval', opts);
  const n = x.length;
  const stats = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let t = 0; t < n; t++) s += x[rng.int(n)];
    stats[b] = s / n;
  }
  return { mean: mean(x), ...percentiles(stats, alpha), n };
}

/**
 * Paired difference a − b over units (a[k] and b[k] measured on the same unit k — e.g. the same
 * data seed and fine-tuning seed): d_k = a_k − b_k, mean(d) with the bootstrap interval of
 * meanInterval(d). Resampling pairs, not a and b separately, keeps what the two share (the
 * unit's data and seed) out of the spread of the difference.
 * Throws DlabInputError for arrays of different lengths, no pairs, a non-finite value.
 */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>, opts: BootstrapOptions): Interval {
  if (a.length !== b.length) throw new DlabInputError(`pairedDifference: a has ${a.length} values and b ${b.length}, expected one pair per unit`);
  const d = Float64Array.from({ length: a.length }, (_, k) => a[k] - b[k]);
  return meanInterval(d, opts);
}

/**
 * AUC (Mann–Whitney, ties counting ½: lib/data/rec-metrics.ts `auc`) of `scores` against 0/1
 * `labels`, with a percentile-bootstrap interval over resampling units:
 *   units   optional Int32Array(n): the unit of each row (e.g. the question a sample answers);
 *           a resample draws units with replacement and takes all rows of each drawn unit.
 *           Default: every row its own unit.
 * A resample without a positive or without a negative has no AUC; it is drawn again (at most
 * 100·B draws in all), so the interval is conditional on both classes being present.
 * Returns { mean: AUC on all rows, lo, hi, n: number of units }.
 * Throws DlabInputError for bad scores, labels or units, a single class, or when too many
 * resamples lack a class.
 */
export function aucInterval(scores: ArrayLike<number>, labels: ArrayLike<number>, opts: BootstrapOptions & { units?: ArrayLike<number> }): Interval {
  const s = Float64Array.from(scores as ArrayLike<number>);
  const y = Uint8Array.from(labels as ArrayLike<number>);
  if (y.length !== s.length) throw new DlabInputError(`aucInterval: labels has length ${labels.length}, expected ${s.length} (one per score)`);
  for (let i = 0; i < y.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new DlabInputError(`aucInterval: labels[${i}] is ${labels[i]}, expected 0 or 1`);
  }
  const point = auc(s, y); // checks scores and that both classes are present
  const rowsOf = groupRows(s.length, opts.units);
  const U = rowsOf.length;
  const { B, alpha, rng } = setup('aucInterval', opts);
  const stats = new Float64Array(B);
  const maxDraws = 100 * B;
  let draws = 0;
  for (let b = 0; b < B; ) {
    if (++draws > maxDraws) throw new DlabInputError(`aucInterval: ${maxDraws} resamples drawn and only ${b} had both classes; too few positives or negatives for a bootstrap`);
    const rows: number[] = [];
    let P = 0;
    for (let t = 0; t < U; t++) {
      for (const r of rowsOf[rng.int(U)]) {
        rows.push(r);
        P += y[r];
      }
    }
    if (P === 0 || P === rows.length) continue;
    stats[b++] = auc(Float64Array.from(rows, (r) => s[r]), Uint8Array.from(rows, (r) => y[r]));
  }
  return { mean: point, ...percentiles(stats, alpha), n: U };
}

/** Rows of each unit, units in order of first appearance. */
function groupRows(n: number, units: ArrayLike<number> | undefined): number[][] {
  if (units === undefined) return Array.from({ length: n }, (_, i) => [i]);
  if (units.length !== n) throw new DlabInputError(`aucInterval: units has length ${units.length}, expected ${n} (one per score)`);
  const at = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const u = units[i];
    if (!Number.isInteger(u)) throw new DlabInputError(`aucInterval: units[${i}] is ${u}, expected an integer unit id`);
    let rows = at.get(u);
    if (!rows) at.set(u, (rows = []));
    rows.push(i);
  }
  return [...at.values()];
}

function setup(fn: string, opts: BootstrapOptions): { B: number; alpha: number; rng: Rng } {
  const B = opts.resamples ?? DEFAULT_RESAMPLES;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(opts.seed)) throw new DlabInputError(`${fn}: seed must be an integer, found ${opts.seed}`);
  if (!Number.isInteger(B) || B < 1) throw new DlabInputError(`${fn}: resamples must be an integer >= 1, found ${B}`);
  if (!(level > 0 && level < 1)) throw new DlabInputError(`${fn}: level must be in (0, 1), found ${level}`);
  return { B, alpha: 1 - level, rng: new Rng(opts.seed, BOOTSTRAP_STREAM) };
}

function checkValues(fn: string, x: Float64Array): void {
  if (x.length === 0) throw new DlabInputError(`${fn}: no values`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new DlabInputError(`${fn}: value ${i} is ${x[i]}, expected a finite number`);
}

function mean(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** [q(α/2), q(1 − α/2)] of `stats` (sorted in place), q as in the header. */
function percentiles(stats: Float64Array, alpha: number): { lo: number; hi: number } {
  stats.sort();
  return { lo: quantile(stats, alpha / 2), hi: quantile(stats, 1 - alpha / 2) };
}

/** Linear-interpolated quantile of sorted values at 0-based position p·(B − 1). */
export function quantile(sorted: Float64Array, p: number): number {
  const pos = p * (sorted.length - 1);
  const k = Math.floor(pos);
  const frac = pos - k;
  return k + 1 < sorted.length ? sorted[k] + frac * (sorted[k + 1] - sorted[k]) : sorted[k];
}

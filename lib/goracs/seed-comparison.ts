import { BootstrapOptions, Interval, meanInterval, pairedDifference } from '../stats/bootstrap';

/**
 * GORACS against its baselines over several data seeds and fine-tuning seeds (what
 * scripts/goracs-compare.ts measures), as paired statistics.
 *
 * A unit is one (data seed d, fine-tuning seed s): every arm (a method, or GORACS with one
 * dual-score rank) is evaluated on the same data (d) with the same fine-tuning seed (s), so
 * arms are compared unit by unit:
 *   arm mean      m_A = (1/U) Σ_u x_A(u)                   with meanInterval over the U units
 *   difference    Δ_AB = (1/U) Σ_u (x_A(u) − x_B(u))      with pairedDifference over the U units
 *   per data seed Δ_AB(d) = mean over s of x_A(d, s) − x_B(d, s)
 *   over data seeds     mean over d of Δ_AB(d), with meanInterval over the D data seeds
 * The unit-level interval resamples units as if independent; units that share a data seed
 * share its data and coreset, so it is too narrow when the data seed matters. The data-seed
 * level interval resamples whole data seeds (a cluster bootstrap with the fine-tuning seeds
 * averaged inside each cluster) and is the one to read for "does this hold on other data".
 */

export interface UnitScore {
  arm: string;
  dataSeed: number;
  fineTuneSeed: number;
  /** metric name → value, e.g. hr10, ndcg10 */
  values: Record<string, number>;
}

export interface ArmSummary extends Interval {
  arm: string;
  metric: string;
}

export interface DifferenceSummary extends Interval {
  a: string;
  b: string;
  metric: string;
  /** Δ per data seed, in ascending data seed */
  perDataSeed: { dataSeed: number; mean: number }[];
  /** mean over data seeds of Δ(d) with the bootstrap interval over data seeds */
  overDataSeeds: Interval;
}

/**
 * Arm means and paired differences for `metrics`, over the units every compared arm has.
 *   scores       one entry per (arm, data seed, fine-tuning seed); a repeat is refused
 *   arms         arms to summarise, in order
 *   differences  [a, b] pairs: Δ = a − b
 * Throws Error when an arm has no units or a pair shares none.
 */
export function seedComparison(
  scores: UnitScore[],
  arms: string[],
  differences: [string, string][],
  metrics: string[],
  opts: BootstrapOptions,
): { arms: ArmSummary[]; differences: DifferenceSummary[] } {
  const byArm = new Map<string, Map<string, UnitScore>>();
  for (const s of scores) {
    const m = byArm.get(s.arm) ?? new Map<string, UnitScore>();
    byArm.set(s.arm, m);
    const key = unitKey(s);
    if (m.has(key)) throw new Error(`seedComparison: arm ${s.arm} has unit ${key} twice`);
    m.set(key, s);
  }
  const unitsOf = (arm: string) => {
    const m = byArm.get(arm);
    if (!m || m.size === 0) throw new Error(`seedComparison: arm ${arm} has no units`);
    return m;
  };
  const armRows: ArmSummary[] = [];
  for (const arm of arms) {
    const units = [...unitsOf(arm).values()].sort(byUnit);
    for (const metric of metrics) armRows.push({ arm, metric, ...meanInterval(units.map((u) => u.values[metric]), opts) });
  }
  const diffRows: DifferenceSummary[] = [];
  for (const [a, b] of differences) {
    const ua = unitsOf(a);
    const ub = unitsOf(b);
    const shared = [...ua.keys()].filter((k) => ub.has(k)).sort((x, y) => byUnit(ua.get(x)!, ua.get(y)!));
    if (shared.length === 0) throw new Error(`seedComparison: arms ${a} and ${b} share no unit`);
    const dataSeeds = [...new Set(shared.map((k) => ua.get(k)!.dataSeed))].sort((x, y) => x - y);
    for (const metric of metrics) {
      const xa = shared.map((k) => ua.get(k)!.values[metric]);
      const xb = shared.map((k) => ub.get(k)!.values[metric]);
      const perDataSeed = dataSeeds.map((d) => {
        const ks = shared.filter((k) => ua.get(k)!.dataSeed === d);
        return { dataSeed: d, mean: ks.reduce((s, k) => s + ua.get(k)!.values[metric] - ub.get(k)!.values[metric], 0) / ks.length };
      });
      const overDataSeeds = meanInterval(
        perDataSeed.map((p) => p.mean),
        opts,
      );
      diffRows.push({ a, b, metric, ...pairedDifference(xa, xb, opts), perDataSeed, overDataSeeds });
    }
  }
  return { arms: armRows, differences: diffRows };
}

function unitKey(s: UnitScore): string {
  return `d${s.dataSeed}.s${s.fineTuneSeed}`;
}

function byUnit(x: UnitScore, y: UnitScore): number {
  return x.dataSeed - y.dataSeed || x.fineTuneSeed - y.fineTuneSeed;
}

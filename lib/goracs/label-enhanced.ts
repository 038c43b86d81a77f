import { DlabInputError } from '../errors';
import { checkCost } from './cost';
import { greedyStart } from './greedy';
import { refine, RefineConfig, RefineState, RefineTraceEntry } from './refine';

/**
 * Label-enhanced GORACS for binary labels [reference: `LabelEnhancedITRA`]: greedy start +
 * refinement run separately on the positive and the negative pool rows, each against the
 * validation columns of the same label, with the budget split by the validation positive rate:
 *
 *   n₊ = round_half_even(n · |V₊| / |V|),   n₋ = n − n₊
 *
 * The product is formed in integers, so the rounding is exact; half-to-even is Python's
 * `round`, which the reference applied (to a float32 mean). Each class works on the
 * submatrix C[T_c, V_c] of the global cost. The reference rebuilt a class cost by min-max
 * over the class submatrix (of unnormalised distances); a positive affine map of C changes
 * neither the greedy picks nor POO comparisons nor F rankings (up to rounding), so the only
 * difference left is d normalised by the global maximum distance, as in the non-label
 * variant.
 */
export interface LabelClassPlan {
  label: 0 | 1;
  /** pool rows with this label, ascending */
  poolRows: Int32Array;
  /** validation columns with this label, ascending */
  valCols: Int32Array;
  /** n₊ or n₋ */
  budget: number;
}

/**
 * The per-class plan [positive, negative] for a budget n.
 *   poolLabels Uint8Array(nT), valLabels Uint8Array(nV), each entry 0 or 1.
 * Throws DlabInputError for labels other than 0/1, an empty validation set, n not in
 * [1, nT], or a class budget larger than that class's pool rows or validation rows.
 */
export function labelPlan(poolLabels: Uint8Array, valLabels: Uint8Array, n: number): [LabelClassPlan, LabelClassPlan] {
  if (valLabels.length === 0) throw new DlabInputError('labelPlan: valLabels is empty, expected a non-empty validation set');
  if (!Number.isInteger(n) || n < 1 || n > poolLabels.length) {
    throw new DlabInputError(`labelPlan: budget n must be an integer in [1, ${poolLabels.length}] (the pool size), found ${n}`);
  }
  const pool = splitByLabel('poolLabels', poolLabels);
  const val = splitByLabel('valLabels', valLabels);
  const nPos = roundHalfEven(n * val[1].length, valLabels.length);
  const plans: [LabelClassPlan, LabelClassPlan] = [
    { label: 1, poolRows: pool[1], valCols: val[1], budget: nPos },
    { label: 0, poolRows: pool[0], valCols: val[0], budget: n - nPos },
  ];
  for (const p of plans) {
    const name = p.label === 1 ? 'positive' : 'negative';
    if (p.budget > p.poolRows.length) {
      throw new DlabInputError(`labelPlan: ${name} budget ${p.budget} exceeds the ${p.poolRows.length} ${name} pool rows`);
    }
    if (p.budget > p.valCols.length) {
      throw new DlabInputError(`labelPlan: ${name} budget ${p.budget} exceeds the ${p.valCols.length} ${name} validation rows (facility-location weights need budget <= |V|)`);
    }
  }
  return plans;
}

/** C[rows, cols] as a new row-major Float64Array(|rows|·|cols|). */
export function classCost(cost: Float64Array, nV: number, rows: Int32Array, cols: Int32Array): Float64Array {
  const out = new Float64Array(rows.length * cols.length);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * nV;
    const o = r * cols.length;
    for (let c = 0; c < cols.length; c++) out[o + c] = cost[base + cols[c]];
  }
  return out;
}

/** Resume state: one refinement state per class, absent until that class's refinement starts. */
export interface LabelEnhancedState {
  positive?: RefineState;
  negative?: RefineState;
}

export interface LabelEnhancedResult {
  /** selected pool rows: the positives' selection, then the negatives', each in refine order */
  selected: Int32Array;
  state: LabelEnhancedState;
}

/**
 * Runs the two classes in turn (positives first). A class with budget 0 is skipped.
 *   cost Float64Array(nT·nV) global C; poolLabels Uint8Array(nT); valLabels Uint8Array(nV)
 *   n budget; cfg refinement config for both classes
 *   hooks.resume/onProgress carry a LabelEnhancedState; a resumed class replays its
 *   accepted swaps from its greedy start.
 */
export async function labelEnhancedSelect(
  cost: Float64Array,
  nT: number,
  nV: number,
  poolLabels: Uint8Array,
  valLabels: Uint8Array,
  n: number,
  cfg: RefineConfig,
  hooks: { resume?: LabelEnhancedState; onProgress?: (s: LabelEnhancedState) => void | Promise<void>; signal?: AbortSignal } = {},
): Promise<LabelEnhancedResult> {
  checkCost('labelEnhancedSelect', cost, nT, nV);
  if (poolLabels.length !== nT) throw new DlabInputError(`labelEnhancedSelect: poolLabels has length ${poolLabels.length}, expected nT = ${nT}`);
  if (valLabels.length !== nV) throw new DlabInputError(`labelEnhancedSelect: valLabels has length ${valLabels.length}, expected nV = ${nV}`);
  const state: LabelEnhancedState = { ...hooks.resume };
  const picked: number[] = [];
  for (const plan of labelPlan(poolLabels, valLabels, n)) {
    if (plan.budget === 0) continue;
    const key = plan.label === 1 ? 'positive' : 'negative';
    const nTc = plan.poolRows.length;
    const nVc = plan.valCols.length;
    const sub = classCost(cost, nV, plan.poolRows, plan.valCols);
    const resume = state[key];
    // the greedy start also on resume: refine rebuilds its warm-started solves from it
    const initial = greedyStart(sub, nTc, nVc, plan.budget).rows;
    const final = await refine(sub, nTc, nVc, initial, cfg, {
      resume,
      signal: hooks.signal,
      onProgress: async (s) => {
        state[key] = s;
        await hooks.onProgress?.({ ...state });
      },
    });
    state[key] = final;
    for (const r of final.selected) picked.push(plan.poolRows[r]);
  }
  return { selected: Int32Array.from(picked), state };
}

/** Accepted swaps of both classes so far. */
export function labelSwapsAccepted(s: LabelEnhancedState): number {
  return (s.positive?.iter ?? 0) + (s.negative?.iter ?? 0);
}

/**
 * The refinement of both classes in pool rows, for the run's artifacts: one trace (the
 * positives' entries, then the negatives', swaps as pool rows; −1 stays −1) and, for each
 * selected row in the order of `labelEnhancedSelect`'s `selected`, the iteration of its class's
 * refinement at which it entered (0 = greedy start).
 */
export function labelEnhancedTrace(poolLabels: Uint8Array, valLabels: Uint8Array, n: number, state: LabelEnhancedState): { trace: RefineTraceEntry[]; enteredAt: Int32Array } {
  const trace: RefineTraceEntry[] = [];
  const enteredAt: number[] = [];
  for (const plan of labelPlan(poolLabels, valLabels, n)) {
    const st = plan.label === 1 ? state.positive : state.negative;
    if (!st) continue;
    const row = (r: number) => (r >= 0 ? plan.poolRows[r] : r);
    const mapped = st.trace.map((e) => ({ ...e, swapOut: row(e.swapOut), swapIn: row(e.swapIn) }));
    trace.push(...mapped);
    const at = new Map<number, number>();
    for (const e of mapped) if (e.swapIn >= 0) at.set(e.swapIn, e.iter);
    for (const r of st.selected) enteredAt.push(at.get(row(r)) ?? 0);
  }
  return { trace, enteredAt: Int32Array.from(enteredAt) };
}

/**
 * The labels the label-enhanced variant needs: 0 or 1 on every pool and validation sample.
 * `labels[i]` is sample i's label (undefined or another value: none); `name(i)` names it in
 * the error (e.g. its id and file).
 */
export function requireBinaryLabels(labels: ArrayLike<number | undefined | null>, name: (i: number) => string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new DlabInputError(`variant "label-enhanced" needs a label 0 or 1 on every pool and validation sample; ${name(i)} has none`, 'variant');
    }
  }
}

function splitByLabel(name: string, labels: Uint8Array): [Int32Array, Int32Array] {
  const idx: [number[], number[]] = [[], []];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new DlabInputError(`labelPlan: ${name}[${i}] is ${l}, expected 0 or 1`);
    idx[l].push(i);
  }
  return [Int32Array.from(idx[0]), Int32Array.from(idx[1])];
}

/** round(num / den) with ties to even, for integers num ≥ 0, den ≥ 1. */
export function roundHalfEven(num: number, den: number): number {
  const q = Math.floor(num / den);
  const r = num - q * den;
  if (2 * r > den) return q + 1;
  if (2 * r === den) return q % 2 === 0 ? q : q + 1;
  return q;
}

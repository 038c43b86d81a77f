import { Table } from 'apache-arrow';
import { DlabInputError } from '../errors';
import { readNumbers, tableFromColumns } from '../store/columns';
import { CostMatrix, costMatrix, gradientCost } from './cost';
import type { Embeddings } from './embedding';
import { poo } from './poo';
import type { RefineTraceEntry } from './refine';
import { DualScoreRank, dualScores } from './scores';

/**
 * From the embeddings artifact to the GORACS problem and back to artifacts: the pool ×
 * validation cost matrix, the coreset table (w, F of each selected row) and the POO trace.
 */
export interface GoracsProblem {
  cm: CostMatrix;
  nT: number;
  nV: number;
  /** per pool row: sample index (row of goracs.samples), id, gradient norm */
  poolIndex: Int32Array;
  poolIds: string[];
  poolG: Float64Array;
  /** binary labels (−1 where a sample has none), per pool row and per validation row — for the label-enhanced variant */
  poolLabel: Int32Array;
  valLabel: Int32Array;
}

/**
 * C between the pool rows (split "pool") and the validation rows (split "validation") of
 * `emb`, in embedding order: `reference` uses e, `gradient` the projected gradients pg.
 * Throws DlabInputError when a split is empty or `gradient` has no pg column.
 */
export function goracsProblem(emb: Embeddings, kind: 'reference' | 'gradient', lambda: number): GoracsProblem {
  const pool: number[] = [];
  const val: number[] = [];
  emb.split.forEach((s, r) => (s === 'pool' ? pool.push(r) : s === 'validation' ? val.push(r) : undefined));
  if (!pool.length || !val.length) throw new DlabInputError(`GORACS: the embeddings hold ${pool.length} pool and ${val.length} validation rows, expected both non-empty`);
  const [x, w] = kind === 'gradient' ? [emb.pg, emb.k] : [emb.e, emb.d];
  if (!x || !w) throw new DlabInputError('GORACS: cost "gradient" needs projected gradients (config field "projection"), the embeddings have none', 'projection');
  const gather = (rows: number[]) => {
    const out = new Float32Array(rows.length * w);
    rows.forEach((r, k) => out.set(x.subarray(r * w, (r + 1) * w), k * w));
    return out;
  };
  const poolG = Float64Array.from(pool, (r) => emb.g[r]);
  const cm = (kind === 'gradient' ? gradientCost : costMatrix)(gather(pool), gather(val), w, poolG, lambda);
  return {
    cm,
    nT: pool.length,
    nV: val.length,
    poolIndex: Int32Array.from(pool, (r) => emb.index[r]),
    poolIds: pool.map((r) => emb.id[r]),
    poolG,
    poolLabel: Int32Array.from(pool, (r) => emb.label[r]),
    valLabel: Int32Array.from(val, (r) => emb.label[r]),
  };
}

/**
 * The coreset artifact's columns for a selection S (pool rows, in order):
 *   w_k = |{j : k = first argmin_{k' ∈ S} C_k'j}| / |V|   (ties → earlier in S)
 *   F_k = dualScores(C, S, u, dualScore)_k with u the row duals of POO(S)
 * Also returns POO(S).
 */
export function coresetTable(p: GoracsProblem, S: Int32Array, enteredAt: Int32Array, dualScore: DualScoreRank = 'rth-largest'): { table: Table; poo: number } {
  const { cm, nT, nV } = p;
  const C = cm.cost;
  const solved = poo(C, nT, nV, S);
  const F = dualScores(C, nT, nV, S, solved.u, dualScore);
  const count = new Float64Array(S.length);
  for (let j = 0; j < nV; j++) {
    let best = 0;
    for (let k = 1; k < S.length; k++) if (C[S[k] * nV + j] < C[S[best] * nV + j]) best = k;
    count[best] += 1;
  }
  const table = tableFromColumns({
    index: Int32Array.from(S),
    id: Array.from(S, (r) => p.poolIds[r]),
    w: Float64Array.from(count, (c) => c / nV),
    F: Float64Array.from(S, (r) => F[r]),
    selected_at_iter: enteredAt,
  });
  return { table, poo: solved.value };
}

/** Pool rows of a coreset artifact, in order. */
export function readCoresetRows(t: Table): Int32Array {
  return Int32Array.from(readNumbers(t, 'index'));
}

/** Iteration at which each row of the final S entered it (0 = in the initial set). */
export function enteredAtIter(finalS: number[], trace: RefineTraceEntry[]): Int32Array {
  const at = new Map<number, number>();
  for (const e of trace) if (e.swapIn >= 0) at.set(e.swapIn, e.iter);
  return Int32Array.from(finalS, (r) => at.get(r) ?? 0);
}

/**
 * The refinement's two artifacts: the POO trace and the coreset of the final selection, each
 * row with the iteration it entered (by default read off the trace).
 */
export function refinementTables(
  p: GoracsProblem,
  selected: ArrayLike<number>,
  trace: RefineTraceEntry[],
  enteredAt?: Int32Array,
  dualScore: DualScoreRank = 'rth-largest',
): { trace: Table; coreset: Table; poo: number } {
  const S = Int32Array.from(selected);
  const { table, poo } = coresetTable(p, S, enteredAt ?? enteredAtIter(Array.from(S), trace), dualScore);
  return { trace: traceTable(trace), coreset: table, poo };
}

export function traceTable(trace: RefineTraceEntry[]): Table {
  return tableFromColumns({
    iter: Int32Array.from(trace, (e) => e.iter),
    poo: Float64Array.from(trace, (e) => e.poo),
    swap_out: Int32Array.from(trace, (e) => e.swapOut),
    swap_in: Int32Array.from(trace, (e) => e.swapIn),
    solver_iters: Int32Array.from(trace, (e) => e.solverIterations),
    candidates_tried: Int32Array.from(trace, (e) => e.candidatesTried),
  });
}

export function costSummaryTable(p: GoracsProblem, kind: string, lambda: number): Table {
  const s = p.cm.scale;
  return tableFromColumns({
    cost: [kind],
    lambda: Float64Array.of(lambda),
    max_dist: Float64Array.of(s.maxDist),
    max_grad: Float64Array.of(s.maxGrad),
    min: Float64Array.of(s.min),
    max: Float64Array.of(s.max),
    n_pool: Int32Array.of(p.nT),
    n_val: Int32Array.of(p.nV),
  });
}

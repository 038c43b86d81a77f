import { DlabInputError } from '../errors';
import { checkCost } from './cost';
import { checkRows, gatherRows, PooResult, solveGathered } from './poo';
import { dualScoresKernel } from './scores';
import { PooChain } from './swap-chain';

/** GORACS stage 3, refinement: the swap loop `refine`, its resumable state, and the swap evaluators. */

export interface RefineConfig {
  maxIters: number;
  cutNum: number;
}

export interface RefineTraceEntry {
  iter: number;
  poo: number;
  swapOut: number;
  swapIn: number;
  solverIterations: number;
  candidatesTried: number;
}

export interface RefineState {
  /** accepted swaps so far */
  iter: number;
  /** current S, pool row indices */
  selected: number[];
  /** POO(selected) */
  poo: number;
  trace: RefineTraceEntry[];
  done: boolean;
  reason?: 'max_iters' | 'no_improving_swap';
}

export interface Swap {
  out: number;
  in: number;
}

/**
 * Evaluates candidate swaps of `selected` (given in the order of the sequential rule) and
 * returns the index of the first swap whose exact POO is an improvement over currentPoo
 * (isImprovement), or −1. `selected` is the current S (a copy the evaluator may keep).
 */
export type SwapEvaluator = (swaps: Swap[], currentPoo: number, selected: Int32Array) => Promise<number>;

export interface RefineHooks {
  resume?: RefineState;
  onProgress?: (state: RefineState) => void | Promise<void>;
  signal?: AbortSignal;
  evaluate?: SwapEvaluator;
  /** counters refine adds to (exact solves, swaps ruled out by the bound, simplex pivots) */
  stats?: RefineStats;
}

export interface RefineStats {
  solves: number;
  pruned: number;
  pivots: number;
}

/** Relative improvement a swap must make to be accepted. */
export const IMPROVEMENT_RELATIVE_TOLERANCE = 1e-12;

/** newPoo < currentPoo − 1e-12·|currentPoo|: the acceptance rule of every evaluator. */
export function isImprovement(newPoo: number, currentPoo: number): boolean {
  return newPoo < currentPoo - IMPROVEMENT_RELATIVE_TOLERANCE * Math.abs(currentPoo);
}

/**
 * GORACS stage 3, refinement by swaps [reference: `ITRA.refine` with `pruning`], as a
 * resumable loop (the pattern of lib/batches.ts: resume state in, onProgress(state) out).
 *
 * One iteration, with S the current selection (|S| fixed):
 *   1. solve POO(S) exactly, with row duals u (warm-started from the previous S's
 *      optimal basis: swap-chain.ts; the initial S from scratch)
 *   2. F = dualScores(C, S, u)                                         (scores.ts)
 *   3. outs = the cutNum selected rows with the highest F, in descending F;
 *      ins  = the cutNum unselected rows with the lowest F, in ascending F;
 *      ties → lower pool row first
 *   4. swaps in out-major order: (outs[0], ins[0]), (outs[0], ins[1]), …, (outs[1], ins[0]), …
 *      S − out + in keeps the position of `out` (in takes its place in `selected`)
 *   5. accept the FIRST swap with POO(S − out + in) < POO(S) − 1e-12·|POO(S)|
 *      (isImprovement); none → stop with reason 'no_improving_swap'
 * Stops after cfg.maxIters accepted swaps (reason 'max_iters').
 *
 * Arguments
 *   cost     Float64Array(nT·nV), row-major C
 *   initial  Int32Array, distinct pool rows (e.g. greedyStart().rows); also on resume: the
 *            accepted swaps of resume.trace are replayed from it (one warm solve each), so
 *            the resumed solves, duals and choices are bit-identical to an uninterrupted run
 *   cfg      maxIters ≥ 0 accepted swaps, cutNum ≥ 1 candidates per side
 *   hooks.resume      the last state reported by a previous attempt (JSON round trip is fine)
 *   hooks.onProgress  called with a copy of the state after every accepted swap and once
 *                     when the loop finishes (done = true)
 *   hooks.signal      checked before each iteration and between swaps of the default evaluator
 *   hooks.evaluate    how candidate swaps are evaluated (default: in order in-process, swaps
 *                     ruled out by a dual lower bound skipped, the others solved warm-started);
 *                     any evaluator must return the index the sequential rule returns —
 *                     see chunkedEvaluator for a parallel one that does
 *   hooks.stats       counters to add to: exact solves, swaps ruled out, pivots
 * Returns the final state. state.trace[0] is the starting point (iter 0, swapOut = swapIn
 * = −1, POO of `initial`), then one entry per accepted swap: candidatesTried is the
 * 1-based position of the accepted swap in the order of step 4 (what the sequential rule
 * evaluates), solverIterations the pivots of the exact solve of the new S.
 * The run is deterministic: the same (cost, initial, cfg) gives the same states, whatever
 * the evaluator, and a resumed run ends in the state of an uninterrupted one.
 * Throws DlabInputError for a bad cost, initial set, config or resume state; Error when an
 * exact solve does not reach 'optimal' or an evaluator returns an index that is not an
 * improving swap.
 */
export async function refine(
  cost: Float64Array,
  nT: number,
  nV: number,
  initial: Int32Array,
  cfg: RefineConfig,
  hooks: RefineHooks = {},
): Promise<RefineState> {
  checkCost('refine', cost, nT, nV);
  checkConfig(cfg);
  checkRows('refine', 'initial', initial, nT);
  const { signal } = hooks;
  const stats = hooks.stats ?? { solves: 0, pruned: 0, pivots: 0 };
  const chain = new PooChain(cost, nV, initial);
  stats.solves++;
  stats.pivots += chain.iterations;

  let state: RefineState;
  if (hooks.resume) {
    state = checkResume(hooks.resume, nT);
    // rebuild the chain of warm-started solves the interrupted attempt held
    for (const t of state.trace.slice(1, state.iter + 1)) {
      signal?.throwIfAborted();
      const pos = chain.selected.indexOf(t.swapOut);
      if (pos < 0 || chain.selected.includes(t.swapIn)) {
        throw new DlabInputError(`refine: resume.trace[${t.iter}] swaps ${t.swapOut} → ${t.swapIn}, which does not apply to the selection replayed from initial`);
      }
      chain.accept(pos, t.swapIn);
      stats.solves++;
      stats.pivots += chain.iterations;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!chain.selected.every((r, k) => r === state.selected[k])) {
      throw new DlabInputError(`refine: resume state (iter ${state.iter}) lists a selection that does not follow from initial and its trace`);
    }
    // A heartbeat written by an earlier solver (cold solves, before the warm-started chain) can
    // differ from the replay in the last bits: the replayed chain's POO is the one the comparisons
    // of the rest of the run must use, so adopt it rather than fail a run mid-way.
    if (chain.value !== state.poo) state = { ...state, poo: chain.value };
  } else {
    state = {
      iter: 0,
      selected: Array.from(initial),
      poo: chain.value,
      trace: [{ iter: 0, poo: chain.value, swapOut: -1, swapIn: -1, solverIterations: chain.iterations, candidatesTried: 0 }],
      done: false,
    };
  }
  const tried: TriedSwap = {};
  const evaluate = hooks.evaluate ?? warmEvaluator(chain, nT, signal, stats, tried);

  const finish = async (reason: 'max_iters' | 'no_improving_swap') => {
    state.done = true;
    state.reason = reason;
    await hooks.onProgress?.(snapshot(state));
  };

  while (!state.done) {
    signal?.throwIfAborted();
    if (state.iter >= cfg.maxIters) {
      await finish('max_iters');
      break;
    }
    const S = chain.selected.slice();
    const F = dualScoresKernel(cost, nT, nV, S, chain.result().u);
    const swaps = candidateSwaps(F, S, nT, cfg.cutNum);
    const idx = swaps.length === 0 ? -1 : await evaluate(swaps, state.poo, S.slice());
    if (!(Number.isInteger(idx) && idx >= -1 && idx < swaps.length)) {
      throw new Error(`refine: the swap evaluator returned ${idx}, expected an integer in [-1, ${swaps.length})`);
    }
    if (idx < 0) {
      await finish('no_improving_swap');
      break;
    }
    const swap = swaps[idx];
    const pos = S.indexOf(swap.out);
    if (tried.swap === swap && tried.result) {
      chain.accept(pos, swap.in, tried.result);
    } else {
      chain.accept(pos, swap.in);
      stats.solves++;
      stats.pivots += chain.iterations;
    }
    if (!isImprovement(chain.value, state.poo)) {
      throw new Error(
        `refine: the swap evaluator chose swap ${idx} (${swap.out} → ${swap.in}) as improving, but its exact POO ` +
          `${chain.value} does not improve on ${state.poo}`,
      );
    }
    state.iter += 1;
    state.selected = Array.from(chain.selected);
    state.poo = chain.value;
    state.trace.push({
      iter: state.iter,
      poo: chain.value,
      swapOut: swap.out,
      swapIn: swap.in,
      solverIterations: chain.iterations,
      candidatesTried: idx + 1,
    });
    await hooks.onProgress?.(snapshot(state));
  }
  return state;
}

/**
 * POO of each swap of `selected`: out[t] = POO(selected with swaps[t].out replaced by
 * swaps[t].in at its position). For the activity that evaluates one chunk of a
 * chunkedEvaluator.
 *   cost Float64Array(nT·nV); selected Int32Array(|S|) distinct rows; swaps[t].out ∈ S,
 *   swaps[t].in ∉ S. Returns Float64Array(swaps.length).
 * Throws DlabInputError for bad arguments (naming the swap), Error if a solve is not optimal.
 */
export function evaluateSwaps(cost: Float64Array, nT: number, nV: number, selected: Int32Array, swaps: Swap[]): Float64Array {
  checkCost('evaluateSwaps', cost, nT, nV);
  checkRows('evaluateSwaps', 'selected', selected, nT);
  const position = checkSwaps(swaps, selected, nT);
  const out = new Float64Array(swaps.length);
  const sub = gatherRows(cost, nV, selected);
  for (let t = 0; t < swaps.length; t++) out[t] = swapPoo(sub, cost, selected.length, nV, position[t], swaps[t].in).value;
  return out;
}

/**
 * A SwapEvaluator that hands consecutive chunks of `chunkSize` swaps to `evalChunk`
 * (each chunk can go to a different worker, e.g. an activity calling evaluateSwaps) and
 * returns the smallest improving index — exactly the swap the sequential rule accepts.
 * Up to `concurrency` chunks are in flight; chunk results are examined in chunk order
 * whatever order they complete in; once a chunk with an improvement is examined (all
 * earlier chunks having none), no further chunks are started. Chunks already running
 * then finish unobserved (their results and errors are ignored).
 *   evalChunk(swaps, currentPoo, selected) → Float64Array(swaps.length) of exact POOs
 */
export function chunkedEvaluator(
  evalChunk: (swaps: Swap[], currentPoo: number, selected: Int32Array) => Promise<Float64Array>,
  chunkSize: number,
  concurrency = 1,
): SwapEvaluator {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new DlabInputError(`chunkedEvaluator: chunkSize must be an integer >= 1, found ${chunkSize}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new DlabInputError(`chunkedEvaluator: concurrency must be an integer >= 1, found ${concurrency}`);
  }
  return async (swaps, currentPoo, selected) => {
    const nChunks = Math.ceil(swaps.length / chunkSize);
    const results: (Float64Array | undefined)[] = new Array(nChunks);
    const inFlight = new Map<number, Promise<number>>();
    let launched = 0;
    let examined = 0;
    while (examined < nChunks) {
      while (launched < nChunks && inFlight.size < concurrency) {
        const c = launched++;
        const chunk = swaps.slice(c * chunkSize, Math.min(swaps.length, (c + 1) * chunkSize));
        const p = evalChunk(chunk, currentPoo, selected).then((r) => {
          if (r.length !== chunk.length) {
            throw new Error(`chunkedEvaluator: chunk ${c} returned ${r.length} values, expected ${chunk.length}`);
          }
          results[c] = r;
          return c;
        });
        p.catch(() => undefined); // a chunk that fails after we returned must not be an unhandled rejection
        inFlight.set(c, p);
      }
      inFlight.delete(await Promise.race(inFlight.values()));
      for (let r = results[examined]; r !== undefined; r = results[examined]) {
        for (let t = 0; t < r.length; t++) if (isImprovement(r[t], currentPoo)) return examined * chunkSize + t;
        examined++;
      }
    }
    return -1;
  };
}

/** The last swap the warm evaluator solved and found improving (refine accepts it without solving again). */
interface TriedSwap {
  swap?: Swap;
  result?: TrySwapResult;
}

type TrySwapResult = ReturnType<PooChain['trySwap']>;

/** The default evaluator: firstImprovingSwap over all swaps, in-process. */
function warmEvaluator(chain: PooChain, nT: number, signal: AbortSignal | undefined, stats: RefineStats, tried: TriedSwap): SwapEvaluator {
  return async (swaps, currentPoo, selected) => {
    tried.swap = undefined;
    tried.result = undefined;
    const position = checkSwaps(swaps, selected, nT);
    const found = await firstImprovingSwap(chain, swaps, position, 0, swaps.length, currentPoo, stats, signal);
    if (found.index >= 0) {
      tried.swap = swaps[found.index];
      tried.result = found.result;
    }
    return found.index;
  };
}

/**
 * The sequential rule on swaps[lo, hi) of the chain's current S: the smallest t whose exact
 * POO improves on currentPoo (isImprovement), with its warm-started solve, or index −1.
 * A swap whose dual lower bound (PooChain.lowerBound) already fails the acceptance rule by
 * a margin of 1e-11·max(1, |POO|) — far above the rounding of the bound and of a solve —
 * cannot be accepted and is skipped; every other swap is solved exactly, warm-started from
 * the basis of S. So the index is the one an exact solve of every swap in order would give,
 * and a range's verdict does not depend on how the swaps are split into ranges.
 *   position[t] = index in S of swaps[t].out
 */
export async function firstImprovingSwap(
  chain: PooChain,
  swaps: Swap[],
  position: Int32Array,
  lo: number,
  hi: number,
  currentPoo: number,
  stats: RefineStats,
  signal?: AbortSignal,
): Promise<{ index: number; result?: TrySwapResult }> {
  const bound = chain.lowerBound();
  const threshold = currentPoo - IMPROVEMENT_RELATIVE_TOLERANCE * Math.abs(currentPoo);
  const margin = 1e-11 * Math.max(1, Math.abs(currentPoo));
  for (let t = lo; t < hi; t++) {
    if (bound(position[t], swaps[t].in) >= threshold + margin) {
      stats.pruned++;
      continue;
    }
    // each exact solve is synchronous (≈ 0.1–0.5 s at 1000 × 5000): yield between them so
    // heartbeats, cancellation and time limits get through during a long iteration
    await new Promise((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    const r = chain.trySwap(position[t], swaps[t].in);
    stats.solves++;
    stats.pivots += r.iterations;
    if (isImprovement(r.value, currentPoo)) return { index: t, result: r };
  }
  return { index: -1 };
}

/** Exact POO with row `pos` of the gathered submatrix replaced by pool row `inRow`; restores `sub`. */
function swapPoo(sub: Float64Array, cost: Float64Array, nS: number, nV: number, pos: number, inRow: number): PooResult {
  const saved = sub.slice(pos * nV, pos * nV + nV);
  sub.set(cost.subarray(inRow * nV, inRow * nV + nV), pos * nV);
  try {
    const r = solveGathered(sub, nS, nV);
    if (r.status !== 'optimal') {
      throw new Error(`POO with pool row ${inRow} at position ${pos}: exact solve ended with status '${r.status}' after ${r.iterations} pivots`);
    }
    return r;
  } finally {
    sub.set(saved, pos * nV);
  }
}

/** Candidate swaps in out-major order (step 3–4 of the loop). */
export function candidateSwaps(F: Float64Array, S: Int32Array, nT: number, cutNum: number): Swap[] {
  const inS = new Uint8Array(nT);
  for (let k = 0; k < S.length; k++) inS[S[k]] = 1;
  // highest F first, ties → lower index
  const outs = bestRows(F, nT, cutNum, (i) => inS[i] === 1, (a, b) => F[a] > F[b] || (F[a] === F[b] && a < b));
  // lowest F first, ties → lower index
  const ins = bestRows(F, nT, cutNum, (i) => inS[i] === 0, (a, b) => F[a] < F[b] || (F[a] === F[b] && a < b));
  const swaps: Swap[] = [];
  for (const o of outs) for (const i of ins) swaps.push({ out: o, in: i });
  return swaps;
}

/** The first `count` rows i (with keep(i)) in the order `first`, by insertion into a sorted buffer. */
function bestRows(F: Float64Array, nT: number, count: number, keep: (i: number) => boolean, first: (a: number, b: number) => boolean): number[] {
  const best: number[] = [];
  for (let i = 0; i < nT; i++) {
    if (!keep(i)) continue;
    if (best.length === count && !first(i, best[count - 1])) continue;
    let p = best.length === count ? count - 1 : best.length;
    if (best.length < count) best.push(i);
    while (p > 0 && first(i, best[p - 1])) {
      best[p] = best[p - 1];
      p--;
    }
    best[p] = i;
  }
  return best;
}

/** Positions in `selected` of each swap's `out`; throws DlabInputError naming the bad swap. */
export function checkSwaps(swaps: Swap[], selected: Int32Array, nT: number): Int32Array {
  const pos = new Int32Array(nT).fill(-1);
  for (let k = 0; k < selected.length; k++) pos[selected[k]] = k;
  const out = new Int32Array(swaps.length);
  for (let t = 0; t < swaps.length; t++) {
    const s = swaps[t];
    if (!(Number.isInteger(s.out) && s.out >= 0 && s.out < nT && pos[s.out] >= 0)) {
      throw new DlabInputError(`swaps[${t}].out = ${s.out}, expected a selected pool row`);
    }
    if (!(Number.isInteger(s.in) && s.in >= 0 && s.in < nT)) throw new DlabInputError(`swaps[${t}].in = ${s.in}, expected a pool row in [0, ${nT})`);
    if (pos[s.in] >= 0) throw new DlabInputError(`swaps[${t}].in = ${s.in} is already selected, expected an unselected pool row`);
    out[t] = pos[s.out];
  }
  return out;
}

function checkConfig(cfg: RefineConfig): void {
  if (!Number.isInteger(cfg.maxIters) || cfg.maxIters < 0) throw new DlabInputError(`refine: cfg.maxIters must be an integer >= 0, found ${cfg.maxIters}`);
  if (!Number.isInteger(cfg.cutNum) || cfg.cutNum < 1) throw new DlabInputError(`refine: cfg.cutNum must be an integer >= 1, found ${cfg.cutNum}`);
}

/** Validates a resume state and returns a private copy of it. */
function checkResume(s: RefineState, nT: number): RefineState {
  const bad = (field: string, expected: string, found: unknown): never => {
    throw new DlabInputError(`refine: resume.${field}: expected ${expected}, found ${JSON.stringify(found)}`);
  };
  if (typeof s !== 'object' || s === null) bad('(root)', 'a RefineState object', s);
  if (!Number.isInteger(s.iter) || s.iter < 0) bad('iter', 'an integer >= 0', s.iter);
  if (!Array.isArray(s.selected)) bad('selected', 'an array of pool rows', s.selected);
  if (!Number.isFinite(s.poo)) bad('poo', 'a finite number', s.poo);
  if (!Array.isArray(s.trace)) bad('trace', 'an array', s.trace);
  if (typeof s.done !== 'boolean') bad('done', 'a boolean', s.done);
  const rows = Int32Array.from(s.selected);
  for (let k = 0; k < rows.length; k++) if (rows[k] !== s.selected[k]) bad(`selected[${k}]`, 'an integer pool row', s.selected[k]);
  checkRows('refine', 'resume.selected', rows, nT);
  return snapshot(s);
}

function snapshot(s: RefineState): RefineState {
  const copy: RefineState = { iter: s.iter, selected: s.selected.slice(), poo: s.poo, trace: s.trace.map((e) => ({ ...e })), done: s.done };
  if (s.reason !== undefined) copy.reason = s.reason;
  return copy;
}

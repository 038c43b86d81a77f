import { DlabInputError } from '../errors';
import { checkCost } from './cost';
import { checkRows } from './poo';
import { DUAL_SCORE_RANKS, DualScoreRank, dualScoresKernel } from './scores';
import { PooChain } from './swap-chain';

/**
 * GORACS stage 3, refinement by swaps — one home for the rule and both ways of running it:
 *   - RefineSession: a chain of warm-started exact solves of S = initial + accepted swaps, and
 *     the rule's verdict on a range of one iteration's candidates. The workflow fans ranges out
 *     over activities (every worker replays the same swaps into the same chain, bit for bit).
 *   - refine: the same rule as one resumable loop over a single session, all candidates at once
 *     (the label-enhanced variant, and runs started before the fan-out).
 * Both accept the same swap at every iteration, so they produce the same trace.
 */

export interface RefineConfig {
  maxIters: number;
  cutNum: number;
  /** the dual value of the scores F (scores.ts); absent: 'rth-largest', the reference's */
  dualScore?: DualScoreRank;
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

export interface RefineHooks {
  resume?: RefineState;
  onProgress?: (state: RefineState) => void | Promise<void>;
  signal?: AbortSignal;
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
 *   cfg      maxIters ≥ 0 accepted swaps, cutNum ≥ 1 candidates per side, dualScore the
 *            order statistic of F's dual value (default 'rth-largest')
 *   hooks.resume      the last state reported by a previous attempt (JSON round trip is fine)
 *   hooks.onProgress  called with a copy of the state after every accepted swap and once
 *                     when the loop finishes (done = true)
 *   hooks.signal      checked before each iteration and between exact solves
 *   hooks.stats       counters to add to: exact solves, swaps ruled out, pivots
 * Candidates are evaluated in order by one RefineSession (swaps a dual lower bound rules out
 * skipped, the others solved warm-started), exactly as the workflow's fan-out evaluates them.
 * Returns the final state. state.trace[0] is the starting point (iter 0, swapOut = swapIn
 * = −1, POO of `initial`), then one entry per accepted swap: candidatesTried is the
 * 1-based position of the accepted swap in the order of step 4 (what the sequential rule
 * evaluates), solverIterations the pivots of the exact solve of the new S.
 * The run is deterministic: the same (cost, initial, cfg) gives the same states, and a
 * resumed run ends in the state of an uninterrupted one.
 * Throws DlabInputError for a bad cost, initial set, config or resume state; Error when an
 * exact solve does not reach 'optimal'.
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
  const session = new RefineSession(cost, nT, nV, initial, cfg.cutNum, cfg.dualScore);
  stats.solves++;
  stats.pivots += session.solverIterations;

  let state: RefineState;
  if (hooks.resume) {
    state = checkResume(hooks.resume, nT);
    // rebuild the chain of warm-started solves the interrupted attempt held
    await session.advance(acceptedSwaps(state.trace.slice(0, state.iter + 1)), stats, signal);
    if (!session.selected.every((r, k) => r === state.selected[k])) {
      throw new DlabInputError(`refine: resume state (iter ${state.iter}) lists a selection that does not follow from initial and its trace`);
    }
    // A heartbeat whose POO differs from the replay in the last bits (written by a worker whose
    // solver rounds differently) must not fail a run mid-way: the replayed chain's POO is the one
    // the comparisons of the rest of the run use, so adopt it.
    if (session.poo !== state.poo) state = { ...state, poo: session.poo };
  } else {
    state = {
      iter: 0,
      selected: Array.from(initial),
      poo: session.poo,
      trace: [{ iter: 0, poo: session.poo, swapOut: -1, swapIn: -1, solverIterations: session.solverIterations, candidatesTried: 0 }],
      done: false,
    };
  }
  const nSwaps = RefineSession.candidateCount(nT, initial.length, cfg.cutNum);

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
    const verdict = await session.evaluate(acceptedSwaps(state.trace), state.poo, 0, nSwaps, stats, signal);
    if (!isFound(verdict)) {
      await finish('no_improving_swap');
      break;
    }
    state.iter += 1;
    state.selected = applySwaps(state.selected, [verdict.swap]);
    state.poo = verdict.poo;
    state.trace.push({
      iter: state.iter,
      poo: verdict.poo,
      swapOut: verdict.swap.out,
      swapIn: verdict.swap.in,
      solverIterations: verdict.solverIterations,
      candidatesTried: verdict.index + 1,
    });
    await hooks.onProgress?.(snapshot(state));
  }
  return state;
}

/** The accepted swaps of a trace (entries 1…, in order; entry 0 is the start). */
export function acceptedSwaps(trace: RefineTraceEntry[]): Swap[] {
  return trace.slice(1).map((e) => ({ out: e.swapOut, in: e.swapIn }));
}

/**
 * S after `swaps`, in order: each `in` takes the position of its `out` (the one replay of
 * accepted swaps onto a selection). Throws DlabInputError naming the swap that does not apply
 * (its out not in S, or its in already there).
 */
export function applySwaps(selected: ArrayLike<number>, swaps: Swap[]): number[] {
  const S = Array.from(selected);
  swaps.forEach((s, t) => {
    const pos = S.indexOf(s.out);
    if (pos < 0 || S.includes(s.in)) throw new DlabInputError(`swap ${t} (${s.out} → ${s.in}) does not apply to the selection`);
    S[pos] = s.in;
  });
  return S;
}

/** The improving swap a range of candidates holds: its index, the swap, POO and pivots of S with it. */
export interface FoundSwap {
  index: number;
  swap: Swap;
  poo: number;
  solverIterations: number;
}

/** A session's verdict on a range of candidates: the smallest improving index, or −1. */
export type RangeVerdict = FoundSwap | { index: -1 };

export function isFound(v: RangeVerdict): v is FoundSwap {
  return v.index >= 0;
}

type TrySwapResult = ReturnType<PooChain['trySwap']>;

/**
 * The state one worker keeps to evaluate candidate swaps of the iterations of `refine` for
 * S = initial + the accepted swaps so far: F from the duals of the warm-started chain,
 * candidates in out-major order, the first improving swap in that order.
 *
 * A worker holds one session per (problem, initial, cutNum, dualScore) and moves it forward with the
 * accepted swaps the caller sends; any worker that replays the same swaps holds the same
 * chain bit for bit (PooChain), so a range's verdict — the smallest improving index in it,
 * or none — is the same on every worker, and the smallest over the ranges is the swap the
 * sequential rule accepts, whatever the range size and the number of workers.
 */
export class RefineSession {
  private readonly cost: Float64Array;
  private readonly nT: number;
  private readonly nV: number;
  private readonly cutNum: number;
  private readonly dualScore: DualScoreRank;
  private readonly chain: PooChain;
  private readonly applied: Swap[] = [];
  private round?: { swaps: Swap[]; position: Int32Array };
  /** the last improving swap this session solved, reused when it is accepted */
  private tried?: { iter: number; swap: Swap; result: TrySwapResult };
  private queue: Promise<unknown> = Promise.resolve();

  /** Solves POO(initial) from scratch. cost Float64Array(nT·nV); initial distinct pool rows; cutNum ≥ 1; dualScore as RefineConfig's. */
  constructor(cost: Float64Array, nT: number, nV: number, initial: Int32Array, cutNum: number, dualScore: DualScoreRank = 'rth-largest') {
    checkCost('RefineSession', cost, nT, nV);
    checkRows('RefineSession', 'initial', initial, nT);
    if (!Number.isInteger(cutNum) || cutNum < 1) throw new DlabInputError(`RefineSession: cutNum must be an integer >= 1, found ${cutNum}`);
    if (!DUAL_SCORE_RANKS.includes(dualScore)) throw new DlabInputError(`RefineSession: dualScore ${JSON.stringify(dualScore)}, expected one of ${DUAL_SCORE_RANKS.join(', ')}`);
    this.dualScore = dualScore;
    this.cost = cost;
    this.nT = nT;
    this.nV = nV;
    this.cutNum = cutNum;
    this.chain = new PooChain(cost, nV, initial);
  }

  /** Swaps tried per iteration: min(cutNum, |S|) · min(cutNum, nT − |S|). */
  static candidateCount(nT: number, nS: number, cutNum: number): number {
    return Math.min(cutNum, nS) * Math.min(cutNum, nT - nS);
  }

  /** POO, solve pivots and rows of the current S. */
  get poo(): number {
    return this.chain.value;
  }
  get solverIterations(): number {
    return this.chain.iterations;
  }
  get selected(): Int32Array {
    return this.chain.selected.slice();
  }

  /** True if `accepted` extends (or equals) the swaps applied so far. */
  extends(accepted: Swap[]): boolean {
    if (accepted.length < this.applied.length) return false;
    return this.applied.every((s, t) => s.out === accepted[t].out && s.in === accepted[t].in);
  }

  /**
   * Applies the swaps of `accepted` this session has not applied yet, one warm-started solve
   * each (none for a swap this session solved as the improving one). Serialised like evaluate.
   */
  advance(accepted: Swap[], stats: RefineStats, signal?: AbortSignal): Promise<void> {
    return this.turn(() => this.advanceNow(accepted, stats, signal));
  }

  /**
   * Evaluates candidates [lo, hi) of the iteration after `accepted` (the swaps accepted so
   * far, in order): the smallest improving index with its POO and pivots, or index −1.
   * Throws (a retryable Error) if `accepted` does not extend the swaps this session applied
   * (make a new session), and DlabInputError if `expectedPoo` (the caller's POO of S) differs
   * from this chain's — the guard that every worker holds the same S.
   * Calls are serialised: concurrent activities on one worker take turns.
   */
  evaluate(accepted: Swap[], expectedPoo: number, lo: number, hi: number, stats: RefineStats, signal?: AbortSignal): Promise<RangeVerdict> {
    return this.turn(() => this.evaluateNow(accepted, expectedPoo, lo, hi, stats, signal));
  }

  private turn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async advanceNow(accepted: Swap[], stats: RefineStats, signal?: AbortSignal): Promise<void> {
    // a plain (retryable) error: another caller advanced this session between the caller's check
    // and its turn; the retried attempt finds the session does not extend and builds a new one
    if (!this.extends(accepted)) throw new Error('RefineSession: accepted swaps do not extend those this session applied');
    for (let t = this.applied.length; t < accepted.length; t++) {
      signal?.throwIfAborted();
      const s = accepted[t];
      const pos = this.chain.selected.indexOf(s.out);
      if (pos < 0 || this.chain.selected.includes(s.in)) throw new DlabInputError(`RefineSession: accepted[${t}] = ${s.out} → ${s.in} does not apply to the selection`);
      const tried = this.tried && this.tried.iter === t && this.tried.swap.out === s.out && this.tried.swap.in === s.in ? this.tried.result : undefined;
      this.chain.accept(pos, s.in, tried);
      if (!tried) {
        stats.solves++;
        stats.pivots += this.chain.iterations;
      }
      this.applied.push({ out: s.out, in: s.in });
      this.round = undefined;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async evaluateNow(accepted: Swap[], expectedPoo: number, lo: number, hi: number, stats: RefineStats, signal?: AbortSignal): Promise<RangeVerdict> {
    await this.advanceNow(accepted, stats, signal);
    if (this.chain.value !== expectedPoo) {
      throw new DlabInputError(`RefineSession: POO of the selection after ${accepted.length} swaps is ${this.chain.value} here, ${expectedPoo} in the workflow`);
    }
    if (!this.round) {
      const S = this.chain.selected.slice();
      const F = dualScoresKernel(this.cost, this.nT, this.nV, S, this.chain.result().u, this.dualScore);
      const swaps = candidateSwaps(F, S, this.nT, this.cutNum);
      this.round = { swaps, position: checkSwaps(swaps, S, this.nT) };
    }
    const { swaps, position } = this.round;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && lo <= hi && hi <= swaps.length)) {
      throw new DlabInputError(`RefineSession.evaluate: range [${lo}, ${hi}) outside the ${swaps.length} candidate swaps`);
    }
    const found = await firstImprovingSwap(this.chain, swaps, position, lo, hi, this.chain.value, stats, signal);
    if (found.index < 0 || !found.result) return { index: -1 };
    this.tried = { iter: this.applied.length, swap: swaps[found.index], result: found.result };
    return { index: found.index, swap: swaps[found.index], poo: found.result.value, solverIterations: found.result.iterations };
  }
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
async function firstImprovingSwap(
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

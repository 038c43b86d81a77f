import { DlabInputError } from '../errors';
import { checkCost } from './cost';
import { checkRows } from './poo';
import { candidateSwaps, checkSwaps, firstImprovingSwap, RefineStats, Swap } from './refine';
import { dualScoresKernel } from './scores';
import { PooChain } from './swap-chain';

/**
 * GORACS refinement split over workers: the state one worker keeps to evaluate a range of
 * one iteration's candidate swaps. The iteration is the one of `refine` (refine.ts) for
 * S = initial + the accepted swaps so far: F from the duals of the warm-started chain,
 * candidates in out-major order, the first improving swap in that order.
 *
 * A worker holds one session per (problem, initial, cutNum) and moves it forward with the
 * accepted swaps the workflow sends; any worker that replays the same swaps holds the same
 * chain bit for bit (PooChain), so a range's verdict — the smallest improving index in it,
 * or none — is the same on every worker, and the smallest over the ranges is the swap the
 * sequential rule accepts, whatever the range size and the number of workers.
 */
export class RefineSession {
  private readonly cost: Float64Array;
  private readonly nT: number;
  private readonly nV: number;
  private readonly cutNum: number;
  private readonly chain: PooChain;
  private readonly applied: Swap[] = [];
  private round?: { swaps: Swap[]; position: Int32Array };
  /** the last improving swap this session solved, reused when it is accepted */
  private tried?: { iter: number; swap: Swap; result: ReturnType<PooChain['trySwap']> };
  private queue: Promise<unknown> = Promise.resolve();

  /** Solves POO(initial) from scratch. cost Float64Array(nT·nV); initial distinct pool rows; cutNum ≥ 1. */
  constructor(cost: Float64Array, nT: number, nV: number, initial: Int32Array, cutNum: number) {
    checkCost('RefineSession', cost, nT, nV);
    checkRows('RefineSession', 'initial', initial, nT);
    if (!Number.isInteger(cutNum) || cutNum < 1) throw new DlabInputError(`RefineSession: cutNum must be an integer >= 1, found ${cutNum}`);
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

  /** POO and solve pivots of the current S. */
  get poo(): number {
    return this.chain.value;
  }
  get solverIterations(): number {
    return this.chain.iterations;
  }

  /**
   * Evaluates candidates [lo, hi) of the iteration after `accepted` (the swaps accepted so
   * far, in order): the smallest improving index with its POO and pivots, or index −1.
   * Throws (a retryable Error) if `accepted` does not extend the swaps this session applied
   * (make a new session), and DlabInputError if `expectedPoo` (the workflow's POO of S) differs from this
   * chain's — the guard that every worker holds the same S.
   * Calls are serialised: concurrent activities on one worker take turns.
   */
  evaluate(accepted: Swap[], expectedPoo: number, lo: number, hi: number, stats: RefineStats, signal?: AbortSignal) {
    const run = this.queue.then(() => this.evaluateNow(accepted, expectedPoo, lo, hi, stats, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** True if `accepted` extends (or equals) the swaps applied so far. */
  extends(accepted: Swap[]): boolean {
    if (accepted.length < this.applied.length) return false;
    return this.applied.every((s, t) => s.out === accepted[t].out && s.in === accepted[t].in);
  }

  private async evaluateNow(accepted: Swap[], expectedPoo: number, lo: number, hi: number, stats: RefineStats, signal?: AbortSignal) {
    // a plain (retryable) error: another caller advanced this session between the caller's check
    // and its turn; the retried attempt finds the session does not extend and builds a new one
    if (!this.extends(accepted)) throw new Error('RefineSession.evaluate: accepted swaps do not extend those this session applied');
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
    if (this.chain.value !== expectedPoo) {
      throw new DlabInputError(`RefineSession: POO of the selection after ${accepted.length} swaps is ${this.chain.value} here, ${expectedPoo} in the workflow`);
    }
    if (!this.round) {
      const S = this.chain.selected.slice();
      const F = dualScoresKernel(this.cost, this.nT, this.nV, S, this.chain.result().u);
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

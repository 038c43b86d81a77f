import { bigMFor, TransportBasis, TransportSimplex } from '../ot/network-simplex';
import { EMD_DEFAULT_MAX_ITERATIONS } from '../ot/emd';
import { gatherRows, PooResult } from './poo';

/**
 * POO of a selection that changes one row at a time (GORACS swaps), solved exactly with a
 * warm-started network simplex, plus a cheap exact lower bound that rules swaps out
 * without solving.
 *
 * Warm start: a swap keeps every supply (1/|S|) and changes the costs of one row, so the
 * optimal tree of the current S is a feasible basis for S − out + in; the solver restores
 * that basis, writes the new row, recomputes the potentials and pivots to optimality
 * (lib/ot/network-simplex.ts, TransportSimplex). Measured at 1000 × 5000 (README): a few
 * thousand pivots instead of ~80 000 from scratch.
 *
 * Determinism: the chain's state after t accepted swaps is a function of (C, initial, the
 * t swaps) only — the initial S is solved from scratch, each accepted swap from the basis
 * of the previous S — so a resumed run that replays the accepted swaps, or any worker
 * that builds the same chain, holds bit-identical bases, POOs and duals.
 * The big-M of the artificial arcs is taken over the whole pool cost (every row that can
 * be swapped in), the same for every S.
 */
export class PooChain {
  readonly nV: number;
  /** current S, pool rows (position k of S is row k of the solver) */
  readonly selected: Int32Array;
  /** POO(S) and the pivots of the solve that produced it */
  value = 0;
  iterations = 0;

  private readonly cost: Float64Array;
  private readonly sub: Float64Array;
  private readonly solver: TransportSimplex;
  private base: TransportBasis;

  /** Solves POO(initial) from scratch. cost Float64Array(nT·nV); initial distinct pool rows (checked by the caller). */
  constructor(cost: Float64Array, nV: number, initial: Int32Array, bigM = bigMFor(cost)) {
    this.cost = cost;
    this.nV = nV;
    this.selected = initial.slice();
    const nS = initial.length;
    this.sub = gatherRows(cost, nV, initial);
    const a = new Float64Array(nS).fill(1 / nS);
    const b = new Float64Array(nV).fill(1 / nV);
    this.solver = new TransportSimplex(a, b, this.sub, nS, nV, bigM);
    const r = this.solver.solve(EMD_DEFAULT_MAX_ITERATIONS);
    if (r.status !== 'optimal') throw new Error(`PooChain: POO of the initial selection: exact solve ended with status '${r.status}' after ${r.iterations} pivots`);
    this.value = this.solver.objective();
    this.iterations = r.iterations;
    this.base = this.solver.save();
  }

  /** The current solve as a PooResult: value, duals u (in the order of S), v, centred as poo() centres them. */
  result(): PooResult {
    const nS = this.selected.length;
    const nV = this.nV;
    const pi = this.base.pi;
    const u = pi.slice(0, nS);
    const v = new Float64Array(nV);
    for (let j = 0; j < nV; j++) v[j] = -pi[nS + j];
    // centre: ⟨a, u⟩ = ⟨b, v⟩ (see poo.ts)
    let au = 0;
    let bv = 0;
    for (let k = 0; k < nS; k++) au += u[k] / nS;
    for (let j = 0; j < nV; j++) bv += v[j] / nV;
    const t = (bv - au) / 2;
    for (let k = 0; k < nS; k++) u[k] += t;
    for (let j = 0; j < nV; j++) v[j] -= t;
    return { value: this.value, u, v, iterations: this.iterations, status: 'optimal' };
  }

  /**
   * Exact POO(S with position `pos` replaced by pool row `inRow`), warm-started from the
   * basis of S; S and the chain are left unchanged. The returned `basis` lets accept() take
   * this swap without solving again.
   */
  trySwap(pos: number, inRow: number): { value: number; iterations: number; basis: TransportBasis } {
    const nV = this.nV;
    const saved = this.sub.slice(pos * nV, pos * nV + nV);
    this.sub.set(this.cost.subarray(inRow * nV, inRow * nV + nV), pos * nV);
    try {
      this.solver.restore(this.base);
      const r = this.solver.solve(EMD_DEFAULT_MAX_ITERATIONS);
      if (r.status !== 'optimal') {
        throw new Error(`POO with pool row ${inRow} at position ${pos}: exact solve ended with status '${r.status}' after ${r.iterations} pivots`);
      }
      return { value: this.solver.objective(), iterations: r.iterations, basis: this.solver.save() };
    } finally {
      this.sub.set(saved, pos * nV);
    }
  }

  /** Makes the swap part of S (solving it from the basis of S unless `tried` is its trySwap result). */
  accept(pos: number, inRow: number, tried?: { value: number; iterations: number; basis: TransportBasis }): void {
    const t = tried ?? this.trySwap(pos, inRow);
    const nV = this.nV;
    this.sub.set(this.cost.subarray(inRow * nV, inRow * nV + nV), pos * nV);
    this.selected[pos] = inRow;
    this.base = t.basis;
    this.value = t.value;
    this.iterations = t.iterations;
  }

  /**
   * A lower bound on POO(S − S[pos] + inRow) for every swap, from the duals of S (weak
   * duality: any dual-feasible (u', v') gives ⟨a, u'⟩ + ⟨b, v'⟩ ≤ the optimum):
   *   u'_i = u_i (i ≠ pos),  v'_j = min_{i ≠ pos} (C_ij − u_i),  u'_in = min_j (C_in,j − v'_j)
   * Returns bound(pos, inRow); precomputation O(|S|·nV), each bound O(nV).
   */
  lowerBound(): (pos: number, inRow: number) => number {
    const nS = this.selected.length;
    const nV = this.nV;
    const u = this.base.pi.subarray(0, nS);
    const first = new Float64Array(nV).fill(Infinity);
    const second = new Float64Array(nV).fill(Infinity);
    const argFirst = new Int32Array(nV).fill(-1);
    for (let k = 0; k < nS; k++) {
      const base = k * nV;
      const uk = u[k];
      for (let j = 0; j < nV; j++) {
        const x = this.sub[base + j] - uk;
        if (x < first[j]) {
          second[j] = first[j];
          first[j] = x;
          argFirst[j] = k;
        } else if (x < second[j]) second[j] = x;
      }
    }
    let sumU = 0;
    for (let k = 0; k < nS; k++) sumU += u[k];
    if (nS === 1) return () => -Infinity; // removing the only row leaves v' unbounded: no bound
    return (pos, inRow) => {
      let sumV = 0;
      let uIn = Infinity;
      const base = inRow * this.nV;
      for (let j = 0; j < nV; j++) {
        const vj = argFirst[j] === pos ? second[j] : first[j];
        sumV += vj;
        const r = this.cost[base + j] - vj;
        if (r < uIn) uIn = r;
      }
      return (sumU - u[pos] + uIn) / nS + sumV / nV;
    };
  }
}

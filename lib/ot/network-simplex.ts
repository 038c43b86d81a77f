/**
 * Network simplex kernel for the dense transportation problem (no argument checking —
 * `emd.ts` validates and normalises; call that).
 *
 *   min_P Σ_ij C_ij P_ij   s.t.  Σ_j P_ij = a_i,  Σ_i P_ij = b_j,  P ≥ 0
 *
 * as a min-cost flow on the complete bipartite graph rows → columns plus an artificial
 * root R. Nodes: rows 0..nRows-1, columns nRows..nRows+nCols-1, root nRows+nCols.
 * Arcs: real arc e = i·nCols + j (i → column j, cost C[e], flow P[e]); artificial arc
 * m + u joins node u and R (row u → R and zero-weight column u → R at cost 0, R → column
 * u at cost `bigM`, which exceeds every difference of two real costs, so an optimum
 * carries no flow on them).
 *
 * Method (Ahuja, Magnanti & Orlin, "Network Flows", ch. 11; the pivot rule is the block
 * search of Grigoriadis 1986 used by LEMON and by POT after Bonneel et al. 2011):
 *  - basis = spanning tree rooted at R, kept strongly feasible (every node can send
 *    positive flow to R along its tree path); start: every node hangs from R by its
 *    artificial arc;
 *  - entering arc: scan ⌈√m⌉ arcs per block, cyclically from where the last scan stopped,
 *    and take the most negative reduced cost r_ij = C_ij − π_i + π_j of the first block
 *    that has one below −tol;
 *  - leaving arc: the last blocking arc met when walking the cycle in the direction of
 *    flow from its apex (Cunningham 1976) — this keeps the tree strongly feasible, so
 *    degenerate pivots cannot cycle;
 *  - tree storage: parent, arc to parent with its direction, depth, and doubly linked
 *    child lists; after a pivot the detached subtree is re-hung by reversing its stem and
 *    walked once to shift its potentials and depths.
 * Node potentials π satisfy π_s − π_t = c_e on tree arcs, so the transport duals are
 * u_i = π_i and v_j = −π_{nRows+j} (dual constraint u_i + v_j ≤ C_ij ⇔ r_ij ≥ 0).
 *
 * Flows live on tree arcs only, so they are stored per node (the flow on the arc to its
 * parent): the whole basis is O(nRows + nCols) numbers, cheap to save and restore.
 *
 * Warm start (`TransportSimplex`): a basis stays primal feasible when only costs change,
 * because feasibility involves supplies, demands and flows alone. So after the costs of a
 * row are replaced (GORACS swaps one selected sample for another: same supply 1/|S|, new
 * cost row) the previous optimal tree is a strongly feasible starting basis: recompute π
 * from the tree with the new costs and pivot to optimality. The artificial arcs keep a
 * big-M fixed at construction, which must exceed every difference of two costs the problem
 * will ever hold (pass `bigM` computed over all rows that may be swapped in).
 */


export type NetworkSimplexStatus = 'optimal' | 'max_iterations';

export interface NetworkSimplexResult {
  /** Row-major flows on the real arcs, length nRows·nCols. */
  plan: Float64Array;
  /** Node potentials, length nRows+nCols+1 (root last, π_root = 0). */
  potentials: Float64Array;
  /** Flow still on the artificial arcs, length nRows+nCols (0 at a feasible optimum). */
  artificialFlow: Float64Array;
  /** Number of pivots performed. */
  iterations: number;
  status: NetworkSimplexStatus;
}

/**
 * Solves the balanced transportation problem from scratch; `supply` (nRows) and `demand`
 * (nCols) must be finite, ≥ 0 and have equal sums (the caller rescales), `cost` finite,
 * row-major.
 */
export function transportNetworkSimplex(
  supply: Float64Array,
  demand: Float64Array,
  cost: Float64Array,
  nRows: number,
  nCols: number,
  maxIterations: number,
): NetworkSimplexResult {
  const ns = new TransportSimplex(supply, demand, cost, nRows, nCols);
  const { iterations, status } = ns.solve(maxIterations);
  return { plan: ns.densePlan(), potentials: ns.potentials, artificialFlow: ns.artificialFlow(), iterations, status };
}

/** A saved basis of a TransportSimplex (copies; restore() copies back). */
export interface TransportBasis {
  readonly nodes: Int32Array; // parent, predArc, depth, firstChild, nextSib, prevSib (6 × nNodes)
  readonly predUp: Uint8Array;
  readonly flow: Float64Array;
  readonly pi: Float64Array;
  readonly scan: number; // row-major position where the next block search starts
}

/** Largest cost range a big-M for `cost` must cover: any path through R costs more than a direct arc. */
export function bigMFor(cost: Float64Array): number {
  let cMin = Infinity;
  let cMax = -Infinity;
  for (let e = 0; e < cost.length; e++) {
    const c = cost[e];
    if (c < cMin) cMin = c;
    if (c > cMax) cMax = c;
  }
  if (cost.length === 0) return 1;
  const range = cMax - cMin;
  const maxAbs = Math.max(Math.abs(cMin), Math.abs(cMax));
  return 2 * (range + maxAbs) || 1;
}

/**
 * Network simplex state for one transportation problem whose costs may change between
 * solves (warm start). `cost` is held by reference: a caller that writes new costs into it
 * (e.g. one row) just calls solve() again, which recomputes π from the current tree first.
 * `bigM` defaults to bigMFor(cost); pass a larger one when costs will change beyond the
 * current range.
 */
export class TransportSimplex {
  readonly nRows: number;
  readonly nCols: number;
  readonly cost: Float64Array;
  readonly bigM: number;
  /** Node potentials, length nRows+nCols+1 (root last, π_root = 0); valid after solve(). */
  readonly potentials: Float64Array;

  private readonly m: number;
  private readonly root: number;
  private readonly tol: number;
  private readonly artCost: Float64Array;
  private readonly nodeArrays: Int32Array;
  private readonly parent: Int32Array;
  private readonly predArc: Int32Array;
  private readonly depth: Int32Array;
  private readonly firstChild: Int32Array;
  private readonly nextSib: Int32Array;
  private readonly prevSib: Int32Array;
  private readonly predUp: Uint8Array; // 1: arc to parent points node → parent
  private readonly flow: Float64Array; // flow on the arc to the parent
  private readonly blockSize: number;
  private scan = 0;

  constructor(supply: Float64Array, demand: Float64Array, cost: Float64Array, nRows: number, nCols: number, bigM?: number) {
    const m = nRows * nCols;
    const root = nRows + nCols;
    const nNodes = root + 1;
    if (m + nNodes > 0x7fffffff) {
      throw new Error(`transportNetworkSimplex: ${nRows}x${nCols} has more arcs than int32 arc indices allow`);
    }
    this.nRows = nRows;
    this.nCols = nCols;
    this.cost = cost;
    this.m = m;
    this.root = root;
    this.bigM = bigM ?? bigMFor(cost);
    // reduced costs above −tol count as zero (rounding in π is a few ulps of bigM)
    this.tol = 1e-12 * this.bigM;
    this.artCost = new Float64Array(root);
    this.nodeArrays = new Int32Array(6 * nNodes);
    const view = (k: number) => this.nodeArrays.subarray(k * nNodes, (k + 1) * nNodes);
    this.parent = view(0);
    this.predArc = view(1);
    this.depth = view(2);
    this.firstChild = view(3);
    this.nextSib = view(4);
    this.prevSib = view(5);
    this.predUp = new Uint8Array(nNodes);
    this.flow = new Float64Array(nNodes);
    this.potentials = new Float64Array(nNodes);
    this.blockSize = Math.max(10, Math.ceil(Math.sqrt(m)));

    // initial strongly feasible basis: each node hangs from the root by its artificial arc
    const { parent, predArc, depth, firstChild, nextSib, prevSib, predUp, flow, artCost } = this;
    firstChild.fill(-1);
    parent[root] = -1;
    predArc[root] = -1;
    firstChild[root] = root > 0 ? 0 : -1;
    for (let u = 0; u < root; u++) {
      parent[u] = root;
      predArc[u] = m + u;
      depth[u] = 1;
      prevSib[u] = u - 1;
      nextSib[u] = u + 1 < root ? u + 1 : -1;
      if (u < nRows) {
        predUp[u] = 1;
        flow[u] = supply[u];
      } else if (demand[u - nRows] > 0) {
        predUp[u] = 0;
        flow[u] = demand[u - nRows];
        artCost[u] = this.bigM;
      } else {
        predUp[u] = 1; // zero-weight column: upward arc with zero flow keeps strong feasibility
      }
    }
  }

  /**
   * Pivots from the current basis to an optimum of the current costs, or until
   * maxIterations pivots. π is recomputed from the tree first (costs may have changed) and
   * again before declaring optimality.
   */
  solve(maxIterations: number): { iterations: number; status: NetworkSimplexStatus } {
    this.recomputePotentials();
    let iterations = 0;
    let status: NetworkSimplexStatus = 'optimal';
    for (;;) {
      let entering = this.findEnteringArc();
      if (entering < 0) {
        this.recomputePotentials();
        entering = this.findEnteringArc();
        if (entering < 0) break;
      }
      if (iterations >= maxIterations) {
        status = 'max_iterations';
        this.recomputePotentials();
        break;
      }
      this.pivot(entering);
      iterations++;
    }
    return { iterations, status };
  }

  /** A copy of the current basis (tree, flows, potentials, pricing position). */
  save(): TransportBasis {
    return { nodes: this.nodeArrays.slice(), predUp: this.predUp.slice(), flow: this.flow.slice(), pi: this.potentials.slice(), scan: this.scan };
  }

  /** Returns to a basis saved from this solver (or one of the same shape and supplies). */
  restore(b: TransportBasis): void {
    if (b.nodes.length !== this.nodeArrays.length) {
      throw new Error(`TransportSimplex.restore: basis for ${b.nodes.length / 6 - 1} nodes, expected ${this.root}`);
    }
    this.nodeArrays.set(b.nodes);
    this.predUp.set(b.predUp);
    this.flow.set(b.flow);
    this.potentials.set(b.pi);
    this.scan = b.scan;
  }

  /**
   * ⟨P, C⟩ at the current basis: Σ flow·cost over the real tree arcs, summed in increasing
   * arc index (the order a dense row-major sum would use), so the value depends only on the
   * plan, not on how the tree is stored.
   */
  objective(): number {
    const arcs: number[] = [];
    for (let u = 0; u < this.root; u++) {
      const e = this.predArc[u];
      if (e < this.m && this.flow[u] !== 0) arcs.push(e);
    }
    arcs.sort((x, y) => x - y);
    const flowOf = new Map<number, number>();
    for (let u = 0; u < this.root; u++) if (this.predArc[u] < this.m) flowOf.set(this.predArc[u], this.flow[u]);
    let total = 0;
    for (const e of arcs) total += flowOf.get(e)! * this.cost[e];
    return total;
  }

  /** Row-major dense plan, Float64Array(nRows·nCols). */
  densePlan(): Float64Array {
    const plan = new Float64Array(this.m);
    for (let u = 0; u < this.root; u++) {
      const e = this.predArc[u];
      if (e < this.m) plan[e] = this.flow[u];
    }
    return plan;
  }

  /** Flow on each node's artificial arc, Float64Array(nRows+nCols). */
  artificialFlow(): Float64Array {
    const out = new Float64Array(this.root);
    for (let u = 0; u < this.root; u++) if (this.predArc[u] === this.m + u) out[u] = this.flow[u];
    return out;
  }

  /** Block search; returns the entering arc or −1 when no reduced cost is below −tol. */
  private findEnteringArc(): number {
    const { cost, nRows, nCols, m, blockSize, predArc } = this;
    const pi = this.potentials;
    const piCol = pi.subarray(nRows, this.root);
    let i = (this.scan / nCols) | 0;
    let j = this.scan - i * nCols;
    let e = this.scan;
    let piRow = pi[i];
    let best = -this.tol;
    let bestArc = -1;
    let leftInBlock = blockSize;
    let leftTotal = m;
    while (leftTotal > 0) {
      let run = nCols - j;
      if (run > leftInBlock) run = leftInBlock;
      if (run > leftTotal) run = leftTotal;
      const end = j + run;
      for (; j < end; j++, e++) {
        const r = cost[e] - piRow + piCol[j];
        // tree arcs have r = 0 up to rounding: never enter them
        if (r < best && predArc[i] !== e && predArc[nRows + j] !== e) {
          best = r;
          bestArc = e;
        }
      }
      leftTotal -= run;
      leftInBlock -= run;
      if (j === nCols) {
        j = 0;
        i++;
        if (i === nRows) {
          i = 0;
          e = 0;
        }
        piRow = pi[i];
      }
      if (leftInBlock === 0) {
        if (bestArc >= 0) break;
        leftInBlock = blockSize;
      }
    }
    this.scan = i * nCols + j;
    return bestArc;
  }

  private unlinkChild(p: number, c: number): void {
    const before = this.prevSib[c];
    const after = this.nextSib[c];
    if (before >= 0) this.nextSib[before] = after;
    else this.firstChild[p] = after;
    if (after >= 0) this.prevSib[after] = before;
  }

  private linkChild(p: number, c: number): void {
    const first = this.firstChild[p];
    this.nextSib[c] = first;
    this.prevSib[c] = -1;
    if (first >= 0) this.prevSib[first] = c;
    this.firstChild[p] = c;
    this.parent[c] = p;
  }

  /** Pivots arc e = (row s, column t) into the basis. */
  private pivot(enteringArc: number): void {
    const { nRows, nCols, parent, predArc, predUp, depth, flow, firstChild, nextSib } = this;
    const pi = this.potentials;
    const s = (enteringArc / nCols) | 0;
    const t = nRows + (enteringArc - s * nCols);

    // apex of the cycle: lowest common ancestor of s and t
    let x = s;
    let y = t;
    while (x !== y) {
      if (depth[x] > depth[y]) x = parent[x];
      else if (depth[y] > depth[x]) y = parent[y];
      else {
        x = parent[x];
        y = parent[y];
      }
    }
    const apex = x;

    // Flow goes s → t, up from t to the apex, down from the apex to s. Blocking arcs are
    // those traversed backwards: upward-pointing arcs on the s side, downward on the t
    // side. Ties go to the last one met in flow order: the lowest on the s side (strict <
    // while climbing), else the highest on the t side (≤ while climbing, and t side wins).
    let delta = Infinity;
    let leaving = -1;
    let leavingOnSourceSide = true;
    for (let u = s; u !== apex; u = parent[u]) {
      if (predUp[u] === 1 && flow[u] < delta) {
        delta = flow[u];
        leaving = u;
      }
    }
    for (let u = t; u !== apex; u = parent[u]) {
      if (predUp[u] === 0 && flow[u] <= delta) {
        delta = flow[u];
        leaving = u;
        leavingOnSourceSide = false;
      }
    }
    if (leaving < 0) {
      // a cycle of uncapacitated arcs with negative cost cannot exist in this network
      throw new Error('transportNetworkSimplex: unbounded pivot (internal error)');
    }

    if (delta > 0) {
      for (let u = s; u !== apex; u = parent[u]) flow[u] += predUp[u] === 1 ? -delta : delta;
      for (let u = t; u !== apex; u = parent[u]) flow[u] += predUp[u] === 1 ? delta : -delta;
    }
    flow[leaving] = 0; // the leaving arc drops out at its lower bound

    // Re-hang the subtree below the leaving arc from the entering arc: reverse the stem
    // path uIn → ... → leaving so that uIn becomes its top node, child of vIn. Each stem
    // arc keeps its flow, now stored at the node below it in the new orientation.
    const uIn = leavingOnSourceSide ? s : t;
    const vIn = leavingOnSourceSide ? t : s;
    const sigma = leavingOnSourceSide
      ? pi[t] + this.cost[enteringArc] - pi[s] // new π_s = π_t + C_st
      : pi[s] - this.cost[enteringArc] - pi[t]; // new π_t = π_s − C_st
    let newParent = vIn;
    let arc = enteringArc;
    let up = leavingOnSourceSide ? 1 : 0;
    let arcFlow = delta;
    let node = uIn;
    for (;;) {
      const oldParent = parent[node];
      const oldArc = predArc[node];
      const oldUp = predUp[node];
      const oldFlow = flow[node];
      this.unlinkChild(oldParent, node);
      this.linkChild(newParent, node);
      predArc[node] = arc;
      predUp[node] = up;
      flow[node] = arcFlow;
      if (node === leaving) break;
      newParent = node;
      arc = oldArc;
      up = 1 - oldUp;
      arcFlow = oldFlow;
      node = oldParent;
    }

    // walk the re-hung subtree: shift potentials by sigma and fix depths
    let u = uIn;
    pi[u] += sigma;
    depth[u] = depth[vIn] + 1;
    for (;;) {
      const c = firstChild[u];
      if (c >= 0) {
        u = c;
      } else {
        while (u !== uIn && nextSib[u] < 0) u = parent[u];
        if (u === uIn) break;
        u = nextSib[u];
      }
      pi[u] += sigma;
      depth[u] = depth[parent[u]] + 1;
    }
  }

  /** Recomputes π exactly from the tree and the current costs (π_root = 0). */
  private recomputePotentials(): void {
    const { m, root, parent, predArc, predUp, firstChild, nextSib, cost, artCost } = this;
    const pi = this.potentials;
    pi[root] = 0;
    let u = firstChild[root];
    while (u >= 0) {
      const e = predArc[u];
      const c = e < m ? cost[e] : artCost[e - m];
      pi[u] = predUp[u] === 1 ? pi[parent[u]] + c : pi[parent[u]] - c;
      const child = firstChild[u];
      if (child >= 0) {
        u = child;
      } else {
        while (u !== root && nextSib[u] < 0) u = parent[u];
        u = u === root ? -1 : nextSib[u];
      }
    }
  }
}

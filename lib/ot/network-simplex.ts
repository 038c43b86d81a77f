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
 * Solves the balanced transportation problem; `supply` (nRows) and `demand` (nCols) must
 * be finite, ≥ 0 and have equal sums (the caller rescales), `cost` finite, row-major.
 */
export function transportNetworkSimplex(
  supply: Float64Array,
  demand: Float64Array,
  cost: Float64Array,
  nRows: number,
  nCols: number,
  maxIterations: number,
): NetworkSimplexResult {
  const m = nRows * nCols;
  const root = nRows + nCols;
  const nNodes = root + 1;
  if (m + nNodes > 0x7fffffff) {
    throw new Error(`transportNetworkSimplex: ${nRows}x${nCols} has more arcs than int32 arc indices allow`);
  }

  let cMin = Infinity;
  let cMax = -Infinity;
  for (let e = 0; e < m; e++) {
    const c = cost[e];
    if (c < cMin) cMin = c;
    if (c > cMax) cMax = c;
  }
  const range = cMax - cMin;
  const maxAbs = Math.max(Math.abs(cMin), Math.abs(cMax));
  // any path through R costs at least bigM + cMin > cMax, the cost of the direct arc
  const bigM = 2 * (range + maxAbs) || 1;
  // reduced costs above −tol count as zero (rounding in π is a few ulps of bigM)
  const tol = 1e-12 * bigM;

  const plan = new Float64Array(m);
  const artFlow = new Float64Array(root);
  const artCost = new Float64Array(root);
  const nonTree = new Uint8Array(m).fill(1); // 1: arc at its lower bound 0, 0: tree arc

  const parent = new Int32Array(nNodes);
  const predArc = new Int32Array(nNodes);
  const predUp = new Uint8Array(nNodes); // 1: arc to parent points node → parent
  const depth = new Int32Array(nNodes);
  const firstChild = new Int32Array(nNodes).fill(-1);
  const nextSib = new Int32Array(nNodes).fill(-1);
  const prevSib = new Int32Array(nNodes).fill(-1);
  const pi = new Float64Array(nNodes);
  const piCol = pi.subarray(nRows, root);

  // initial strongly feasible basis: each node hangs from the root by its artificial arc
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
      artFlow[u] = supply[u];
    } else if (demand[u - nRows] > 0) {
      predUp[u] = 0;
      artFlow[u] = demand[u - nRows];
      artCost[u] = bigM;
      pi[u] = -bigM;
    } else {
      predUp[u] = 1; // zero-weight column: upward arc with zero flow keeps strong feasibility
    }
  }

  const blockSize = Math.max(10, Math.ceil(Math.sqrt(m)));
  let scanRow = 0;
  let scanCol = 0;

  /** Block search; returns the entering arc or −1 when no reduced cost is below −tol. */
  function findEnteringArc(): number {
    let i = scanRow;
    let j = scanCol;
    let e = i * nCols + j;
    let piRow = pi[i];
    let best = -tol;
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
        if (r < best && nonTree[e] === 1) {
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
    scanRow = i;
    scanCol = j;
    return bestArc;
  }

  function unlinkChild(p: number, c: number): void {
    const before = prevSib[c];
    const after = nextSib[c];
    if (before >= 0) nextSib[before] = after;
    else firstChild[p] = after;
    if (after >= 0) prevSib[after] = before;
  }

  function linkChild(p: number, c: number): void {
    const first = firstChild[p];
    nextSib[c] = first;
    prevSib[c] = -1;
    if (first >= 0) prevSib[first] = c;
    firstChild[p] = c;
    parent[c] = p;
  }

  /** Pivots arc e = (row s, column t) into the basis. */
  function pivot(enteringArc: number): void {
    const s = (enteringArc / nCols) | 0;
    const t = nRows + (enteringArc - (s * nCols));

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
      if (predUp[u] === 1) {
        const e = predArc[u];
        const f = e < m ? plan[e] : artFlow[e - m];
        if (f < delta) {
          delta = f;
          leaving = u;
        }
      }
    }
    for (let u = t; u !== apex; u = parent[u]) {
      if (predUp[u] === 0) {
        const e = predArc[u];
        const f = e < m ? plan[e] : artFlow[e - m];
        if (f <= delta) {
          delta = f;
          leaving = u;
          leavingOnSourceSide = false;
        }
      }
    }
    if (leaving < 0) {
      // a cycle of uncapacitated arcs with negative cost cannot exist in this network
      throw new Error('transportNetworkSimplex: unbounded pivot (internal error)');
    }

    if (delta > 0) {
      plan[enteringArc] += delta;
      for (let u = s; u !== apex; u = parent[u]) {
        const e = predArc[u];
        const d = predUp[u] === 1 ? -delta : delta;
        if (e < m) plan[e] += d;
        else artFlow[e - m] += d;
      }
      for (let u = t; u !== apex; u = parent[u]) {
        const e = predArc[u];
        const d = predUp[u] === 1 ? delta : -delta;
        if (e < m) plan[e] += d;
        else artFlow[e - m] += d;
      }
    }
    const leavingArc = predArc[leaving];
    if (leavingArc < m) {
      plan[leavingArc] = 0;
      nonTree[leavingArc] = 1;
    } else {
      artFlow[leavingArc - m] = 0;
    }
    nonTree[enteringArc] = 0;

    // Re-hang the subtree below the leaving arc from the entering arc: reverse the stem
    // path uIn → ... → leaving so that uIn becomes its top node, child of vIn.
    const uIn = leavingOnSourceSide ? s : t;
    const vIn = leavingOnSourceSide ? t : s;
    const sigma = leavingOnSourceSide
      ? pi[t] + cost[enteringArc] - pi[s] // new π_s = π_t + C_st
      : pi[s] - cost[enteringArc] - pi[t]; // new π_t = π_s − C_st
    let newParent = vIn;
    let arc = enteringArc;
    let up = leavingOnSourceSide ? 1 : 0;
    let node = uIn;
    for (;;) {
      const oldParent = parent[node];
      const oldArc = predArc[node];
      const oldUp = predUp[node];
      unlinkChild(oldParent, node);
      linkChild(newParent, node);
      predArc[node] = arc;
      predUp[node] = up;
      if (node === leaving) break;
      newParent = node;
      arc = oldArc;
      up = 1 - oldUp;
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

  /** Recomputes π exactly from the tree (π_root = 0), removing drift from the updates. */
  function recomputePotentials(): void {
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

  let iterations = 0;
  let status: NetworkSimplexStatus = 'optimal';
  for (;;) {
    let entering = findEnteringArc();
    if (entering < 0) {
      recomputePotentials();
      entering = findEnteringArc();
      if (entering < 0) break;
    }
    if (iterations >= maxIterations) {
      status = 'max_iterations';
      recomputePotentials();
      break;
    }
    pivot(entering);
    iterations++;
  }

  return { plan, potentials: pi, artificialFlow: artFlow, iterations, status };
}

import { strict as assert } from 'node:assert';
import { greedyStart } from '../../../lib/goracs/greedy';
import { poo } from '../../../lib/goracs/poo';
import { applySwaps, checkSwaps, isFound, isImprovement, refine, RefineSession, RefineState, RefineTraceEntry, Swap } from '../../../lib/goracs/refine';
import { DlabInputError } from '../../../lib/errors';
import { PooChain } from '../../../lib/goracs/swap-chain';
import { levelInstance, plantedInstance, randomInstance, randomRows } from './fixtures';

const inst = randomInstance(40, 16, 21);
const start = randomRows(inst.nT, 5, 21);
const cfg = { maxIters: 100, cutNum: 3 };

async function run(hooks: Parameters<typeof refine>[5] = {}, initial = start, config = cfg): Promise<RefineState> {
  return refine(inst.cost, inst.nT, inst.nV, initial, config, hooks);
}

/** POO of S with `out` replaced by `in`, by a cold exact solve (no warm start, no bound). */
function coldSwapPoo(c: { cost: Float64Array; nT: number; nV: number }, S: Int32Array, swap: Swap): number {
  return poo(c.cost, c.nT, c.nV, Int32Array.from(applySwaps(S, [swap]))).value;
}

/**
 * The workflow's way: each iteration's candidates split into ranges of `size`, evaluated on
 * alternating sessions ("workers"), the later ranges first; the smallest improving index wins.
 */
async function splitRun(c: { cost: Float64Array; nT: number; nV: number }, initial: Int32Array, size: number, workers = 2): Promise<RefineTraceEntry[]> {
  const sessions = Array.from({ length: workers }, () => new RefineSession(c.cost, c.nT, c.nV, initial, cfg.cutNum));
  const stats = { solves: 0, pruned: 0, pivots: 0 };
  const accepted: Swap[] = [];
  const trace: RefineTraceEntry[] = [{ iter: 0, poo: sessions[0].poo, swapOut: -1, swapIn: -1, solverIterations: sessions[0].solverIterations, candidatesTried: 0 }];
  const nSwaps = RefineSession.candidateCount(c.nT, initial.length, cfg.cutNum);
  for (let iter = 0; iter < cfg.maxIters; iter++) {
    const poo = trace[trace.length - 1].poo;
    const ranges = Array.from({ length: Math.ceil(nSwaps / size) }, (_, k) => [k * size, Math.min(nSwaps, (k + 1) * size)]);
    const verdicts = [];
    for (let k = ranges.length - 1; k >= 0; k--) verdicts[k] = await sessions[k % workers].evaluate(accepted, poo, ranges[k][0], ranges[k][1], stats);
    const best = verdicts.find(isFound);
    if (!best) break;
    accepted.push(best.swap);
    trace.push({ iter: iter + 1, poo: best.poo, swapOut: best.swap.out, swapIn: best.swap.in, solverIterations: best.solverIterations, candidatesTried: best.index + 1 });
  }
  return trace;
}

describe('goracs refine: first-improvement swaps guided by dual scores', () => {
  let reference: RefineState;
  let reported: RefineState[];
  before(async () => {
    reported = [];
    reference = await run({ onProgress: (s) => void reported.push(JSON.parse(JSON.stringify(s))) });
  });

  it('POO strictly decreases along the trace and matches a cold exact solve of each reported selection (1e-12 relative)', () => {
    assert.ok(reference.iter >= 3, `expected several accepted swaps, got ${reference.iter}`);
    const close = (x: number, y: number) => assert.ok(Math.abs(x - y) <= 1e-12 * Math.abs(y), `${x} vs cold ${y}`);
    close(reference.trace[0].poo, poo(inst.cost, inst.nT, inst.nV, start).value);
    for (let t = 1; t < reference.trace.length; t++) assert.ok(reference.trace[t].poo < reference.trace[t - 1].poo);
    for (const s of reported) close(s.poo, poo(inst.cost, inst.nT, inst.nV, Int32Array.from(s.selected)).value);
  });

  it('the dual lower bound rules swaps out without changing the choice: every ruled-out swap is non-improving by exact solve', async () => {
    const stats = { solves: 0, pruned: 0, pivots: 0 };
    assert.deepEqual(await run({ stats }), reference);
    assert.ok(stats.pruned > 0, 'some swaps ruled out');
    for (const s of [start, ...reported.map((r) => Int32Array.from(r.selected))]) {
      const chain = new PooChain(inst.cost, inst.nV, s);
      const bound = chain.lowerBound();
      for (let pos = 0; pos < s.length; pos++) {
        for (let i = 0; i < inst.nT; i++) {
          if (s.includes(i)) continue;
          const exact = coldSwapPoo(inst, s, { out: s[pos], in: i });
          assert.ok(bound(pos, i) <= exact + 1e-12, `bound ${bound(pos, i)} > POO ${exact} for ${s[pos]} → ${i}`);
        }
      }
    }
  });

  it('tied costs (levels of 1/8): ranges on three sessions give the trace of refine, and every POO equals a cold exact solve', async () => {
    const lv = levelInstance(30, 12, 4);
    const init = randomRows(lv.nT, 4, 4);
    const reports: RefineState[] = [];
    const warm = await refine(lv.cost, lv.nT, lv.nV, init, cfg, { onProgress: (st) => void reports.push(JSON.parse(JSON.stringify(st))) });
    assert.deepEqual(await splitRun(lv, init, 2, 3), warm.trace);
    for (const r of reports) assert.ok(Math.abs(r.poo - poo(lv.cost, lv.nT, lv.nV, Int32Array.from(r.selected)).value) <= 1e-12 * Math.abs(r.poo));
  });

  it('reports after every accepted swap and once at the end; each swap replaces out by in at its position', () => {
    assert.equal(reported.length, reference.iter + 1);
    assert.deepEqual(reported[reported.length - 1], reference);
    for (let t = 1; t <= reference.iter; t++) {
      const { swapOut, swapIn } = reference.trace[t];
      const before = t === 1 ? Array.from(start) : reported[t - 2].selected;
      const after = reported[t - 1].selected;
      assert.deepEqual(after, before.map((r) => (r === swapOut ? swapIn : r)));
    }
  });

  it('stops with no_improving_swap; with cutNum covering the whole pool that is a local optimum for every single swap', async () => {
    assert.equal(reference.reason, 'no_improving_swap');
    const full = await run({}, start, { maxIters: 100, cutNum: inst.nT });
    assert.equal(full.reason, 'no_improving_swap');
    const S = Int32Array.from(full.selected);
    const swaps: Swap[] = [];
    for (const out of full.selected) for (let i = 0; i < inst.nT; i++) if (!full.selected.includes(i)) swaps.push({ out, in: i });
    for (const swap of swaps) assert.ok(!isImprovement(coldSwapPoo(inst, S, swap), full.poo), `swap ${JSON.stringify(swap)} improves`);
  });

  it('stops with max_iters after exactly maxIters accepted swaps (0 → no swap at all)', async () => {
    const two = await run({}, start, { maxIters: 2, cutNum: 3 });
    assert.equal(two.reason, 'max_iters');
    assert.equal(two.iter, 2);
    assert.deepEqual(two.trace, reference.trace.slice(0, 3));
    const zero = await run({}, start, { maxIters: 0, cutNum: 3 });
    assert.equal(zero.reason, 'max_iters');
    assert.deepEqual(zero.selected, Array.from(start));
  });

  it('resumes from a mid-run state (JSON round trip) to the final state of the uninterrupted run', async () => {
    const mid = JSON.parse(JSON.stringify(reported[1])) as RefineState;
    assert.equal(mid.iter, 2);
    assert.deepEqual(await run({ resume: mid }), reference);
  });

  it('an attempt aborted after its 2nd swap, resumed from its last report, ends where an uninterrupted run ends', async () => {
    const controller = new AbortController();
    let last: RefineState | undefined;
    const onProgress = (s: RefineState) => {
      last = JSON.parse(JSON.stringify(s));
      if (s.iter === 2) controller.abort();
    };
    await assert.rejects(run({ signal: controller.signal, onProgress }));
    assert.equal(last?.iter, 2);
    assert.deepEqual(await run({ resume: last }), reference);
  });

  it('split over sessions (two "workers", ranges of 1, 4 and all cutNum² swaps, evaluated in any order): the trace of refine, bit for bit', async () => {
    for (const size of [1, 4, cfg.cutNum * cfg.cutNum]) assert.deepEqual(await splitRun(inst, start, size), reference.trace, `range size ${size}`);
  });

  it('planted instance (validation clustered at 5 pool points): greedy and refine beat 20 random subsets; exhaustive candidates reach the planted rows', async () => {
    const p = plantedInstance(80, 40, 5, 3);
    const g = greedyStart(p.cost, p.nT, p.nV, 5);
    const greedyPoo = poo(p.cost, p.nT, p.nV, g.rows).value;
    const refined = await refine(p.cost, p.nT, p.nV, g.rows, { maxIters: 20, cutNum: 3 });
    assert.ok(refined.poo <= greedyPoo);
    for (let seed = 0; seed < 20; seed++) {
      const random = poo(p.cost, p.nT, p.nV, randomRows(p.nT, 5, 100 + seed)).value;
      assert.ok(greedyPoo < random && refined.poo < random, `random subset ${seed}: ${random}`);
    }
    // the greedy start keeps one central non-planted row (it has the smallest row sum);
    // with every swap a candidate the refinement replaces it by the missing centre
    const exhaustive = await refine(p.cost, p.nT, p.nV, g.rows, { maxIters: 20, cutNum: p.nT });
    assert.deepEqual([...exhaustive.selected].sort((a, b) => a - b), [0, 1, 2, 3, 4]);
    assert.ok(exhaustive.poo < greedyPoo / 5);
  });

  it('planted instance, dualScore option: with cutNum 4 the R-th smallest swaps the central row for the missing centre in one swap; the R-th largest (default) finds no improving swap', async () => {
    const p = plantedInstance(80, 40, 5, 3);
    const g = greedyStart(p.cost, p.nT, p.nV, 5);
    const largest = await refine(p.cost, p.nT, p.nV, g.rows, { maxIters: 20, cutNum: 4 });
    assert.deepEqual(await refine(p.cost, p.nT, p.nV, g.rows, { maxIters: 20, cutNum: 4, dualScore: 'rth-largest' }), largest);
    assert.equal(largest.iter, 0);
    assert.equal(largest.reason, 'no_improving_swap');
    const smallest = await refine(p.cost, p.nT, p.nV, g.rows, { maxIters: 20, cutNum: 4, dualScore: 'rth-smallest' });
    assert.equal(smallest.iter, 1);
    assert.deepEqual([...smallest.selected].sort((a, b) => a - b), [0, 1, 2, 3, 4]);
    assert.ok(smallest.poo < largest.poo / 5);
  });

  describe('bad input', () => {
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['cutNum 0', () => run({}, start, { maxIters: 1, cutNum: 0 }), /cfg.cutNum must be an integer >= 1, found 0/],
      ['negative maxIters', () => run({}, start, { maxIters: -1, cutNum: 1 }), /cfg.maxIters must be an integer >= 0/],
      ['initial row out of range', () => run({}, new Int32Array([0, 40])), /initial\[1\] = 40, expected a pool row in \[0, 40\)/],
      ['resume state with a repeated row', () => run({ resume: { ...reference, selected: [1, 1] } }), /resume.selected\[1\] = 1 appears twice/],
      ['resume state without selected', () => run({ resume: { ...reference, selected: undefined as unknown as number[] } }), /resume.selected: expected an array/],
      ['cost of the wrong length', () => refine(new Float64Array(3), 2, 2, start, cfg), /cost has length 3, expected nT·nV = 2·2 = 4/],
    ];
    for (const [name, fn, message] of cases) {
      it(name, () => assert.rejects(fn, (e: unknown) => e instanceof DlabInputError && message.test(e.message)));
    }
    it('resume state that does not follow from initial (another start) is refused', async () => {
      const other = randomRows(inst.nT, 5, 99);
      await assert.rejects(run({ resume: reported[1] }, other), (e: unknown) => e instanceof DlabInputError && /does not (apply|follow)/.test(e.message));
    });
    it('a heartbeat whose POO differs in the last bits (an earlier solver) resumes with the replayed POO and ends as the uninterrupted run', async () => {
      const r = reported[1];
      const resumed = await run({ resume: { ...r, poo: r.poo * (1 + 1e-15) } });
      assert.deepEqual(resumed.selected, reference.selected);
      assert.equal(resumed.poo, reference.poo);
    });
    it('a session refuses accepted swaps that do not extend its own, and a POO other than its chain\'s', async () => {
      const session = new RefineSession(inst.cost, inst.nT, inst.nV, start, cfg.cutNum);
      const stats = { solves: 0, pruned: 0, pivots: 0 };
      await assert.rejects(session.evaluate([], session.poo + 1e-9, 0, 1, stats), /POO of the selection after 0 swaps/);
      const first = { out: reference.trace[1].swapOut, in: reference.trace[1].swapIn };
      await session.evaluate([first], reference.trace[1].poo, 0, 1, stats);
      await assert.rejects(session.evaluate([], reference.trace[0].poo, 0, 1, stats), /do not extend/);
      await assert.rejects(session.evaluate([first], reference.trace[1].poo, 0, 10_000, stats), /outside the 9 candidate swaps/);
    });
    it('candidate swaps and accepted swaps that do not apply are named', () => {
      const S = new Int32Array([0, 1]);
      assert.throws(() => checkSwaps([{ out: 0, in: 5 }, { out: 2, in: 6 }], S, inst.nT), /swaps\[1\].out = 2, expected a selected pool row/);
      assert.throws(() => checkSwaps([{ out: 0, in: 1 }], S, inst.nT), /swaps\[0\].in = 1 is already selected/);
      assert.throws(() => applySwaps(S, [{ out: 0, in: 5 }, { out: 0, in: 6 }]), /swap 1 \(0 → 6\) does not apply/);
    });
  });
});

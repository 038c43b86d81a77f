import { strict as assert } from 'node:assert';
import { AdamWConfig, DEFAULT_ADAMW, adamwStep, initAdamW } from '../../../lib/rl/adamw';

const close = (a: number, b: number, tol = 1e-6, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);
const cfg: AdamWConfig = { ...DEFAULT_ADAMW, lr: 0.1, weightDecay: 0.1, gradClip: 0, warmupSteps: 0 };

describe('rl/adamw', () => {
  it('one step by hand: p = [1, 1], g = [1, −2], lr 0.1, wd 0.1 → p·(1 − 0.01) ∓ 0.1 = [0.89, 1.09]', () => {
    // step 1: m̂ = g, v̂ = g², so the Adam step is lr·g/(|g| + eps) = ±0.1
    const params = [Float32Array.from([1, 1])];
    const state = initAdamW(params);
    const r = adamwStep(params, [Float32Array.from([1, -2])], state, cfg);
    close(params[0][0], 0.89);
    close(params[0][1], 1.09);
    close(state.m[0][0], 0.1);
    close(state.m[0][1], -0.2);
    close(state.v[0][0], 0.001, 1e-9);
    close(state.v[0][1], 0.004, 1e-9);
    assert.equal(state.step, 1);
    close(r.gradNorm, Math.sqrt(5), 1e-12);
    assert.equal(r.clippedNorm, r.gradNorm);
    assert.equal(r.lr, 0.1);
  });

  it('bias correction: the same gradient twice gives m̂ = g, v̂ = g² again → p = 0.89·0.99 − 0.1 = 0.7811', () => {
    const params = [Float32Array.from([1])];
    const state = initAdamW(params);
    adamwStep(params, [Float32Array.from([1])], state, cfg);
    adamwStep(params, [Float32Array.from([1])], state, cfg);
    close(params[0][0], 0.7811);
  });

  it('noDecay leaves an array (a bias) undecayed: [W, b] = [[1], [1]], g = [[1], [1]] → [0.89, 0.9]', () => {
    const params = [Float32Array.from([1]), Float32Array.from([1])];
    adamwStep(params, [Float32Array.from([1]), Float32Array.from([1])], initAdamW(params), cfg, { noDecay: [false, true] });
    close(params[0][0], 0.89);
    close(params[1][0], 0.9);
  });

  it('linear warm-up over 4 steps: lr_t = 0.025, 0.05, 0.075, 0.1, then 0.1', () => {
    const params = [Float32Array.from([0])];
    const state = initAdamW(params);
    const lrs: number[] = [];
    for (let i = 0; i < 5; i++) lrs.push(adamwStep(params, [Float32Array.from([1])], state, { ...cfg, warmupSteps: 4 }).lr);
    lrs.forEach((lr, i) => close(lr, [0.025, 0.05, 0.075, 0.1, 0.1][i], 1e-15));
  });

  it('global-norm clipping: g = [3] and [4] (norm 5) with gradClip 1 is scaled to norm 1; grads are not modified', () => {
    const params = [Float32Array.from([0]), Float32Array.from([0])];
    const grads = [Float32Array.from([3]), Float32Array.from([4])];
    const state = initAdamW(params);
    const r = adamwStep(params, grads, state, { ...cfg, gradClip: 1 });
    close(r.gradNorm, 5, 1e-12);
    close(r.clippedNorm, 1, 1e-6);
    // m = (1 − β1)·g·(1/5) = [0.06, 0.08]
    close(state.m[0][0], 0.06);
    close(state.m[1][0], 0.08);
    assert.deepEqual([grads[0][0], grads[1][0]], [3, 4]);
  });

  it('a gradient under the clip norm is untouched', () => {
    const params = [Float32Array.from([0, 0])];
    const r = adamwStep(params, [Float32Array.from([0.3, 0.4])], initAdamW(params), { ...cfg, gradClip: 1 });
    close(r.gradNorm, 0.5, 1e-7);
    assert.equal(r.clippedNorm, r.gradNorm);
  });

  it('refuses mismatched shapes, naming the array', () => {
    const params = [Float32Array.from([0, 0])];
    assert.throws(() => adamwStep(params, [new Float32Array(3)], initAdamW(params), cfg), /array 0 has 2 parameters but grad\/m\/v have 3\/2\/2/);
  });
});

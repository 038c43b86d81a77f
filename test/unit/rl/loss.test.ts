import { strict as assert } from 'node:assert';
import {
  DEFAULT_POLICY_LOSS,
  PolicyLossConfig,
  clippedTokenLoss,
  logitGradients,
  policyObjective,
  tokenLogProbs,
} from '../../../lib/rl/loss';
import { Rng } from '../../../lib/rng';

const close = (a: number, b: number, tol = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);
const noNll: PolicyLossConfig = { ...DEFAULT_POLICY_LOSS, nllCoef: 0 };

/** clippedTokenLoss at ratio ρ (logpOld = 0, logpNew = ln ρ). */
function at(rho: number, A: number) {
  return clippedTokenLoss(Math.log(rho), 0, A, DEFAULT_POLICY_LOSS);
}

describe('rl/loss: clipped token loss (ε_low 0.2, ε_high 0.28, dual clip 10)', () => {
  it('A=1, ρ=1.1 inside [0.8, 1.28]: ℓ = −1.1, dℓ/dlogp = −Aρ = −1.1', () => {
    const r = at(1.1, 1);
    close(r.loss, -1.1, 1e-12);
    close(r.dLogp, -1.1, 1e-12);
    assert.equal(r.clipped, false);
  });
  it('A=1, ρ=1.5 above: ℓ = max(−1.5, −1.28) = −1.28, constant → dℓ = 0, clipped', () => {
    const r = at(1.5, 1);
    close(r.loss, -1.28);
    assert.equal(r.dLogp, 0);
    assert.equal(r.clipped, true);
  });
  it('A=1, ρ=0.5 below: ℓ = max(−0.5, −0.8) = −0.5 (unclipped), dℓ = −0.5', () => {
    const r = at(0.5, 1);
    close(r.loss, -0.5);
    close(r.dLogp, -0.5);
    assert.equal(r.clipped, false);
  });
  it('A=−1, ρ=0.5 below: ℓ = max(0.5, 0.8) = 0.8, constant → dℓ = 0, clipped', () => {
    const r = at(0.5, -1);
    close(r.loss, 0.8);
    assert.equal(r.dLogp, 0);
    assert.equal(r.clipped, true);
  });
  it('A=−2, ρ=1.5 above: ℓ = max(3, 2.56) = 3 < dual cap 20 → unclipped, dℓ = −Aρ = 3', () => {
    const r = at(1.5, -2);
    close(r.loss, 3);
    close(r.dLogp, 3);
    assert.equal(r.clipped, false);
  });
  it('A=−1, ρ=20: ℓ = min(max(20, 1.28), −A·10) = 10 (dual clip), dℓ = 0, clipped', () => {
    const r = at(20, -1);
    close(r.loss, 10);
    assert.equal(r.dLogp, 0);
    assert.equal(r.clipped, true);
  });
  it('A=0 gives ℓ = 0 and no gradient', () => {
    const r = at(1.7, 0);
    assert.ok(Object.is(r.loss, 0) && Object.is(r.dLogp, 0) && !r.clipped);
  });
});

describe('rl/loss: policyObjective (token-mean)', () => {
  it('averages over all tokens of the batch, not per response: ℓ = [−1 | 1, 1, 1] → 0.5, dLogp = [−1/4, 1/4, 1/4, 1/4]', () => {
    // response 1: one token, A = +1; response 2: three tokens, A = −1; ρ = 1 everywhere
    const logp = Float64Array.from([-0.5, -1, -2, -3]);
    const r = policyObjective(
      { logpNew: logp, logpOld: logp, advantage: Float64Array.from([1, -1, -1, -1]), nllMask: new Uint8Array(4) },
      noNll,
    );
    close(r.pgLoss, 0.5);
    close(r.loss, 0.5);
    assert.equal(r.nllLoss, 0);
    assert.equal(r.tokens, 4);
    assert.equal(r.clipFraction, 0);
    assert.deepEqual(Array.from(r.dLogp), [-0.25, 0.25, 0.25, 0.25]);
  });

  it('NLL covers masked (correct-response) tokens only: λ=0.1 · mean(0.5, 1) = 0.075, dLogp −= 0.1/2 on them', () => {
    const logp = Float64Array.from([-0.5, -1, -2, -3]);
    const r = policyObjective(
      { logpNew: logp, logpOld: logp, advantage: new Float64Array(4), nllMask: Uint8Array.from([1, 1, 0, 0]) },
      DEFAULT_POLICY_LOSS,
    );
    close(r.nllLoss, 0.075);
    close(r.loss, 0.075);
    assert.deepEqual(Array.from(r.dLogp), [-0.05, -0.05, 0, 0]);
  });

  it('no correct tokens → nllLoss 0; no tokens at all → zeros', () => {
    const logp = Float64Array.from([-1]);
    const r = policyObjective({ logpNew: logp, logpOld: logp, advantage: Float64Array.from([1]), nllMask: new Uint8Array(1) });
    assert.equal(r.nllLoss, 0);
    const empty = policyObjective({ logpNew: new Float64Array(0), logpOld: new Float64Array(0), advantage: new Float64Array(0), nllMask: new Uint8Array(0) });
    assert.deepEqual([empty.loss, empty.tokens, empty.dLogp.length], [0, 0, 0]);
  });

  it('clipFraction counts clipped and dual-clipped tokens: ρ [1.1, 1.5, 0.5, 20], A [1, 1, −1, −1] → 3 of 4', () => {
    // (1.1, +1) unclipped; (1.5, +1) clipped at 1.28; (0.5, −1) clipped at 0.8; (20, −1) dual-clipped at 10
    const logpNew = Float64Array.from([Math.log(1.1), Math.log(1.5), Math.log(0.5), Math.log(20)]);
    const r = policyObjective({ logpNew, logpOld: new Float64Array(4), advantage: Float64Array.from([1, 1, -1, -1]), nllMask: new Uint8Array(4) }, noNll);
    assert.equal(r.clipFraction, 3 / 4);
    close(r.pgLoss, (-1.1 - 1.28 + 0.8 + 10) / 4, 1e-12);
    close(r.dLogp[0], -1.1 / 4, 1e-12);
    assert.deepEqual(Array.from(r.dLogp.subarray(1)), [0, 0, 0]);
  });

  it('refuses arrays of different lengths, naming the array', () => {
    assert.throws(
      () => policyObjective({ logpNew: new Float64Array(3), logpOld: new Float64Array(3), advantage: new Float64Array(2), nllMask: new Uint8Array(3) }),
      /advantage.*N = 3.*found 2/,
    );
  });
});

describe('rl/loss: logits', () => {
  it('tokenLogProbs: logits [0, ln 3] → log p = [ln 1/4, ln 3/4]', () => {
    const lp = tokenLogProbs(Float32Array.from([0, Math.log(3), 0, Math.log(3)]), Int32Array.from([0, 1]), 2);
    close(lp[0], Math.log(0.25), 1e-7);
    close(lp[1], Math.log(0.75), 1e-7);
  });

  it('logitGradients without KL: logits [0, 0], target 0, dLogp 1 → g = e_0 − p = [0.5, −0.5]', () => {
    const out = new Float32Array(2);
    const r = logitGradients(Float32Array.from([0, 0]), Int32Array.from([0]), Float64Array.from([1]), 2, out);
    assert.deepEqual(Array.from(out), [0.5, -0.5]);
    assert.equal(r.klMean, 0);
  });

  it('KL(p‖q) for p = [1/2, 1/2], q = [1/4, 3/4] is ½ ln(4/3); its gradient is p ⊙ (log p − log q − KL)', () => {
    const out = new Float64Array(2);
    const r = logitGradients(Float64Array.from([0, 0]), Int32Array.from([0]), Float64Array.from([0]), 2, out, {
      refLogits: Float64Array.from([0, Math.log(3)]),
      coef: 1,
      tokens: 1,
    });
    const kl = 0.5 * Math.log(4 / 3);
    close(r.klMean, kl, 1e-15);
    close(out[0], 0.5 * (Math.log(2) - kl), 1e-15);
    close(out[1], 0.5 * (Math.log(2 / 3) - kl), 1e-15);
  });

  it('equals central finite differences of pg + NLL + KL w.r.t. the logits (float64 reference)', () => {
    const rng = new Rng(7, 1);
    const N = 5;
    const V = 7;
    const z = new Float64Array(N * V);
    const zRef = new Float64Array(N * V);
    for (let i = 0; i < N * V; i++) {
      z[i] = rng.normal();
      zRef[i] = z[i] + 0.5 * rng.normal();
    }
    const targets = Int32Array.from([0, 3, 6, 2, 2]);
    const advantage = Float64Array.from([1, 1, -1, -1, 2]);
    const nllMask = Uint8Array.from([1, 1, 0, 0, 1]);
    // ratios at the current logits: inside, above, below (clipped), dual-clipped, inside
    const rho = [1.1, 1.5, 0.5, 20, 0.9];
    const lp0 = tokenLogProbs(z, targets, V);
    const logpOld = Float64Array.from(lp0, (l, t) => l - Math.log(rho[t]));
    const cfg: PolicyLossConfig = { ...DEFAULT_POLICY_LOSS, nllCoef: 0.3, klCoef: 0.7 };

    const lossAt = (zz: Float64Array): number => {
      const logpNew = tokenLogProbs(zz, targets, V);
      const obj = policyObjective({ logpNew, logpOld, advantage, nllMask }, cfg);
      let klSum = 0;
      for (let t = 0; t < N; t++) {
        const lp = logSoftmax(zz.subarray(t * V, (t + 1) * V));
        const lq = logSoftmax(zRef.subarray(t * V, (t + 1) * V));
        for (let v = 0; v < V; v++) klSum += Math.exp(lp[v]) * (lp[v] - lq[v]);
      }
      return obj.loss + (cfg.klCoef * klSum) / N;
    };

    const obj = policyObjective({ logpNew: lp0, logpOld, advantage, nllMask }, cfg);
    assert.equal(obj.clipFraction, 3 / 5);
    const g = new Float64Array(N * V);
    logitGradients(z, targets, obj.dLogp, V, g, { refLogits: zRef, coef: cfg.klCoef, tokens: N });

    const h = 1e-6;
    let maxErr = 0;
    for (let i = 0; i < N * V; i++) {
      const zp = Float64Array.from(z);
      const zm = Float64Array.from(z);
      zp[i] += h;
      zm[i] -= h;
      const fd = (lossAt(zp) - lossAt(zm)) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(fd - g[i]));
    }
    assert.ok(maxErr < 1e-8, `max |analytic − finite difference| = ${maxErr}`);

    // float32 logits and output agree with the float64 path to float32 precision
    const g32 = new Float32Array(N * V);
    logitGradients(Float32Array.from(z), targets, obj.dLogp, V, g32, { refLogits: Float32Array.from(zRef), coef: cfg.klCoef, tokens: N });
    for (let i = 0; i < N * V; i++) close(g32[i], g[i], 1e-6, `g32[${i}]`);
  });

  it('refuses a target outside the vocabulary and a logits array of the wrong size', () => {
    assert.throws(() => tokenLogProbs(new Float32Array(4), Int32Array.from([0, 2]), 2), /targets\[1\] must be in \[0, 2\), found 2/);
    assert.throws(() => tokenLogProbs(new Float32Array(5), Int32Array.from([0, 1]), 2), /N·V = 2·2 = 4.*found 5/);
  });
});

function logSoftmax(z: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of z) max = Math.max(max, x);
  let s = 0;
  for (const x of z) s += Math.exp(x - max);
  const lse = max + Math.log(s);
  return Float64Array.from(z, (x) => x - lse);
}

import { strict as assert } from 'node:assert';
import { binaryAuc } from '../../../lib/goracs/evaluate';
import { makeHead } from '../../../lib/model/head';

/**
 * GORACS binary evaluation: s_i = log π(yes | prompt_i) − log π(no | prompt_i), AUC against the
 * labels. With d = 1, vocab 2 and W = [[1], [−1]], the logits at hidden h are [h, −h], so
 * s = log σ(2h) − log σ(−2h) = 2h: the AUC is that of the hidden values themselves.
 */
describe('GORACS binary evaluation (AUC of yes-vs-no log-probs)', () => {
  const head = makeHead(new Float32Array([1, -1]), undefined, 2, 1);
  const oneToken = (hidden: number[], token: number) => ({
    hidden: Float32Array.from(hidden),
    targets: new Int32Array(hidden.length).fill(token),
    offsets: Int32Array.from({ length: hidden.length + 1 }, (_, i) => i),
  });

  it('ranks by h: positives at h = 0.9, 0.4 and negatives at 0.5, −1 ⇒ 3 of 4 pairs ordered ⇒ AUC 0.75', async () => {
    const h = [0.9, 0.5, 0.4, -1];
    const labels = Uint8Array.from([1, 0, 1, 0]);
    assert.equal(await binaryAuc(head, { yes: oneToken(h, 0), no: oneToken(h, 1), labels }), 0.75);
  });

  it('sums a text’s token log-probs: the second yes token decides the order (first tokens say AUC 0, sums say AUC 1)', async () => {
    // row 0 (label 1): yes tokens at h = 0, 3; no at h = 0 → s = log½ + log σ(6) − log½ ≈ −0.0025
    // row 1 (label 0): yes tokens at h = 0.5, −3; no at h = 0 → s = log σ(1) + log σ(−6) − log½ ≈ −5.62
    // the first yes token alone would rank row 1 higher (log σ(1) > log ½)
    const yes = { hidden: Float32Array.from([0, 3, 0.5, -3]), targets: Int32Array.from([0, 0, 0, 0]), offsets: Int32Array.from([0, 2, 4]) };
    assert.equal(await binaryAuc(head, { yes, no: oneToken([0, 0], 1), labels: Uint8Array.from([1, 0]) }), 1);
  });
});

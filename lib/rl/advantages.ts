/**
 * Group-relative advantages (GRPO, as in the DAPO/verl recipe) — docs/icrlvr.md, "Step 3 — advantages".
 *
 * A batch of B questions × G rollouts is laid out as consecutive groups: rollout i of
 * question q sits at index q·G + i. All arrays here are float64 of length B·G unless
 * stated otherwise.
 */

/**
 * GRPO advantage per rollout, group by group:
 *   A_i = (r_i − mean_g(r)) / (std_g(r) + eps)     (normalizeStd, default)
 *   A_i =  r_i − mean_g(r)                          (normalizeStd = false)
 * std is the population std (÷G), as in verl's `grpo` estimator.
 *   rewards   Float64Array(B·G)
 *   groupSize G ≥ 1
 * Returns Float64Array(B·G). A group whose rewards are all equal gets zeros.
 * Throws when rewards.length is not a multiple of G (both numbers in the message).
 */
export function groupAdvantages(
  rewards: Float64Array,
  groupSize: number,
  opts: { normalizeStd?: boolean; eps?: number } = {},
): Float64Array {
  const G = checkGroups('groupAdvantages', rewards.length, groupSize);
  const normalizeStd = opts.normalizeStd ?? true;
  const eps = opts.eps ?? 1e-6;
  const out = new Float64Array(rewards.length);
  for (let start = 0; start < rewards.length; start += G) {
    let mean = 0;
    for (let i = 0; i < G; i++) mean += rewards[start + i];
    mean /= G;
    let scale = 1;
    if (normalizeStd) {
      let variance = 0;
      for (let i = 0; i < G; i++) variance += (rewards[start + i] - mean) ** 2;
      scale = 1 / (Math.sqrt(variance / G) + eps);
    }
    for (let i = 0; i < G; i++) out[start + i] = (rewards[start + i] - mean) * scale;
  }
  return out;
}

/**
 * Dynamic sampling (DAPO): keep a group only when its rewards are not all equal
 * (an all-equal group has zero advantage and no gradient).
 *   rewards Float64Array(B·G) → Uint8Array(B), 1 = keep, 0 = drop.
 */
export function keepGroups(rewards: Float64Array, groupSize: number): Uint8Array {
  const G = checkGroups('keepGroups', rewards.length, groupSize);
  const keep = new Uint8Array(rewards.length / G);
  for (let g = 0; g < keep.length; g++) {
    const first = rewards[g * G];
    for (let i = 1; i < G; i++) {
      if (rewards[g * G + i] !== first) {
        keep[g] = 1;
        break;
      }
    }
  }
  return keep;
}

/**
 * Mode `eg-weighted`: the explicit form of the in-context reweighting,
 *   r̃_i = r_i · w_i / mean_g(w),   w_i = exp(clip(EG_i − mean_g(EG), clip[0], clip[1])).
 * Centring EG within the group leaves r̃ unchanged wherever the clip is inactive (w/mean w
 * does not see a constant shift) but makes the clip act on differences: raw EG of a toy
 * model sits around −30 for every rollout, and clipping it raw to [−5, 5] would give every
 * rollout the same weight, i.e. plain RLVR (measured: identical runs). This centring is
 * the project's reading of the spec's w = exp(clip(EG)).
 *   rewards, eg  Float64Array(B·G) → Float64Array(B·G)
 * The result is meant to go into `groupAdvantages`.
 */
export function egWeightedRewards(
  rewards: Float64Array,
  eg: Float64Array,
  groupSize: number,
  clip: [number, number] = [-5, 5],
): Float64Array {
  const G = checkGroups('egWeightedRewards', rewards.length, groupSize);
  if (eg.length !== rewards.length) {
    throw new RangeError(`egWeightedRewards: eg must have one value per reward (${rewards.length}), found ${eg.length}`);
  }
  if (!(clip[0] <= clip[1])) throw new RangeError(`egWeightedRewards: clip must be [low, high] with low ≤ high, found [${clip[0]}, ${clip[1]}]`);
  const out = new Float64Array(rewards.length);
  const w = new Float64Array(G);
  for (let start = 0; start < rewards.length; start += G) {
    let meanEg = 0;
    for (let i = 0; i < G; i++) {
      if (Number.isNaN(eg[start + i])) throw new RangeError(`egWeightedRewards: eg[${start + i}] is NaN`);
      meanEg += eg[start + i] / G;
    }
    let meanW = 0;
    for (let i = 0; i < G; i++) {
      w[i] = Math.exp(Math.min(clip[1], Math.max(clip[0], eg[start + i] - meanEg)));
      meanW += w[i];
    }
    meanW /= G;
    for (let i = 0; i < G; i++) out[start + i] = (rewards[start + i] * w[i]) / meanW;
  }
  return out;
}

/**
 * One value per response broadcast to that response's tokens (responses concatenated).
 *   perResponse Float64Array(R), lengths Int32Array(R) → Float64Array(Σ lengths)
 * E.g. advantages [A_0, A_1] with lengths [2, 3] → [A_0, A_0, A_1, A_1, A_1].
 */
export function perToken(perResponse: Float64Array, lengths: Int32Array): Float64Array {
  if (perResponse.length !== lengths.length) {
    throw new RangeError(`perToken: one length per response expected (${perResponse.length}), found ${lengths.length}`);
  }
  let total = 0;
  for (let r = 0; r < lengths.length; r++) {
    if (lengths[r] < 0) throw new RangeError(`perToken: lengths[${r}] must be ≥ 0, found ${lengths[r]}`);
    total += lengths[r];
  }
  const out = new Float64Array(total);
  let t = 0;
  for (let r = 0; r < lengths.length; r++) {
    for (let j = 0; j < lengths[r]; j++) out[t++] = perResponse[r];
  }
  return out;
}

function checkGroups(fn: string, n: number, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`${fn}: groupSize must be a positive integer, found ${groupSize}`);
  if (n % groupSize !== 0) {
    throw new RangeError(`${fn}: rewards.length (${n}) must be a multiple of groupSize (${groupSize})`);
  }
  return groupSize;
}

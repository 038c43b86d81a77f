import { Rng } from '../rng';
import type { GptConfig } from './gpt';

/**
 * The trainable weights of a GPT built by gpt.ts, keyed by the ONNX initializer names:
 *
 *   wte [V, d]   wpe [P, d]
 *   h.{i}.ln_1.weight|bias [d]          h.{i}.attn.{q,k,v,c_proj}.weight [d, d], .bias [d]
 *   h.{i}.ln_2.weight|bias [d]          h.{i}.mlp.c_fc.weight [d, F], .bias [F]
 *                                       h.{i}.mlp.c_proj.weight [F, d], .bias [d]
 *   ln_f.weight|bias [d]
 *   lm_head.weight [d, V]  (untied only)    lm_head.bias [V]  (headBias only)
 *
 * Linear weights are [inDim, outDim] row-major: y = x · W + b. All arrays are float32.
 */
export type GptWeights = Map<string, Float32Array>;

/** Name, shape and initial distribution of one weight, in the order the initialiser draws them. */
export interface GptWeightSpec {
  name: string;
  shape: number[];
  /** N(0, std²) from the seeded RNG; 'ones' / 'zeros' for LayerNorm γ / β and linear biases */
  init: { std: number } | 'ones' | 'zeros';
}

/**
 * Every weight of the decoder in RNG draw order (wte, wpe, per layer q, k, v, attn c_proj,
 * c_fc, mlp c_proj, then lm_head.weight and lm_head.bias). Residual projections use
 * std 0.02/√(2·nLayer); the head bias is drawn N(0, 0.02²) like the reference export.
 */
export function gptWeightSpecs(cfg: GptConfig): GptWeightSpec[] {
  const d = cfg.dModel;
  const F = cfg.dFf;
  const residualStd = 0.02 / Math.sqrt(2 * cfg.nLayer);
  const specs: GptWeightSpec[] = [
    { name: 'wte', shape: [cfg.vocab, d], init: { std: 0.02 } },
    { name: 'wpe', shape: [cfg.maxPos, d], init: { std: 0.01 } },
  ];
  const linear = (name: string, inDim: number, outDim: number, std: number) =>
    specs.push({ name: `${name}.weight`, shape: [inDim, outDim], init: { std } }, { name: `${name}.bias`, shape: [outDim], init: 'zeros' });
  const ln = (name: string) => specs.push({ name: `${name}.weight`, shape: [d], init: 'ones' }, { name: `${name}.bias`, shape: [d], init: 'zeros' });
  for (let i = 0; i < cfg.nLayer; i++) {
    ln(`h.${i}.ln_1`);
    for (const p of ['q', 'k', 'v']) linear(`h.${i}.attn.${p}`, d, d, 0.02);
    linear(`h.${i}.attn.c_proj`, d, d, residualStd);
    ln(`h.${i}.ln_2`);
    linear(`h.${i}.mlp.c_fc`, d, F, 0.02);
    linear(`h.${i}.mlp.c_proj`, F, d, residualStd);
  }
  ln('ln_f');
  if (cfg.tied === false) specs.push({ name: 'lm_head.weight', shape: [d, cfg.vocab], init: { std: 0.02 } });
  if (cfg.headBias) specs.push({ name: 'lm_head.bias', shape: [cfg.vocab], init: { std: 0.02 } });
  return specs;
}

/** Per weight array (gptWeightSpecs order): no AdamW weight decay on 1-D arrays (biases, LayerNorm); decay on every matrix, the embeddings included. */
export function gptNoDecay(cfg: GptConfig): boolean[] {
  return gptWeightSpecs(cfg).map((s) => s.shape.length === 1);
}

/** The weights buildDecoder creates for `cfg` (same seeded RNG, same draw order). */
export function initialWeights(cfg: GptConfig): GptWeights {
  const rng = new Rng(cfg.seed, 0x677074);
  const w: GptWeights = new Map();
  for (const s of gptWeightSpecs(cfg)) {
    const a = new Float32Array(s.shape.reduce((x, y) => x * y, 1));
    if (s.init === 'ones') a.fill(1);
    else if (s.init !== 'zeros') rng.fillNormal(a, s.init.std);
    w.set(s.name, a);
  }
  return w;
}

/** Throws unless `w` holds exactly the weights of `cfg`, each of the right length. */
export function checkGptWeights(cfg: GptConfig, w: GptWeights): void {
  const specs = gptWeightSpecs(cfg);
  for (const s of specs) {
    const a = w.get(s.name);
    const n = s.shape.reduce((x, y) => x * y, 1);
    if (!a) throw new Error(`GPT weights: "${s.name}" [${s.shape.join(', ')}] is missing`);
    if (a.length !== n) throw new Error(`GPT weights: "${s.name}" must have ${n} values ([${s.shape.join(', ')}]), found ${a.length}`);
  }
  if (w.size !== specs.length) {
    const known = new Set(specs.map((s) => s.name));
    const extra = [...w.keys()].filter((k) => !known.has(k));
    throw new Error(`GPT weights: unexpected weights for this config: ${extra.join(', ')}`);
  }
}

/** A deep copy (fresh Float32Arrays). */
export function cloneWeights(w: GptWeights): GptWeights {
  return new Map([...w].map(([k, v]) => [k, v.slice()]));
}

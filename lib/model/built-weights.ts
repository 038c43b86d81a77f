import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { onnx } from 'onnx-proto';
import { DlabInputError } from '../errors';
import { canonicalJson } from '../config/canonical';
import { buildDecoder, GptConfig } from './gpt';
import { gptWeightSpecs, GptWeights } from './gpt-weights';
import { readHeadFile, readModelDir } from './model-dir';

/**
 * Every weight of a model directory the project built (`buildModelDir`: `dlab model build`,
 * pretraining, a whole-model RL checkpoint), for training it further:
 *   backbone initializers by name (gpt-weights.ts names; float32, inline)
 *   lm_head.weight [d, V] = Wᵀ of head.arrow when untied;  lm_head.bias = b with headBias
 * Exact by construction and checked: buildDecoder(cfg, weights) must hash to the decoder the
 * directory was prepared from (model.json source.decoderSha256). A directory prepared from a
 * user's export has no such weights (only its head trains: `trainable: "head"`).
 */
export async function readBuiltWeights(dir: string, cfg: GptConfig): Promise<GptWeights> {
  const { json, backbonePath, headPath } = await readModelDir(dir);
  const source = json.source as { kind?: string; config?: unknown; decoderSha256?: string };
  if (source.kind !== 'built' || typeof source.decoderSha256 !== 'string') {
    throw new DlabInputError(`${dir}: not a model built by dlab (model.json source.kind is ${JSON.stringify(source.kind)}): only the project's own GPT trains every weight; imported models train their head (trainable: "head")`, 'trainable');
  }
  const graph = onnx.ModelProto.decode(await fs.readFile(backbonePath)).graph;
  const inits = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const head = await readHeadFile(headPath, json.sha256.head);
  const V = cfg.vocab;
  const d = cfg.dModel;
  const weights: GptWeights = new Map();
  for (const spec of gptWeightSpecs(cfg)) {
    const n = spec.shape.reduce((p, q) => p * q, 1);
    let a: Float32Array;
    if (spec.name === 'lm_head.weight') {
      a = new Float32Array(d * V);
      for (let v = 0; v < V; v++) for (let c = 0; c < d; c++) a[c * V + v] = head.W[v * d + c];
    } else if (spec.name === 'lm_head.bias') {
      a = head.b.slice();
    } else {
      const t = inits.get(spec.name);
      if (!t) throw new DlabInputError(`${backbonePath}: no initializer ${spec.name}: not the decoder of this build config`, spec.name);
      a = t.rawData && t.rawData.length ? new Float32Array(Uint8Array.from(t.rawData).buffer) : Float32Array.from(t.floatData ?? []);
    }
    if (a.length !== n) throw new DlabInputError(`${backbonePath}: ${spec.name} has ${a.length} values, expected ${n} (${spec.shape.join('×')}): not the decoder of this build config`, spec.name);
    weights.set(spec.name, a);
  }
  const rebuilt = createHash('sha256').update(buildDecoder(cfg, weights)).digest('hex');
  if (rebuilt !== source.decoderSha256) {
    throw new DlabInputError(`${dir}: its weights rebuild a decoder of sha256 ${rebuilt}, but model.json says ${source.decoderSha256}: built from another config than ${canonicalJson(cfg)}, or by another dlab version (then remove the directory, and its name in the store, so it is built again)`, 'model.build');
  }
  return weights;
}

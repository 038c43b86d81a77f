import type { GptWeights } from './gpt-weights';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../store/atomic';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { z } from 'zod';
import { MODEL_HEAD } from '../../schemas/artifacts';
import type { ModelBuildConfig } from '../../schemas/config/model';
import { DlabInputError } from '../errors';
import { decodeArtifact, encodeArtifact } from '../store/artifact-store';
import { buildDecoder } from './gpt';
import { Head, headFromTable, headToTable, makeHead } from './head';
import { prepareDecoder } from './prepare';
import type { Tokenizer } from './tokenizer';
import { BuiltinTokenizer } from './tokenizers/builtin';
import { builtinTokenizerText, loadTokenizer } from './tokenizers';

/**
 * A model directory: what every dlab experiment loads a policy from.
 *
 *   model.json      this description (dims, files and their sha256, where it came from)
 *   backbone.onnx   ids (+ KV cache) → last_hidden_state (+ cache)
 *   head.arrow      W [V, d] and b [V] (model.head@1)
 *   tokenizer.json  Hugging Face tokenizer.json, or the built-in tokenizer's JSON
 */
export interface ModelJson {
  format: 'dlab-model';
  version: 1;
  kind: 'decoder';
  backbone: string;
  head: string;
  tokenizer: string;
  dims: { vocab: number; dModel: number; nLayer: number; nHead: number; headDim: number; maxPos: number | null };
  tied: boolean;
  hasBias: boolean;
  sha256: { backbone: string; head: string; tokenizer: string };
  source: Record<string, unknown>;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');


/** Head file bytes (same encoding as the artifact store; lineage says which model it came from). */
export function encodeHead(head: Head, source: string, parents: string[] = []): Uint8Array {
  return encodeArtifact(headToTable(head), MODEL_HEAD, { experimentId: '', stage: 'prepare', producer: source, configHash: '', codeVersion: '', parents });
}

interface Parts {
  backbone: Uint8Array;
  head: Head;
  tokenizerJson: string;
  dims: ModelJson['dims'];
  tied: boolean;
  hasBias: boolean;
  source: Record<string, unknown>;
}

async function writeModelDir(dir: string, p: Parts): Promise<ModelJson> {
  await fs.mkdir(dir, { recursive: true });
  const headBytes = encodeHead(p.head, String(p.source.kind ?? 'model'), [sha(p.backbone)]);
  await writeFileAtomic(join(dir, 'backbone.onnx'), p.backbone);
  await writeFileAtomic(join(dir, 'head.arrow'), headBytes);
  await writeFileAtomic(join(dir, 'tokenizer.json'), p.tokenizerJson);
  const json: ModelJson = {
    format: 'dlab-model',
    version: 1,
    kind: 'decoder',
    backbone: 'backbone.onnx',
    head: 'head.arrow',
    tokenizer: 'tokenizer.json',
    dims: p.dims,
    tied: p.tied,
    hasBias: p.hasBias,
    sha256: { backbone: sha(p.backbone), head: sha(headBytes), tokenizer: sha(Buffer.from(p.tokenizerJson)) },
    source: p.source,
  };
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(json, null, 2) + '\n');
  return json;
}

/** Counts `past_key_values.{i}.key` inputs and reads [_, nHead, _, headDim] from the first. */
function cacheDims(bytes: Uint8Array, source: string): { nLayer: number; nHead?: number; headDim?: number } {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const keys = (graph.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? ''));
  if (!keys.length) throw new DlabInputError(`${source}: no past_key_values.{i}.key inputs: export the decoder with its KV cache (Optimum: task text-generation-with-past)`);
  const dim = keys[0].type?.tensorType?.shape?.dim ?? [];
  const num = (i: number) => (dim[i]?.dimValue !== undefined && dim[i]?.dimValue !== null ? Number(dim[i].dimValue) : undefined);
  return { nLayer: keys.length, nHead: num(1), headDim: num(3) };
}

/** `dlab model build`'s config as given (defaults not yet applied): schemas/config/model.ts. */
export type BuildConfig = z.input<typeof ModelBuildConfig>;

/**
 * `dlab model build`: a GPT decoder from its config (random weights, or `trained` ones with a
 * note of how they were trained), with the built-in tokenizer, then prepared exactly as a
 * user's export is. `vocab` must cover the tokenizer.
 */
export async function buildModelDir(cfg: BuildConfig, dir: string, trained?: { weights: GptWeights; how: Record<string, unknown> }): Promise<ModelJson> {
  const tokenizer = new BuiltinTokenizer(cfg.tokenizer ?? {});
  if (cfg.vocab < tokenizer.vocabSize) throw new DlabInputError(`model config: vocab (${cfg.vocab}) is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`, 'vocab');
  const decoder = buildDecoder(cfg, trained?.weights);
  const p = prepareDecoder(decoder, 'built decoder');
  const tokenizerJson = builtinTokenizerText(tokenizer);
  return writeModelDir(dir, {
    backbone: p.backbone,
    head: makeHead(p.W, p.b, p.vocab, p.dModel),
    tokenizerJson,
    dims: { vocab: cfg.vocab, dModel: cfg.dModel, nLayer: cfg.nLayer, nHead: cfg.nHead, headDim: cfg.dModel / cfg.nHead, maxPos: cfg.maxPos },
    tied: p.tied,
    hasBias: !!p.b,
    source: { kind: 'built', config: cfg, decoderSha256: sha(decoder), ...(trained ? { pretrained: trained.how } : {}) },
  });
}

/** `dlab model prepare`: a user's (or our) Optimum-layout decoder + tokenizer → a model directory. */
export async function prepareModelDir(opts: { onnx: string; tokenizer: string; out: string; nHead?: number; maxPos?: number }): Promise<ModelJson> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(opts.onnx);
  } catch (err) {
    throw new DlabInputError(`${opts.onnx}: cannot read it (${(err as NodeJS.ErrnoException).code})`, opts.onnx);
  }
  const p = prepareDecoder(bytes, opts.onnx);
  const cache = cacheDims(bytes, opts.onnx);
  const nHead = opts.nHead ?? cache.nHead;
  if (!nHead) throw new DlabInputError(`${opts.onnx}: the number of attention heads is not fixed in past_key_values.0.key; pass --n-head`, 'nHead');
  const headDim = cache.headDim ?? p.dModel / nHead;
  const tok: Tokenizer = await loadTokenizer(opts.tokenizer);
  if (tok.vocabSize > p.vocab) throw new DlabInputError(`${opts.tokenizer}: ${tok.vocabSize} tokens, but the model's head has only ${p.vocab} rows`, opts.tokenizer);
  return writeModelDir(opts.out, {
    backbone: p.backbone,
    head: makeHead(p.W, p.b, p.vocab, p.dModel),
    tokenizerJson: await fs.readFile(opts.tokenizer, 'utf8'),
    dims: { vocab: p.vocab, dModel: p.dModel, nLayer: cache.nLayer, nHead, headDim, maxPos: opts.maxPos ?? null },
    tied: p.tied,
    hasBias: !!p.b,
    source: { kind: 'prepared', onnx: opts.onnx, onnxSha256: sha(bytes), opset: p.opset },
  });
}

/** model.json, checked, with absolute paths of its files. */
export async function readModelDir(dir: string): Promise<{ json: ModelJson; backbonePath: string; headPath: string; tokenizerPath: string }> {
  const file = join(dir, 'model.json');
  let json: ModelJson;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8')) as ModelJson;
  } catch (err) {
    throw new DlabInputError(`${file}: cannot read a model description (${(err as Error).message}); make one with \`dlab model build\` or \`dlab model prepare\``, file);
  }
  if (json.format !== 'dlab-model' || json.version !== 1) throw new DlabInputError(`${file}: expected format "dlab-model" version 1, found ${json.format} ${json.version}`, file);
  return { json, backbonePath: join(dir, json.backbone), headPath: join(dir, json.head), tokenizerPath: join(dir, json.tokenizer) };
}

/** The head stored in a model directory, hash-checked against model.json. */
export async function readHeadFile(path: string, expectedSha256?: string): Promise<Head> {
  const bytes = await fs.readFile(path);
  const actual = sha(bytes);
  if (expectedSha256 && actual !== expectedSha256) throw new DlabInputError(`${path}: expected sha256 ${expectedSha256} (model.json), found ${actual}`, path);
  return headFromTable(decodeArtifact(bytes, 'model.head@1', path, actual), path);
}

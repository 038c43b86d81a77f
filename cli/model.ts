import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Command } from 'commander';
import { InferenceSession } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { readConfigFile } from '../client/start';
import { buildModelDir, prepareModelDir, readModelDir } from '../lib/model/model-dir';
import { Policy } from '../lib/model/policy';
import { Backbone } from '../lib/model/backbone';
import { pullModel, pushModel } from '../lib/model/model-store';
import { storeFromEnv } from '../lib/store/from-env';
import { checkSha256 } from '../lib/store/files';
import { dlabHome, writableDlabHome } from './env';
import { parseWith } from '../schemas/config';
import { ModelBuildConfig } from '../schemas/config/model';
import { DlabInputError } from '../lib/errors';
import { intOption, numberOption } from '../lib/config/options';

const print = (json: boolean | undefined, value: unknown, human: string) => process.stdout.write((json ? JSON.stringify(value) : human) + '\n');

/** Inputs, outputs, opset and parameter count of a model directory or an .onnx file. */
async function inspect(path: string) {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new DlabInputError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, path);
  }
  const dir = isDir ? await readModelDir(path) : undefined;
  const file = dir?.backbonePath ?? path;
  const bytes = await readFile(file);
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
    if (!model.graph) throw new Error('no graph');
  } catch (err) {
    throw new DlabInputError(`${file}: not an ONNX model (${(err as Error).message})`, file);
  }
  let params = 0;
  // parameters: floating-point initializers of rank ≥ 1 (not shape constants or scalars)
  const floatTypes = new Set([onnx.TensorProto.DataType.FLOAT, onnx.TensorProto.DataType.FLOAT16, onnx.TensorProto.DataType.BFLOAT16, onnx.TensorProto.DataType.DOUBLE]);
  for (const t of model.graph?.initializer ?? []) {
    if (floatTypes.has(t.dataType ?? 0) && (t.dims ?? []).length > 0) params += (t.dims ?? []).reduce((a: number, b) => a * Number(b), 1);
  }
  if (dir) params += dir.json.tied ? (dir.json.hasBias ? dir.json.dims.vocab : 0) : dir.json.dims.vocab * (dir.json.dims.dModel + (dir.json.hasBias ? 1 : 0));
  // a model directory: the one session generation runs (lib/model/backbone.ts), listed without the
  // inputs and outputs its decoding form adds; a bare .onnx file: a session of its own
  const backbone = dir ? await Backbone.load(dir.backbonePath, null, dir.json.dims) : undefined;
  const session = backbone?.session ?? (await InferenceSession.create(file));
  try {
    const added = (name: string) => !!backbone?.fused && name.startsWith('dlab.');
    const io = (m: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[]) =>
      m.filter((x) => !added(x.name)).map((x) => ({ name: x.name, type: x.type ?? 'non-tensor', shape: x.shape ?? [] }));
    const generation = backbone && (backbone.fused ? { kvCache: 'slots' as const } : { kvCache: 'grow' as const, reason: backbone.unfusedReason ?? '' });
    return {
      file,
      opset: Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0),
      parameters: params,
      inputs: io(session.inputMetadata as never),
      outputs: io(session.outputMetadata as never),
      ...(dir ? { model: dir.json, generation } : {}),
    };
  } finally {
    await (backbone ? backbone.release() : session.release());
  }
}

export function modelCommand(): Command {
  const model = new Command('model').description('build, prepare and check models (a model DIR: model.json, backbone.onnx, head.arrow, tokenizer.json)');

  model
    .command('build')
    .description("write the project's own GPT decoder + built-in tokenizer as a model DIR")
    .requiredOption('--config <file>', '{vocab, dModel, nLayer, nHead, dFf, maxPos, seed, tied?, headBias?, tokenizer?}')
    .requiredOption('--out <dir>')
    .option('--force', 'replace a model directory already at --out')
    .option('--json')
    .action(async (opts: { config: string; out: string; force?: boolean; json?: boolean }) => {
      const cfg = parseWith(ModelBuildConfig, readConfigFile(opts.config), `model config in ${opts.config}`);
      const json = await buildModelDir(cfg, opts.out, undefined, { replace: opts.force });
      print(opts.json, json, `model written to ${opts.out}: ${json.dims.nLayer} layers, d ${json.dims.dModel}, vocab ${json.dims.vocab}`);
    });

  model
    .command('prepare')
    .description('split a decoder export (Optimum layout, with KV cache) into backbone + head: --from an export directory, or --onnx and --tokenizer')
    .option('--from <dir>', 'an Optimum export directory (optimum-cli export onnx --task text-generation-with-past): model.onnx (+ its data files), tokenizer.json, tokenizer_config.json, generation_config.json, config.json')
    .option('--onnx <file>', 'decoder .onnx with input_ids, attention_mask, [position_ids,] past_key_values.* → logits, present.*')
    .option('--tokenizer <file>', "tokenizer.json (Hugging Face; the config files beside it are kept too) or the built-in tokenizer's JSON")
    .requiredOption('--out <dir>')
    .option('--n-head <n>', 'attention heads, when neither the graph nor config.json fixes them')
    .option('--max-pos <n>', 'longest sequence the model takes (default: config.json max_position_embeddings)')
    .option('--dtype <type>', 'dtype of the backbone: float32 (float16/bfloat16 weights are up-cast)', 'float32')
    .option('--force', 'replace a model directory already at --out')
    .option('--json')
    .action(async (opts: { from?: string; onnx?: string; tokenizer?: string; out: string; nHead?: string; maxPos?: string; dtype: string; force?: boolean; json?: boolean }) => {
      if (opts.from !== undefined && (opts.onnx !== undefined || opts.tokenizer !== undefined)) throw new DlabInputError('--from takes the graph and tokenizer from the export directory: give either --from or --onnx and --tokenizer', '--from');
      if (opts.from === undefined && (opts.onnx === undefined || opts.tokenizer === undefined)) throw new DlabInputError(`give --from EXPORT_DIR, or both --onnx and --tokenizer (missing: ${opts.onnx === undefined ? '--onnx' : '--tokenizer'})`, '--from');
      const source = opts.from !== undefined ? { from: opts.from } : { onnx: opts.onnx!, tokenizer: opts.tokenizer! };
      const json = await prepareModelDir({
        ...source,
        out: opts.out,
        nHead: opts.nHead !== undefined ? intOption('--n-head', opts.nHead, 1) : undefined,
        maxPos: opts.maxPos !== undefined ? intOption('--max-pos', opts.maxPos, 1) : undefined,
        replace: opts.force,
        dtype: opts.dtype,
      });
      const data = json.backboneData?.length ? `, weights in ${json.backboneData.join(', ')}` : '';
      const cast = json.source.upcast ? `, ${String(json.source.dtype)} up-cast to float32` : '';
      const heads = json.dims.nKvHead ? `${json.dims.nHead} heads (${json.dims.nKvHead} kv)` : `${json.dims.nHead} heads`;
      const pos = json.dims.maxPos === null ? 'positions unknown (pass --max-pos)' : `${json.dims.maxPos} positions`;
      print(opts.json, json, `prepared ${opts.from ?? opts.onnx} → ${opts.out} (head ${json.dims.vocab} × ${json.dims.dModel}${json.hasBias ? ' + bias' : ''}, ${json.tied ? 'tied' : 'untied'}, ${heads}, ${pos}${cast}${data})`);
    });

  model
    .command('push')
    .description('store a model DIR in the artifact store (DLAB_STORE; unset: DLAB_HOME/artifacts) by the sha256 of its model.json, and print that address: a config may then name the model as {"sha256": …}')
    .argument('<dir>', 'model DIR')
    .option('--json')
    .action(async (dir: string, opts: { json?: boolean }) => {
      const store = storeFromEnv(dlabHome());
      const r = await pushModel(store, dir);
      print(opts.json, { ...r, store: store.locateFile(r.sha256) }, `${r.sha256}\n  ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB (${(r.sent / 1e6).toFixed(1)} MB sent) → ${store.locateFile(r.sha256)}`);
    });

  model
    .command('pull')
    .description("fetch a stored model by its address into this machine's DLAB_HOME/models (every file checked) and print its directory")
    .argument('<sha256>', 'the address `dlab model push` printed')
    .option('--json')
    .action(async (sha256: string, opts: { json?: boolean }) => {
      checkSha256(sha256, 'sha256');
      const dir = await pullModel(storeFromEnv(dlabHome()), sha256, join(writableDlabHome(), 'models'));
      print(opts.json, { sha256, dir }, dir);
    });

  model
    .command('inspect')
    .argument('<path>', 'model DIR or .onnx file')
    .option('--json')
    .action(async (path: string, opts: { json?: boolean }) => {
      const r = await inspect(path);
      const rows = (xs: { name: string; type: string; shape: readonly (number | string)[] }[]) => xs.map((x) => `    ${x.name.padEnd(28)} ${x.type.padEnd(8)} [${x.shape.join(', ')}]`).join('\n');
      const g = r.generation;
      const generation = !g ? '' : g.kvCache === 'slots' ? '\n  generation: KV cache in slots (the decoding form)' : `\n  generation: growing KV cache (${g.reason})`;
      print(opts.json, r, `${r.file}\n  opset ${r.opset}, ${r.parameters.toLocaleString('en-US')} parameters\n  inputs\n${rows(r.inputs)}\n  outputs\n${rows(r.outputs)}${generation}`);
    });

  model
    .command('generate')
    .requiredOption('--model <dir>')
    .requiredOption('--prompt <text>')
    .option('--max-tokens <n>', 'tokens to sample at most', '64')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--temperature <t>', '0 = greedy', '1')
    .option('--top-p <p>', '', '1')
    .option('--top-k <k>', '0 = all', '0')
    .option('--stop <text...>', 'stop strings')
    .option('--chat-template', "render the prompt with the model's chat template (as a config's model.chatTemplate)")
    .option('--json')
    .action(async (opts: { model: string; prompt: string; maxTokens: string; seed: string; temperature: string; topP: string; topK: string; stop?: string[]; chatTemplate?: boolean; json?: boolean }) => {
      const sampling = {
        maxTokens: intOption('--max-tokens', opts.maxTokens, 1),
        seed: intOption('--seed', opts.seed, 0, 2 ** 32 - 1),
        temperature: numberOption('--temperature', opts.temperature, { min: 0 }),
        topP: numberOption('--top-p', opts.topP, { min: 0, max: 1, openMin: true }),
        topK: intOption('--top-k', opts.topK, 0),
        stop: opts.stop,
      };
      const policy = await Policy.load(opts.model, { chatTemplate: opts.chatTemplate });
      const [g] = await policy.generate([opts.prompt], sampling);
      print(opts.json, { text: g.text, tokens: g.tokens, logprobs: g.logprobs, finish: g.finish, promptTokens: g.promptTokens }, `${opts.prompt}${g.text}\n[${g.tokens.length} tokens, ${g.finish}, log-prob ${g.logprobs.reduce((a, b) => a + b, 0).toFixed(3)}]`);
    });

  model
    .command('score')
    .requiredOption('--model <dir>')
    .requiredOption('--context <text>')
    .requiredOption('--target <text>')
    .option('--chat-template', "render the context with the model's chat template (as a config's model.chatTemplate)")
    .option('--json')
    .action(async (opts: { model: string; context: string; target: string; chatTemplate?: boolean; json?: boolean }) => {
      const policy = await Policy.load(opts.model, { chatTemplate: opts.chatTemplate });
      const item = policy.encodeContinuation(opts.context, opts.target);
      const target = item.target;
      if (!target.length) throw new DlabInputError(`--target ${JSON.stringify(opts.target)}: no tokens after the context's`, '--target');
      const { scored } = await policy.score([item]);
      const r = { logprob: scored[0].logprob, tokens: target, tokenLogprobs: Array.from(scored[0].tokenLogprobs) };
      print(opts.json, r, `log π(target | context) = ${r.logprob.toFixed(4)} over ${target.length} tokens`);
    });
  return model;
}


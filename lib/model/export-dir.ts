import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DlabInputError } from '../errors';
import { readJsonFile } from './tokenizers/json-file';
import { TOKENIZER_SIDE_FILES } from './tokenizers/huggingface';

/**
 * A Hugging Face export directory as `optimum-cli export onnx --task text-generation-with-past`
 * writes it:
 *
 *   model.onnx                 the decoder with its KV cache (weights inside, or beside it as
 *                              model.onnx_data / one file per tensor)
 *   tokenizer.json             the tokenizer
 *   tokenizer_config.json …    how the tokenizer is used (TOKENIZER_SIDE_FILES): special tokens,
 *                              end ids, the chat template
 *   config.json                the model's hyper-parameters: positions, vocabulary, heads
 */
export interface ExportDir {
  dir: string;
  onnx: string;
  tokenizer: string;
  /** the side files present, by name (kept in the model directory beside tokenizer.json) */
  sideFiles: { name: string; from: string }[];
  /** what config.json says (each field undefined when it does not say) */
  config: ExportConfig;
}

/** The fields of a transformers config.json dlab reads, under the names the families use. */
export interface ExportConfig {
  path?: string;
  modelType?: string;
  /** max_position_embeddings (Llama, Qwen2, OPT, NeoX…), n_positions (GPT-2) */
  maxPos?: number;
  vocab?: number;
  /** num_attention_heads, n_head */
  nHead?: number;
  /** num_key_value_heads (grouped-query attention) */
  nKvHead?: number;
  /** hidden_size, n_embd, d_model */
  dModel?: number;
}

/** Graph files of older Optimum layouts, refused with what to do instead. */
const OLDER_LAYOUTS: Record<string, string> = {
  'decoder_model_merged.onnx': 'an older Optimum layout (a merged decoder that switches on use_cache_branch); export again with a current Optimum (`optimum-cli export onnx --task text-generation-with-past`), or pass --onnx decoder_with_past_model.onnx --tokenizer tokenizer.json',
  'decoder_with_past_model.onnx': 'an older Optimum layout; pass --onnx decoder_with_past_model.onnx --tokenizer tokenizer.json, or export again with a current Optimum',
};

export function readExportDir(dir: string): ExportDir {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new DlabInputError(`--from ${dir}: no such directory`, dir);
  }
  if (!isDir) throw new DlabInputError(`--from ${dir}: not a directory (expected an Optimum export directory with model.onnx and tokenizer.json)`, dir);
  const onnx = join(dir, 'model.onnx');
  if (!existsSync(onnx)) {
    const older = Object.keys(OLDER_LAYOUTS).find((f) => existsSync(join(dir, f)));
    throw new DlabInputError(`${dir}: no model.onnx${older ? `; found ${older}: ${OLDER_LAYOUTS[older]}` : ' (expected the decoder of `optimum-cli export onnx --task text-generation-with-past`)'}`, onnx);
  }
  const tokenizer = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizer)) {
    const slow = ['tokenizer.model', 'vocab.json', 'spiece.model'].find((f) => existsSync(join(dir, f)));
    throw new DlabInputError(`${dir}: no tokenizer.json${slow ? ` (found ${slow}: save the fast tokenizer with transformers, \`AutoTokenizer.from_pretrained(dir).save_pretrained(dir)\`, which writes tokenizer.json)` : ''}`, tokenizer);
  }
  const sideFiles = TOKENIZER_SIDE_FILES.filter((f) => existsSync(join(dir, f))).map((name) => ({ name, from: join(dir, name) }));
  return { dir, onnx, tokenizer, sideFiles, config: readExportConfig(join(dir, 'config.json')) };
}

/** config.json's positions, vocabulary and heads; {} when there is no such file. */
export function readExportConfig(path: string): ExportConfig {
  if (!existsSync(path)) return {};
  const c = readJsonFile(path, 'a transformers config.json (a JSON object)') as Record<string, unknown>;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new DlabInputError(`${path}: expected a transformers config.json (a JSON object)`, path);
  // multimodal wrappers nest the language model's fields in text_config
  const nested = typeof c.text_config === 'object' && c.text_config !== null && !Array.isArray(c.text_config);
  const m = nested ? (c.text_config as Record<string, unknown>) : c;
  const int = (...fields: string[]): number | undefined => {
    for (const f of fields) {
      const v = m[f];
      if (v === undefined || v === null) continue;
      if (!Number.isInteger(v) || (v as number) <= 0) throw new DlabInputError(`${path}: field "${nested ? 'text_config.' : ''}${f}": expected a positive integer, found ${JSON.stringify(v)}`, path);
      return v as number;
    }
    return undefined;
  };
  const type = m.model_type ?? c.model_type;
  return {
    path,
    modelType: typeof type === 'string' ? type : undefined,
    maxPos: int('max_position_embeddings', 'n_positions', 'n_ctx', 'max_sequence_length', 'seq_length'),
    vocab: int('vocab_size'),
    nHead: int('num_attention_heads', 'n_head'),
    nKvHead: int('num_key_value_heads', 'multi_query_group_num'),
    dModel: int('hidden_size', 'n_embd', 'd_model'),
  };
}

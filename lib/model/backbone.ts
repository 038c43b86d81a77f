import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DlabInputError } from '../errors';
import { decodingGraph, FUSED_LOGITS, FUSED_PROBS, HEAD_B, HEAD_W, INV_TEMPERATURE, NEW_KV } from './decode-graph';
import { createSession, runModel, sharedSession } from './session-cache';

/** why a backbone file's decoding form was not used, by path (read when its Backbone is made) */
const unfused = new Map<string, string>();

type Meta = { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] };

/** What a decoder backbone must look like: name → [dtype, rank]. */
function expectedDecoder(nLayer: number): { inputs: Map<string, [string, number]>; outputs: Map<string, [string, number]> } {
  const inputs = new Map<string, [string, number]>([
    ['input_ids', ['int64', 2]],
    ['attention_mask', ['int64', 2]],
  ]);
  const outputs = new Map<string, [string, number]>([['last_hidden_state', ['float32', 3]]]);
  for (let i = 0; i < nLayer; i++) {
    for (const k of ['key', 'value']) {
      inputs.set(`past_key_values.${i}.${k}`, ['float32', 4]);
      outputs.set(`present.${i}.${k}`, ['float32', 4]);
    }
  }
  return { inputs, outputs };
}

function check(source: string, role: 'input' | 'output', found: readonly Meta[], expected: Map<string, [string, number]>, optional: string[] = []): void {
  const byName = new Map(found.map((m) => [m.name, m]));
  for (const [name, [type, rank]] of expected) {
    const m = byName.get(name);
    if (!m) {
      throw new DlabInputError(`${source}: ${role} "${name}" is missing: expected ${type} of rank ${rank} (${role}s found: ${found.map((f) => f.name).join(', ')})`, name);
    }
    const r = m.shape?.length;
    if (m.type !== type || (r !== undefined && r !== rank)) {
      throw new DlabInputError(`${source}: ${role} "${name}": expected ${type} of rank ${rank}, found ${m.type} of rank ${r}`, name);
    }
  }
  for (const m of found) {
    if (!expected.has(m.name) && !optional.includes(m.name) && role === 'input') {
      throw new DlabInputError(`${source}: unexpected input "${m.name}" (${m.type}); a prepared decoder takes input_ids, attention_mask, position_ids and past_key_values.{i}.key|value`, m.name);
    }
  }
}

/**
 * A prepared decoder backbone on ONNX Runtime: ids (+ KV cache) → last hidden state (+ cache).
 * Every input and output is checked by name, dtype and rank when loaded. The session runs the
 * backbone's decoding form (decode-graph.ts) when its graph allows, `fused`: generation then
 * keeps the cache in buffers of its own (decoder.ts); `run` fetches the original outputs only.
 */
export class Backbone {
  /** the outputs of the backbone as prepared (last_hidden_state, present.*): what `run` fetches */
  private readonly plainOutputs: string[];

  private constructor(
    readonly session: InferenceSession,
    /** the backbone.onnx this session runs (named in errors) */
    readonly path: string,
    readonly nLayer: number,
    /** heads of the KV cache: nKvHead under grouped-query attention, else nHead */
    readonly cacheHeads: number,
    readonly headDim: number,
    readonly dModel: number,
    readonly hasPositionIds: boolean,
    /** the session is this Backbone's own (load with key null), not the process-wide one */
    private readonly owned: boolean,
    /** the session runs the decoding form: dlab.new and dlab.logits outputs (decode-graph.ts) */
    readonly fused: boolean,
    /** why not, when not fused (generation then runs on the growing cache) */
    readonly unfusedReason?: string,
  ) {
    this.plainOutputs = session.outputNames.filter((n) => !n.startsWith('dlab.'));
  }

  /** Frees a session of its own (a shared one stays: other policies run it). */
  async release(): Promise<void> {
    if (this.owned) await this.session.release();
  }

  /**
   * `key`: the process-wide session of that key (shared by every Policy of the model), or null
   * for a session of this Backbone's own, which `release()` frees (a model used for a while and
   * then never again, e.g. a whole-model RL checkpoint's).
   */
  static async load(path: string, key: string | null, dims: { nLayer: number; nHead: number; nKvHead?: number; headDim: number; dModel: number }, threads?: number): Promise<Backbone> {
    const cacheHeads = dims.nKvHead ?? dims.nHead;
    const create = async () => {
      const cannot = (err: unknown) => new DlabInputError(`${path}: ONNX Runtime cannot load it (${(err as Error).message})`, path);
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(path);
      } catch (err) {
        throw cannot(err);
      }
      let decoding: ReturnType<typeof decodingGraph> | undefined;
      try {
        decoding = decodingGraph(bytes, dims.nLayer);
      } catch {
        // not decodable as ONNX: ONNX Runtime's own message below says why
      }
      if (decoding && 'bytes' in decoding) {
        try {
          return await createSession(decoding.bytes, threads, dirname(path));
        } catch (err) {
          // a graph ONNX Runtime takes as exported but not with the added outputs: run it as exported
          unfused.set(path, `ONNX Runtime refused the decoding form (${(err as Error).message.split('\n')[0]})`);
        }
      } else if (decoding) {
        unfused.set(path, decoding.reason);
      }
      try {
        return await createSession(bytes, threads, dirname(path));
      } catch (err) {
        throw cannot(err);
      }
    };
    const session = key === null ? await create() : await sharedSession(key, create);
    const { inputs, outputs } = expectedDecoder(dims.nLayer);
    const inMeta = session.inputMetadata as readonly Meta[];
    check(path, 'input', inMeta, inputs, ['position_ids', HEAD_W, HEAD_B, INV_TEMPERATURE]);
    check(path, 'output', session.outputMetadata as readonly Meta[], outputs);
    const pos = inMeta.find((m) => m.name === 'position_ids');
    if (pos && (pos.type !== 'int64' || pos.shape?.length !== 2)) {
      throw new DlabInputError(`${path}: input "position_ids": expected int64 of rank 2, found ${pos.type} of rank ${pos.shape?.length}`, 'position_ids');
    }
    const kv = inMeta.find((m) => m.name === 'past_key_values.0.key')!;
    for (const [axis, want, what] of [[1, cacheHeads, dims.nKvHead === undefined ? 'nHead' : 'nKvHead'], [3, dims.headDim, 'headDim']] as const) {
      const got = kv.shape?.[axis];
      if (typeof got === 'number' && got !== want) {
        throw new DlabInputError(`${path}: input "past_key_values.0.key" has ${got} on axis ${axis}, model.json says ${what} = ${want}`, 'past_key_values.0.key');
      }
    }
    const fused = session.inputNames.includes(HEAD_W) && session.inputNames.includes(INV_TEMPERATURE) && [FUSED_LOGITS, FUSED_PROBS, NEW_KV].every((o) => session.outputNames.includes(o));
    return new Backbone(session, path, dims.nLayer, cacheHeads, dims.headDim, dims.dModel, !!pos, key === null, fused, fused ? undefined : (unfused.get(path) ?? 'the session runs the backbone as exported'));
  }

  /** Empty cache tensors [B, cacheHeads, 0, headDim] for a first pass. */
  emptyCache(batch: number): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (let i = 0; i < this.nLayer; i++) {
      for (const k of ['key', 'value']) feeds[`past_key_values.${i}.${k}`] = new Tensor('float32', new Float32Array(0), [batch, this.cacheHeads, 0, this.headDim]);
    }
    return feeds;
  }

  /**
   * One pass. ids, positions [B, S]; mask [B, T] with T = past + S; cache from the previous
   * pass's `present` (or `emptyCache`). Returns h [B, S, d] and the new cache as `past` feeds.
   */
  async run(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, batch: number, seq: number, cache: Record<string, Tensor>) {
    const out = await this.pass(ids, positions, mask, batch, seq, cache, this.plainOutputs);
    const next: Record<string, Tensor> = {};
    for (let i = 0; i < this.nLayer; i++) {
      for (const k of ['key', 'value']) next[`past_key_values.${i}.${k}`] = out[`present.${i}.${k}`];
    }
    return { hidden: out.last_hidden_state.data as Float32Array, cache: next };
  }

  /**
   * One pass from an empty cache, for a caller that needs no cache after it (scoring, embeddings):
   * ids, positions, mask [B, S] → h [B, S, d]. Only last_hidden_state is fetched, so the
   * `present` tensors (2·nLayer · B·heads·S·headDim floats) are not copied out of ONNX Runtime.
   */
  async hidden(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, batch: number, seq: number): Promise<Float32Array> {
    const out = await this.pass(ids, positions, mask, batch, seq, this.emptyCache(batch), ['last_hidden_state']);
    return out.last_hidden_state.data as Float32Array;
  }

  private async pass(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, batch: number, seq: number, cache: Record<string, Tensor>, fetches: string[]) {
    const feeds: Record<string, Tensor> = {
      ...cache,
      input_ids: new Tensor('int64', ids, [batch, seq]),
      attention_mask: new Tensor('int64', mask, [batch, mask.length / batch]),
    };
    if (this.hasPositionIds) feeds.position_ids = new Tensor('int64', positions, [batch, seq]);
    if (this.fused) {
      // the decoding form's head inputs, empty (its logits are not fetched: [B, 0]), and τ⁻¹ = 0 (no probabilities)
      feeds[HEAD_W] = new Tensor('float32', new Float32Array(0), [0, this.dModel]);
      feeds[HEAD_B] = new Tensor('float32', new Float32Array(0), [0]);
      feeds[INV_TEMPERATURE] = new Tensor('float32', new Float32Array([0]), [1]);
    }
    return runModel(this.session, feeds, this.path, fetches);
  }
}

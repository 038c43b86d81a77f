import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DlabInputError } from '../errors';
import { createSession, runModel, sharedSession } from './session-cache';

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
 * Every input and output is checked by name, dtype and rank when loaded.
 */
export class Backbone {
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
    private readonly owned = false,
  ) {}

  /** Frees a session of its own (a shared one stays: other policies run it). */
  async release(): Promise<void> {
    if (this.owned) await this.session.release();
  }

  /**
   * `key`: the process-wide session of that key (shared by every Policy of the model), or null
   * for a session of this Backbone's own, which `release()` frees (a model used for a while and
   * then never again, e.g. a whole-model RL checkpoint's).
   */
  static async load(path: string, key: string | null, dims: { nLayer: number; nHead: number; nKvHead?: number; headDim: number; dModel: number }, threads = 2): Promise<Backbone> {
    const cacheHeads = dims.nKvHead ?? dims.nHead;
    const create = async () => {
      try {
        return await createSession(path, threads);
      } catch (err) {
        throw new DlabInputError(`${path}: ONNX Runtime cannot load it (${(err as Error).message})`, path);
      }
    };
    const session = key === null ? await create() : await sharedSession(key, create);
    const { inputs, outputs } = expectedDecoder(dims.nLayer);
    const inMeta = session.inputMetadata as readonly Meta[];
    check(path, 'input', inMeta, inputs, ['position_ids']);
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
    return new Backbone(session, path, dims.nLayer, cacheHeads, dims.headDim, dims.dModel, !!pos, key === null);
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
   * With a workspace (`kvWorkspace`), ONNX Runtime writes `present` and the hidden state into
   * buffers allocated once per generation instead of allocating the grown cache every pass.
   */
  async run(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, batch: number, seq: number, cache: Record<string, Tensor>, ws?: KvWorkspace) {
    const feeds: Record<string, Tensor> = {
      ...cache,
      input_ids: new Tensor('int64', ids, [batch, seq]),
      attention_mask: new Tensor('int64', mask, [batch, mask.length / batch]),
    };
    if (this.hasPositionIds) feeds.position_ids = new Tensor('int64', positions, [batch, seq]);
    if (ws?.usable) {
      const T = mask.length / batch;
      const fetches = ws.fetches(T, seq);
      if (fetches) {
        try {
          await runModel(this.session, feeds, this.path, fetches);
          return { hidden: ws.hidden(seq), cache: ws.advance(T) };
        } catch {
          // an export whose outputs do not take preallocated buffers: allocate as before (the
          // pass is rerun; a real input error comes back from the rerun just the same)
          ws.usable = false;
        }
      }
    }
    const out = await runModel(this.session, feeds, this.path);
    const next: Record<string, Tensor> = {};
    for (let i = 0; i < this.nLayer; i++) {
      for (const k of ['key', 'value']) next[`past_key_values.${i}.${k}`] = out[`present.${i}.${k}`];
    }
    return { hidden: out.last_hidden_state.data as Float32Array, cache: next };
  }

  /** Buffers for a generation of `batch` sequences up to `capacity` cache positions (see KvWorkspace). */
  kvWorkspace(batch: number, capacity: number): KvWorkspace {
    return new KvWorkspace(this.session.outputNames, this.nLayer, batch, this.cacheHeads, this.headDim, this.dModel, capacity);
  }
}

/**
 * Preallocated outputs for the passes of one generation. `present` = Concat(past, new) grows by
 * one position a pass and its layout [B, heads, T, headDim] moves every row, so it cannot grow
 * in place: two buffers per cache tensor, each of the final size, take turns — a pass reads its
 * past from one and ONNX Runtime writes the present into the other (`session.run(feeds,
 * fetches)` with Tensor values writes into them instead of allocating). The math is unchanged,
 * so outputs are bit-identical to allocating runs. One workspace per generation (passes of two
 * generations interleaved on one workspace would overwrite each other's cache). It saves ONNX
 * Runtime's allocation of `present`, not the binding's: onnxruntime-node returns every output,
 * preallocated or not, as a copy in a new ArrayBuffer (the copy is not read here).
 */
export class KvWorkspace {
  usable = true;
  private readonly bufs: [Float32Array, Float32Array][] = [];
  private turn = 0;
  private readonly stepHidden: Float32Array;
  private lastHidden: Float32Array | undefined;
  private readonly cacheNames: [string, string][] = [];

  constructor(
    private readonly outputNames: readonly string[],
    nLayer: number,
    private readonly batch: number,
    private readonly heads: number,
    private readonly headDim: number,
    private readonly dModel: number,
    private readonly capacity: number,
  ) {
    const size = batch * heads * capacity * headDim;
    for (let i = 0; i < nLayer; i++) {
      for (const k of ['key', 'value']) {
        this.cacheNames.push([`past_key_values.${i}.${k}`, `present.${i}.${k}`]);
        this.bufs.push([new Float32Array(size), new Float32Array(size)]);
      }
    }
    this.stepHidden = new Float32Array(batch * dModel);
  }

  /** Output tensors for a pass to T cache positions of S new tokens; undefined past capacity. */
  fetches(T: number, S: number): Record<string, Tensor | null> | undefined {
    if (T > this.capacity) return undefined;
    const { batch, heads, headDim } = this;
    const fetches: Record<string, Tensor | null> = {};
    // every output named, in the session's order (outputs not preallocated are null)
    for (const name of this.outputNames) fetches[name] = null;
    this.lastHidden = S === 1 ? this.stepHidden : new Float32Array(batch * S * this.dModel);
    fetches.last_hidden_state = new Tensor('float32', this.lastHidden, [batch, S, this.dModel]);
    this.cacheNames.forEach(([, present], j) => {
      fetches[present] = new Tensor('float32', this.bufs[j][this.turn].subarray(0, batch * heads * T * headDim), [batch, heads, T, headDim]);
    });
    return fetches;
  }

  hidden(S: number): Float32Array {
    return this.lastHidden!.subarray(0, this.batch * S * this.dModel);
  }

  /** The present just written, as the next pass's past feeds; the other buffer is written next. */
  advance(T: number): Record<string, Tensor> {
    const { batch, heads, headDim } = this;
    const next: Record<string, Tensor> = {};
    this.cacheNames.forEach(([past], j) => {
      next[past] = new Tensor('float32', this.bufs[j][this.turn].subarray(0, batch * heads * T * headDim), [batch, heads, T, headDim]);
    });
    this.turn ^= 1;
    return next;
  }
}

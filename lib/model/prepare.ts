import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { DlabInputError } from '../errors';
import { elemBytes, elementCount, ExternalFiles, externalRef, isExternal } from './external-data';
import { bfloat16ToFloat32, halfToFloat32 } from './half';

/**
 * `dlab model prepare`: split a causal LM into a backbone and its output head by surgery
 * on the ONNX protobuf.
 *
 *   logits = h · Xᵀ (+ b)     with X = W_head [V, d]
 *
 * The head is found by walking back from the `logits` output, past any Cast or Identity: an
 * optional `Add` of a [V] initializer (the bias), then `MatMul(h, M)` where M is either an
 * initializer [d, V] (untied: W = Mᵀ) or `Transpose(E)` of an initializer [V, d] (tied to the
 * embedding: W = E), or `Gemm(h, M, b?)` with transB. The backbone is the same graph with
 * the head nodes removed and `h` exposed as `last_hidden_state`; the KV-cache outputs
 * stay.
 *
 * float16 / bfloat16 exports are up-cast to float32 (the only dtype the backbone runs in): every
 * such initializer and Constant tensor becomes float32 (exactly: each 16-bit value is a float32),
 * Casts and dtype attributes to a 16-bit float become FLOAT, and so do the element types of graph
 * inputs, outputs and value_info. Nothing else changes, so the backbone computes what the model
 * did, in float32 arithmetic on the same weight values.
 */
export interface PreparedDecoder {
  backbone: Uint8Array;
  /** W [V, d] row-major */
  W: Float32Array;
  /** b [V] when the head has a bias */
  b?: Float32Array;
  vocab: number;
  dModel: number;
  tied: boolean;
  opset: number;
  /** the export's weight dtype: the floating-point type holding most initializer elements */
  sourceDtype: string;
  /** whether 16-bit floats were up-cast to float32 */
  upcast: boolean;
  /** external data files the backbone references: name relative to backbone.onnx, file to copy it from */
  files: { name: string; from: string }[];
}

/** The dtypes `prepare` can write a backbone in. */
export const PREPARE_DTYPES = ['float32'] as const;
export type PrepareDtype = (typeof PREPARE_DTYPES)[number];

export function checkPrepareDtype(dtype: string | undefined, field = 'dtype'): PrepareDtype {
  if (dtype === undefined) return 'float32';
  if ((PREPARE_DTYPES as readonly string[]).includes(dtype)) return dtype as PrepareDtype;
  throw new DlabInputError(
    `${field} "${dtype}": only float32 is supported (float16 and bfloat16 weights are up-cast to float32: ONNX Runtime's CPU provider has no bfloat16 kernels, and the backbone's cache and hidden states are float32)`,
    field,
  );
}

type Node = onnx.INodeProto;
type Init = onnx.ITensorProto;
type Graph = onnx.IGraphProto;
const DT = onnx.TensorProto.DataType;
const isHalf = (dt: number | null | undefined) => dt === DT.FLOAT16 || dt === DT.BFLOAT16;

/** The name of the float32 data file an up-cast backbone's weights are written to. */
export const UPCAST_DATA_FILE = 'backbone.onnx_data';
/** Up-cast initializers at least this large (float32 bytes) go to the data file; smaller stay inline. */
const INLINE_MAX = 1024;

function decodeModel(bytes: Uint8Array, source: string): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new DlabInputError(`${source}: not an ONNX model (${(err as Error).message})`, source);
  }
  if (!model.graph) throw new DlabInputError(`${source}: the ONNX model has no graph`, source);
  return model;
}

interface HeadPlan {
  /** the nodes from the head's MatMul/Gemm to logits */
  nodes: Node[];
  hidden: string;
  /** the weight initializer, [V, d] ('vd') or [d, V] ('dv') */
  w: Init;
  layout: 'vd' | 'dv';
  bias?: Init;
  vocab: number;
  dModel: number;
  tied: boolean;
}

function findHead(graph: Graph, source: string): HeadPlan {
  const nodes = graph.node ?? [];
  const inits = new Map<string, Init>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const producer = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const fail = (what: string): never => {
    throw new DlabInputError(`${source}: cannot find the output head: ${what}`, source);
  };
  const chain: Node[] = [];
  /** the node producing `name`, past Cast (to a float type) and Identity nodes, which join the head */
  const through = (name: string): Node | undefined => {
    let n = producer.get(name);
    while (n && (n.opType === 'Identity' || (n.opType === 'Cast' && isFloatType(Number(n.attribute?.find((a) => a.name === 'to')?.i ?? 0))))) {
      chain.push(n);
      n = producer.get(n.input?.[0] ?? '');
    }
    return n;
  };

  if (!(graph.output ?? []).some((o) => o.name === 'logits')) fail(`no graph output named "logits" (outputs: ${(graph.output ?? []).map((o) => o.name).join(', ')})`);
  let top = through('logits');
  if (!top) fail('"logits" is not produced by any node');
  let bias: Init | undefined;
  if (top!.opType === 'Add') {
    const [x, y] = top!.input ?? [];
    const biasName = inits.has(y ?? '') ? y : inits.has(x ?? '') ? x : undefined;
    if (!biasName) fail(`logits = Add(${x}, ${y}) but neither is an initializer`);
    bias = inits.get(biasName!)!;
    chain.push(top!);
    top = through(biasName === y ? x! : y!);
    if (!top) fail('the Add before logits has no producing node for its non-bias input');
  }
  let plan: Omit<HeadPlan, 'nodes' | 'bias'>;
  if (top!.opType === 'MatMul') {
    chain.push(top!);
    const [h, m] = top!.input ?? [];
    const direct = inits.get(m!);
    if (direct) {
      const [d, v] = dims(direct);
      plan = { hidden: h!, w: direct, layout: 'dv', vocab: v, dModel: d, tied: false };
    } else {
      const t = producer.get(m!);
      const src = t?.opType === 'Transpose' ? inits.get(t.input?.[0] ?? '') : undefined;
      const perm = t?.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
      if (!t || !src || (perm && (perm[0] !== 1 || perm[1] !== 0))) {
        fail(`logits = MatMul(${h}, ${m}) where ${m} is produced by ${t?.opType ?? 'nothing'}; expected an initializer [d, V] or Transpose of an initializer [V, d]`);
      }
      const [v, d] = dims(src!);
      plan = { hidden: h!, w: src!, layout: 'vd', vocab: v, dModel: d, tied: true };
      if (consumers(nodes, m!).length === 1) chain.push(t!);
    }
  } else if (top!.opType === 'Gemm') {
    const g = top!;
    chain.push(g);
    const attr = (n: string) => g.attribute?.find((a) => a.name === n);
    if (Number(attr('transA')?.i ?? 0) !== 0 || (attr('alpha')?.f ?? 1) !== 1 || (attr('beta')?.f ?? 1) !== 1) fail('Gemm head with transA, alpha or beta is not supported');
    const [h, m, c] = g.input ?? [];
    const w = inits.get(m!);
    if (!w) fail(`Gemm head weight ${m} is not an initializer`);
    const transB = Number(attr('transB')?.i ?? 0) === 1;
    const [r, k] = dims(w!);
    plan = transB ? { hidden: h!, w: w!, layout: 'vd', vocab: r, dModel: k, tied: false } : { hidden: h!, w: w!, layout: 'dv', vocab: k, dModel: r, tied: false };
    if (c) bias = inits.get(c) ?? fail(`Gemm bias ${c} is not an initializer`);
  } else {
    return fail(`logits are produced by ${top!.opType}; expected MatMul, Gemm or Add(MatMul, bias)`);
  }
  if (bias && elementCount(bias) !== plan.vocab) fail(`head bias has ${elementCount(bias)} values, the head has ${plan.vocab} rows`);
  return { ...plan, nodes: chain, bias };
}

const isFloatType = (dt: number) => dt === DT.FLOAT || dt === DT.FLOAT16 || dt === DT.BFLOAT16 || dt === DT.DOUBLE;

/** Surgery: drop the head, expose h as last_hidden_state, drop what only the head used. */
function cutHead(graph: Graph, plan: HeadPlan): void {
  const remove = new Set(plan.nodes);
  graph.node = (graph.node ?? []).filter((n) => !remove.has(n));
  graph.node.push({ opType: 'Identity', input: [plan.hidden], output: ['last_hidden_state'], name: 'dlab_last_hidden_state' });
  graph.output = [
    ...(graph.output ?? []).filter((o) => o.name !== 'logits'),
    {
      name: 'last_hidden_state',
      type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }, { dimValue: plan.dModel }] } } },
    },
  ];
  pruneDead(graph);
}

function consumers(nodes: Node[], name: string): Node[] {
  return nodes.filter((n) => (n.input ?? []).includes(name));
}

/** Removes nodes whose outputs nobody uses and initializers no node reads. */
function pruneDead(graph: Graph): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  let changed = true;
  while (changed) {
    changed = false;
    const used = new Set<string>(outputs);
    for (const n of graph.node ?? []) for (const i of n.input ?? []) used.add(i);
    for (const i of subgraphInputs(graph)) used.add(i);
    const keep = (graph.node ?? []).filter((n) => (n.output ?? []).some((o) => used.has(o)));
    if (keep.length !== (graph.node ?? []).length) {
      graph.node = keep;
      changed = true;
    }
  }
  const read = new Set<string>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) read.add(i);
  for (const i of subgraphInputs(graph)) read.add(i);
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? ''));
}

/** Names read by nodes of subgraphs (If/Loop/Scan bodies), which may use outer-scope values. */
function subgraphInputs(graph: Graph): string[] {
  const names: string[] = [];
  const visit = (g: Graph) => {
    for (const n of g.node ?? []) {
      names.push(...(n.input ?? []));
      for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) visit(sub);
    }
  };
  for (const n of graph.node ?? []) for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) visit(sub);
  return names;
}

function dims(t: Init): [number, number] {
  const d = (t.dims ?? []).map(Number);
  if (d.length !== 2) throw new DlabInputError(`head weight ${t.name}: expected a matrix, found dims [${d.join(', ')}]`, t.name ?? undefined);
  return [d[0], d[1]];
}

// ---- tensors: bytes and dtypes ----

/** A tensor's inline values as little-endian bytes (raw_data, float_data, or int32_data for 16-bit floats). */
function inlineRaw(t: Init, source: string): Uint8Array {
  if (isExternal(t)) throw new DlabInputError(`${source}: tensor ${t.name} is stored as external data; prepare the .onnx file by its path, with its data files beside it`, t.name ?? undefined);
  if (t.rawData && t.rawData.length) return t.rawData;
  const dt = t.dataType ?? 0;
  if (dt === DT.FLOAT) return bytesOf(Float32Array.from(t.floatData ?? []));
  if (isHalf(dt)) return bytesOf(Uint16Array.from((t.int32Data ?? []).map((v) => v & 0xffff)));
  if (elementCount(t) === 0) return new Uint8Array(0);
  throw new DlabInputError(`${source}: tensor ${t.name}: ${DT[dt]} values outside raw_data are not supported here`, t.name ?? undefined);
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A typed view of `raw` (copied once when unaligned). */
function view<T>(raw: Uint8Array, size: number, make: (b: ArrayBuffer, off: number, n: number) => T): T {
  if (raw.byteOffset % size === 0) return make(raw.buffer as ArrayBuffer, raw.byteOffset, raw.byteLength / size);
  const copy = new Uint8Array(raw); // a copy (Buffer.slice would be a view)
  return make(copy.buffer, 0, copy.byteLength / size);
}

/** raw little-endian values of a float32 / float16 / bfloat16 tensor → float32 (into `out` when given). */
function toFloat32(raw: Uint8Array, dt: number, name: string, source: string, out?: Float32Array): Float32Array {
  if (dt === DT.FLOAT) {
    const v = view(raw, 4, (b, o, n) => new Float32Array(b, o, n));
    // a view over a larger buffer (the whole .onnx) is copied, so the head does not keep that buffer alive
    if (!out) return v.byteLength === v.buffer.byteLength ? v : v.slice();
    out.set(v);
    return out;
  }
  const bits = view(raw, 2, (b, o, n) => new Uint16Array(b, o, n));
  if (dt === DT.FLOAT16) return halfToFloat32(bits, out);
  if (dt === DT.BFLOAT16) return bfloat16ToFloat32(bits, out);
  throw new DlabInputError(`${source}: tensor ${name}: expected float32, float16 or bfloat16, found ${DT[dt] ?? dt}`, name);
}

/** The head matrix as W [V, d] float32 from the weight's raw bytes in its layout. */
function headMatrix(raw: Uint8Array, plan: HeadPlan, source: string): Float32Array {
  const f = toFloat32(raw, plan.w.dataType ?? 0, plan.w.name ?? '', source);
  if (plan.layout === 'vd') return f;
  const d = plan.dModel;
  const V = plan.vocab;
  const W = new Float32Array(V * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < V; c++) W[c * d + r] = f[r * V + c]; // [d, V] → [V, d]
  return W;
}

/**
 * The head matrix W [V, d] float32 read from external data a block of rows at a time (at most
 * CHUNK bytes): [V, d] float32 straight into W, otherwise converted (and for [d, V] transposed)
 * block by block, so only W and one block are in memory.
 */
async function externalHead(files: ExternalFiles, plan: HeadPlan, source: string): Promise<Float32Array> {
  const t = plan.w;
  const ref = externalRef(t, source);
  const name = t.name ?? '';
  const dt = t.dataType ?? 0;
  const W = new Float32Array(plan.vocab * plan.dModel);
  if (dt === DT.FLOAT && plan.layout === 'vd') {
    await files.read(ref, name, 0, ref.length, Buffer.from(W.buffer));
    return W;
  }
  if (dt !== DT.FLOAT && !isHalf(dt)) throw new DlabInputError(`${source}: tensor ${name}: expected float32, float16 or bfloat16, found ${DT[dt] ?? dt}`, name);
  const [rows, cols] = plan.layout === 'vd' ? [plan.vocab, plan.dModel] : [plan.dModel, plan.vocab];
  const rowBytes = cols * elemBytes(t, source);
  const block = Math.max(1, Math.floor(CHUNK / rowBytes));
  const buf = Buffer.allocUnsafeSlow(block * rowBytes);
  const conv = new Float32Array(block * cols);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const n = Math.min(block, rows - r0);
    const chunk = await files.read(ref, name, r0 * rowBytes, n * rowBytes, buf);
    if (plan.layout === 'vd') {
      toFloat32(chunk, dt, name, source, W.subarray(r0 * cols, (r0 + n) * cols));
      continue;
    }
    const f = toFloat32(chunk, dt, name, source, conv.subarray(0, n * cols));
    const d = plan.dModel;
    for (let r = 0; r < n; r++) for (let c = 0; c < cols; c++) W[c * d + r0 + r] = f[r * cols + c]; // [d, V] → [V, d]
  }
  return W;
}

/** Calls fn on every tensor of the graph: initializers, then node attribute tensors (subgraphs included). */
function forEachTensor(graph: Graph, fn: (t: Init, where: 'initializer' | 'attribute') => void): void {
  for (const t of graph.initializer ?? []) fn(t, 'initializer');
  const visit = (g: Graph) => {
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t) fn(a.t, 'attribute');
        for (const t of a.tensors ?? []) fn(t, 'attribute');
        for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) {
          for (const t of sub.initializer ?? []) fn(t, 'initializer');
          visit(sub);
        }
      }
    }
  };
  visit(graph);
}

/** Ops whose `dtype` attribute names an output element type. */
const DTYPE_OPS = new Set(['EyeLike', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Bernoulli']);

/**
 * 16-bit float element types → FLOAT in graph inputs, outputs, value_info, Cast `to` and `dtype`
 * attributes (subgraphs included); tensors are converted separately. Returns how many were changed
 * (with apply = false: how many would be).
 */
function upcastTypes(graph: Graph, apply: boolean): number {
  let n = 0;
  const fixType = (tp: onnx.ITypeProto | null | undefined) => {
    if (!tp) return;
    for (const holder of [tp.tensorType, tp.sparseTensorType]) {
      if (holder && isHalf(holder.elemType)) {
        n++;
        if (apply) holder.elemType = DT.FLOAT;
      }
    }
    fixType(tp.sequenceType?.elemType);
    fixType(tp.optionalType?.elemType);
    fixType(tp.mapType?.valueType);
  };
  const visit = (g: Graph) => {
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) fixType(v.type);
    for (const node of g.node ?? []) {
      for (const a of node.attribute ?? []) {
        if ((node.opType === 'Cast' && a.name === 'to') || (DTYPE_OPS.has(node.opType ?? '') && a.name === 'dtype')) {
          if (isHalf(Number(a.i ?? 0))) {
            n++;
            if (apply) a.i = DT.FLOAT;
          }
        }
        if (a.tp) fixType(a.tp);
        for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) visit(sub);
      }
    }
  };
  visit(graph);
  return n;
}

/** The floating-point type holding most initializer elements (the export's weight dtype). */
function weightDtype(graph: Graph): string {
  const count = new Map<number, number>();
  forEachTensor(graph, (t, where) => {
    if (where === 'initializer' && isFloatType(t.dataType ?? 0)) count.set(t.dataType!, (count.get(t.dataType!) ?? 0) + elementCount(t));
  });
  const best = [...count].sort((a, b) => b[1] - a[1])[0];
  const names: Record<number, string> = { [DT.FLOAT]: 'float32', [DT.FLOAT16]: 'float16', [DT.BFLOAT16]: 'bfloat16', [DT.DOUBLE]: 'float64' };
  return best ? names[best[0]] : 'float32';
}

function needsUpcast(graph: Graph): boolean {
  let half = false;
  forEachTensor(graph, (t) => (half ||= isHalf(t.dataType)));
  return half || upcastTypes(graph, false) > 0;
}

/** A tensor made inline float32 from its (16-bit) values. */
function setInlineFloat(t: Init, f: Float32Array): void {
  t.dataType = DT.FLOAT;
  t.rawData = bytesOf(f);
  t.floatData = [];
  t.int32Data = [];
  t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  t.externalData = [];
}

// ---- in memory ----

/**
 * prepare on a model held in memory, every tensor inline (`dlab model build`'s decoders and
 * tests). A model with external data is refused: use prepareDecoderFile.
 */
export function prepareDecoder(bytes: Uint8Array, source = 'model', opts: { dtype?: string } = {}): PreparedDecoder {
  checkPrepareDtype(opts.dtype);
  const model = decodeModel(bytes, source);
  const graph = model.graph!;
  forEachTensor(graph, (t) => void (isExternal(t) && inlineRaw(t, source)));
  const sourceDtype = weightDtype(graph);
  const plan = findHead(graph, source);
  const W = headMatrix(inlineRaw(plan.w, source), plan, source);
  const b = plan.bias ? toFloat32(inlineRaw(plan.bias, source), plan.bias.dataType ?? 0, plan.bias.name ?? '', source) : undefined;
  cutHead(graph, plan);
  const upcast = needsUpcast(graph);
  if (upcast) {
    upcastTypes(graph, true);
    forEachTensor(graph, (t) => {
      if (isHalf(t.dataType)) setInlineFloat(t, toFloat32(inlineRaw(t, source), t.dataType!, t.name ?? '', source));
    });
  }
  return { backbone: onnx.ModelProto.encode(model).finish(), W, b, vocab: plan.vocab, dModel: plan.dModel, tied: plan.tied, opset: opsetOf(model), sourceDtype, upcast, files: [] };
}

const opsetOf = (model: onnx.ModelProto) => Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);

// ---- from a file, with external data ----

/** Appends tensors to a data file at 64-byte aligned offsets. */
class DataOut {
  private end = 0;
  private constructor(readonly path: string, private readonly fh: fs.FileHandle) {}
  static async create(path: string): Promise<DataOut> {
    return new DataOut(path, await fs.open(path, 'wx'));
  }
  reserve(bytes: number): number {
    const at = Math.ceil(this.end / 64) * 64;
    this.end = at + bytes;
    return at;
  }
  async write(data: Uint8Array, at: number): Promise<void> {
    let done = 0;
    while (done < data.length) done += (await this.fh.write(data, done, data.length - done, at + done)).bytesWritten;
  }
  async close(): Promise<void> {
    if (this.end > 0) await this.fh.truncate(this.end);
    await this.fh.sync();
    await this.fh.close();
  }
}

/** Chunk of external data read at a time when streaming a tensor (bytes; a multiple of 4). */
const CHUNK = 16 << 20;

/**
 * prepare on an .onnx file whose tensors may be external data beside it. The head's weights (and
 * bias) are read by positioned reads of their byte ranges. The backbone keeps its weights
 * external: a float32 export's data files are listed in `files` to be copied as they are (only
 * those a backbone tensor still references); an up-cast export's external tensors and large
 * 16-bit initializers are written as float32 to `stage`/backbone.onnx_data, tensor by tensor in
 * chunks, so at most one chunk of the backbone's weights is in memory at a time.
 */
export async function prepareDecoderFile(path: string, opts: { dtype?: string; stage: string }): Promise<PreparedDecoder & { onnxBytes: Uint8Array }> {
  checkPrepareDtype(opts.dtype);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    throw new DlabInputError(`${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`, path);
  }
  const model = decodeModel(bytes, path);
  const graph = model.graph!;
  const files = new ExternalFiles(dirname(path), path);
  try {
    // every external reference checked up front (location, size, file present), naming the tensor
    const refs: Promise<void>[] = [];
    forEachTensor(graph, (t) => {
      if (isExternal(t)) refs.push(files.check(externalRef(t, path), t.name ?? ''));
    });
    const checked = await Promise.allSettled(refs);
    for (const r of checked) if (r.status === 'rejected') throw r.reason;
    const raw = (t: Init) => (isExternal(t) ? files.read(externalRef(t, path), t.name ?? '') : Promise.resolve(inlineRaw(t, path)));
    const sourceDtype = weightDtype(graph);
    const plan = findHead(graph, path);
    const W = isExternal(plan.w) ? await externalHead(files, plan, path) : headMatrix(inlineRaw(plan.w, path), plan, path);
    const b = plan.bias ? toFloat32(await raw(plan.bias), plan.bias.dataType ?? 0, plan.bias.name ?? '', path) : undefined;
    cutHead(graph, plan);

    // attribute tensors (Constant values) are kept inline
    const attrs: Init[] = [];
    forEachTensor(graph, (t, where) => void (where === 'attribute' && isExternal(t) && attrs.push(t)));
    for (const t of attrs) {
      const r = await raw(t);
      t.rawData = new Uint8Array(r);
      t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      t.externalData = [];
    }

    const upcast = needsUpcast(graph);
    const out: { name: string; from: string }[] = [];
    if (!upcast) {
      const locations = new Set<string>();
      forEachTensor(graph, (t) => void (isExternal(t) && locations.add(externalRef(t, path).location)));
      for (const loc of [...locations].sort()) out.push({ name: loc, from: join(dirname(path), loc) });
    } else {
      upcastTypes(graph, true);
      const tensors: Init[] = [];
      forEachTensor(graph, (t) => void tensors.push(t));
      // small external tensors (shape constants, which shape inference must read) come inline
      const outBytes = (t: Init) => elementCount(t) * (isHalf(t.dataType) ? 4 : elemBytes(t, path));
      for (const t of tensors) {
        if (!isExternal(t) || outBytes(t) >= INLINE_MAX) continue;
        t.rawData = new Uint8Array(await raw(t));
        t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
        t.externalData = [];
      }
      const toFile = tensors.filter((t) => isExternal(t) || (isHalf(t.dataType) && graph.initializer?.includes(t) && outBytes(t) >= INLINE_MAX));
      if (toFile.length) {
        await fs.mkdir(opts.stage, { recursive: true });
        const data = await DataOut.create(join(opts.stage, UPCAST_DATA_FILE));
        try {
          const buf = Buffer.allocUnsafeSlow(CHUNK);
          const conv = new Float32Array(CHUNK / 2);
          for (const t of toFile) {
            const half = isHalf(t.dataType);
            const dt = t.dataType!;
            const size = outBytes(t);
            const at = data.reserve(size);
            if (isExternal(t)) {
              const ref = externalRef(t, path);
              for (let pos = 0; pos < ref.length; pos += CHUNK) {
                const chunk = await files.read(ref, t.name ?? '', pos, Math.min(CHUNK, ref.length - pos), buf);
                await data.write(half ? bytesOf(toFloat32(chunk, dt, t.name ?? '', path, conv.subarray(0, chunk.length / 2))) : chunk, at + (half ? pos * 2 : pos));
              }
            } else {
              const r = inlineRaw(t, path);
              await data.write(half ? bytesOf(toFloat32(r, dt, t.name ?? '', path)) : r, at);
            }
            if (half) t.dataType = DT.FLOAT;
            t.rawData = new Uint8Array(0);
            t.floatData = [];
            t.int32Data = [];
            t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
            t.externalData = [
              { key: 'location', value: UPCAST_DATA_FILE },
              { key: 'offset', value: String(at) },
              { key: 'length', value: String(size) },
            ];
          }
        } finally {
          await data.close();
        }
        out.push({ name: UPCAST_DATA_FILE, from: join(opts.stage, UPCAST_DATA_FILE) });
      }
      for (const t of tensors) if (isHalf(t.dataType)) setInlineFloat(t, toFloat32(inlineRaw(t, path), t.dataType!, t.name ?? '', path));
    }
    return { backbone: onnx.ModelProto.encode(model).finish(), W, b, vocab: plan.vocab, dModel: plan.dModel, tied: plan.tied, opset: opsetOf(model), sourceDtype, upcast, files: out, onnxBytes: bytes };
  } finally {
    await files.close();
  }
}

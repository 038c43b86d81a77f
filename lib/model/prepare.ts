import { onnx } from 'onnx-proto';
import { DlabInputError } from '../errors';

/**
 * `dlab model prepare`: split a causal LM into a backbone and its output head by surgery
 * on the ONNX protobuf.
 *
 *   logits = h · Xᵀ (+ b)     with X = W_head [V, d]
 *
 * The head is found by walking back from the `logits` output: an optional `Add` of a
 * [V] initializer (the bias), then `MatMul(h, M)` where M is either an initializer
 * [d, V] (untied: W = Mᵀ) or `Transpose(E)` of an initializer [V, d] (tied to the
 * embedding: W = E), or `Gemm(h, M, b?)` with transB. The backbone is the same graph with
 * the head nodes removed and `h` exposed as `last_hidden_state`; the KV-cache outputs
 * stay. Nothing else is touched, so the backbone computes exactly what the model did.
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
}

type Node = onnx.INodeProto;
type Init = onnx.ITensorProto;

export function prepareDecoder(bytes: Uint8Array, source = 'model'): PreparedDecoder {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new DlabInputError(`${source}: not an ONNX model (${(err as Error).message})`, source);
  }
  const graph = model.graph;
  if (!graph) throw new DlabInputError(`${source}: the ONNX model has no graph`, source);
  const nodes = graph.node ?? [];
  const inits = new Map<string, Init>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const producer = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const fail = (what: string) => {
    throw new DlabInputError(`${source}: cannot find the output head: ${what}`, source);
  };

  if (!(graph.output ?? []).some((o) => o.name === 'logits')) fail(`no graph output named "logits" (outputs: ${(graph.output ?? []).map((o) => o.name).join(', ')})`);
  let top = producer.get('logits');
  if (!top) fail('"logits" is not produced by any node');
  const headNodes: Node[] = [];
  let bias: Float32Array | undefined;
  let matmul: Node;
  if (top!.opType === 'Add') {
    const [x, y] = top!.input ?? [];
    const biasName = inits.has(y ?? '') ? y : inits.has(x ?? '') ? x : undefined;
    if (!biasName) fail(`logits = Add(${x}, ${y}) but neither is an initializer`);
    bias = floats(inits.get(biasName!)!, source);
    headNodes.push(top!);
    top = producer.get(biasName === y ? x! : y!);
    if (!top) fail('the Add before logits has no producing node for its non-bias input');
  }
  let W: Float32Array;
  let vocab: number;
  let dModel: number;
  let tied = false;
  let hidden: string;
  if (top!.opType === 'MatMul') {
    matmul = top!;
    headNodes.push(matmul);
    const [h, m] = matmul.input ?? [];
    hidden = h!;
    const direct = inits.get(m!);
    if (direct) {
      const [d, v] = dims(direct);
      dModel = d;
      vocab = v;
      W = transpose(floats(direct, source), d, v); // [d, V] → [V, d]
    } else {
      const t = producer.get(m!);
      const src = t?.opType === 'Transpose' ? inits.get(t.input?.[0] ?? '') : undefined;
      const perm = t?.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
      if (!t || !src || (perm && (perm[0] !== 1 || perm[1] !== 0))) {
        fail(`logits = MatMul(${h}, ${m}) where ${m} is produced by ${t?.opType ?? 'nothing'}; expected an initializer [d, V] or Transpose of an initializer [V, d]`);
      }
      [vocab, dModel] = dims(src!);
      W = floats(src!, source);
      tied = true;
      if (consumers(nodes, m!).length === 1) headNodes.push(t!);
    }
  } else if (top!.opType === 'Gemm') {
    const g = top!;
    headNodes.push(g);
    const attr = (n: string) => g.attribute?.find((a) => a.name === n);
    if (Number(attr('transA')?.i ?? 0) !== 0 || (attr('alpha')?.f ?? 1) !== 1 || (attr('beta')?.f ?? 1) !== 1) fail('Gemm head with transA, alpha or beta is not supported');
    const [h, m, c] = g.input ?? [];
    hidden = h!;
    const w = inits.get(m!);
    if (!w) fail(`Gemm head weight ${m} is not an initializer`);
    const transB = Number(attr('transB')?.i ?? 0) === 1;
    const [r, k] = dims(w!);
    [vocab, dModel] = transB ? [r, k] : [k, r];
    W = transB ? floats(w!, source) : transpose(floats(w!, source), r, k);
    if (c) bias = floats(inits.get(c) ?? fail(`Gemm bias ${c} is not an initializer`)!, source);
  } else {
    fail(`logits are produced by ${top!.opType}; expected MatMul, Gemm or Add(MatMul, bias)`);
  }
  if (bias && bias.length !== vocab!) fail(`head bias has ${bias.length} values, the head has ${vocab!} rows`);

  // surgery: drop the head, expose h as last_hidden_state, drop what only the head used
  const remove = new Set(headNodes);
  graph.node = nodes.filter((n) => !remove.has(n));
  graph.node.push({ opType: 'Identity', input: [hidden!], output: ['last_hidden_state'], name: 'dlab_last_hidden_state' });
  graph.output = [
    ...(graph.output ?? []).filter((o) => o.name !== 'logits'),
    {
      name: 'last_hidden_state',
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }, { dimValue: dModel! }] } } },
    },
  ];
  pruneDead(graph);
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);
  return { backbone: onnx.ModelProto.encode(model).finish(), W: W!, b: bias, vocab: vocab!, dModel: dModel!, tied, opset };
}

function consumers(nodes: Node[], name: string): Node[] {
  return nodes.filter((n) => (n.input ?? []).includes(name));
}

/** Removes nodes whose outputs nobody uses and initializers no node reads. */
function pruneDead(graph: onnx.IGraphProto): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  let changed = true;
  while (changed) {
    changed = false;
    const used = new Set<string>(outputs);
    for (const n of graph.node ?? []) for (const i of n.input ?? []) used.add(i);
    const keep = (graph.node ?? []).filter((n) => (n.output ?? []).some((o) => used.has(o)));
    if (keep.length !== (graph.node ?? []).length) {
      graph.node = keep;
      changed = true;
    }
  }
  const read = new Set<string>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) read.add(i);
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? ''));
}

function dims(t: Init): [number, number] {
  const d = (t.dims ?? []).map(Number);
  if (d.length !== 2) throw new DlabInputError(`head weight ${t.name}: expected a matrix, found dims [${d.join(', ')}]`, t.name ?? undefined);
  return [d[0], d[1]];
}

/** An initializer's values as float32 (raw_data or float_data). */
export function floats(t: Init, source: string): Float32Array {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) {
    throw new DlabInputError(`${source}: tensor ${t.name}: expected float32, found ${onnx.TensorProto.DataType[t.dataType ?? 0]}`, t.name ?? undefined);
  }
  if ((t.externalData ?? []).length) throw new DlabInputError(`${source}: tensor ${t.name} is stored as external data; export with weights inside the .onnx file`, t.name ?? undefined);
  if (t.rawData && t.rawData.length) {
    const raw = t.rawData;
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

import { onnx } from 'onnx-proto';

/**
 * The decoding form of a prepared backbone: the same graph with three outputs and three inputs
 * added, so that a generation step is one `session.run` that returns only what the next step
 * needs.
 *
 *   dlab.new     [2·nLayer·B, kvHeads, S, headDim]   the keys/values of the S tokens just fed,
 *                layer by layer, key then value: block j = 2i + (0 key | 1 value) is rows
 *                j·B … j·B+B−1, the second input of the Concat(past, new) that makes present.{i}.*
 *                (one output, not 2·nLayer: each fetched output costs a pass several µs)
 *   dlab.logits  [B, V] = h[:, S−1, :] · Wᵀ + b   the head on the last position, with
 *                W = dlab.head.W [V, d] and b = dlab.head.b [V] fed as inputs (heads stay data:
 *                a trained one is swapped in without touching the graph)
 *   dlab.probs   [B, V] = softmax(dlab.logits · τ⁻¹) over the vocabulary, with τ⁻¹ =
 *                dlab.inv_temperature [1] fed as an input: the distribution a sampled token is
 *                drawn from (sampling.ts sampleProbs), computed by ONNX Runtime's vectorised
 *                Softmax (which subtracts the row's max first) on the cores the pass ran on, in
 *                float32; a greedy step feeds τ⁻¹ = 0 and fetches the logits instead (the
 *                Softmax runs in an If on τ⁻¹ > 0: ONNX Runtime runs every node, fetched or not)
 *
 * With the new keys/values as outputs, the cache can live in buffers dlab owns (decoder.ts
 * SlotDecoder): ONNX Runtime no longer allocates, and onnxruntime-node no longer copies, the
 * grown present [B, kvHeads, T, headDim] of every layer at every token. Nothing else in the
 * graph changes: hidden states, presents and every original output are computed as before.
 *
 * Exports whose cache is not a Concat along the sequence axis of past_key_values.{i}.* (e.g.
 * ONNX Runtime's fused GroupQueryAttention) cannot be given these outputs; `decodingGraph`
 * returns why, and generation runs on present.{i}.* as before.
 */
export const NEW_KV = 'dlab.new';
export const FUSED_LOGITS = 'dlab.logits';
export const HEAD_W = 'dlab.head.W';
export const HEAD_B = 'dlab.head.b';
export const FUSED_PROBS = 'dlab.probs';
export const INV_TEMPERATURE = 'dlab.inv_temperature';
const SCALED = 'dlab.scaled_logits';
const SAMPLED = 'dlab.sampled_probs';
const NO_PROBS = 'dlab.no_probs';
const SAMPLE = 'dlab.sample';
const ZERO = 'dlab.zero';
const LAST_INDEX = 'dlab.last_index';
const LAST_HIDDEN = 'dlab.last_hidden';

type Node = onnx.INodeProto;

export function decodingGraph(bytes: Uint8Array, nLayer: number): { bytes: Uint8Array } | { reason: string } {
  const model = onnx.ModelProto.decode(bytes);
  const g = model.graph;
  if (!g) return { reason: 'no graph' };
  const nodes = g.node ?? [];
  const producer = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const taken = (name: string) => producer.has(name) || (g.input ?? []).some((v) => v.name === name) || (g.initializer ?? []).some((t) => t.name === name);
  for (const name of [NEW_KV, FUSED_LOGITS, FUSED_PROBS, HEAD_W, HEAD_B, INV_TEMPERATURE, SCALED, SAMPLED, NO_PROBS, SAMPLE, ZERO, LAST_INDEX, LAST_HIDDEN]) if (taken(name)) return { reason: `the graph already has a value named ${name}` };
  // back to what made `name`, through Identity and Cast(to = float32) nodes (no-ops in a prepared
  // backbone, float32 throughout: an up-cast export keeps the Casts it had around its cache)
  const noop = (n: Node) => n.input?.length === 1 && (n.opType === 'Identity' || (n.opType === 'Cast' && Number((n.attribute ?? []).find((a) => a.name === 'to')?.i) === onnx.TensorProto.DataType.FLOAT));
  const source = (name: string): { node?: Node; name: string } => {
    let n = producer.get(name);
    while (n && noop(n)) {
      name = n.input![0];
      n = producer.get(name);
    }
    return { node: n, name };
  };
  if (!(g.output ?? []).some((o) => o.name === 'last_hidden_state')) return { reason: 'no last_hidden_state output' };
  // without position_ids, positions come from the graph: from the mask (as dlab's own 'from-mask'
  // layout does; the slots keep the mask's count of real tokens) or from the cache's length (a
  // Shape of the past, which the slots change). Only the first is safe, so the past must have no
  // reader but its Concat then.
  const hasPositionIds = (g.input ?? []).some((v) => v.name === 'position_ids');
  const consumers = new Map<string, Node[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const readers = (name: string): Node[] => (consumers.get(name) ?? []).flatMap((c) => (noop(c) ? readers(c.output![0]) : [c]));
  // dlab.new stacks every layer's keys and values, so they need one shape: refuse declared head
  // sizes (axes 1 and 3 of the past) that differ between layers or between keys and values
  const declared = (name: string) => (g.input ?? []).find((v) => v.name === name)?.type?.tensorType?.shape?.dim ?? [];
  for (const axis of [1, 3]) {
    const sizes = new Set<number>();
    for (let i = 0; i < nLayer; i++) for (const kind of ['key', 'value']) {
      const d = declared(`past_key_values.${i}.${kind}`)[axis];
      if (d?.dimValue !== undefined && d.dimValue !== null) sizes.add(Number(d.dimValue));
    }
    if (sizes.size > 1) return { reason: `the past's axis ${axis} differs between layers or between keys and values (${[...sizes].join(', ')}): one stacked output cannot hold them` };
  }
  const added: Node[] = [];
  const outputs: onnx.IValueInfoProto[] = [];
  const fresh: string[] = [];
  for (let i = 0; i < nLayer; i++) {
    for (const kind of ['key', 'value'] as const) {
      const present = `present.${i}.${kind}`;
      const { node } = source(present);
      if (!node || node.opType !== 'Concat' || node.input?.length !== 2) return { reason: `${present} is not made by a Concat of the past and the new ${kind}s (${node ? node.opType : 'no node'})` };
      const axis = (node.attribute ?? []).find((a) => a.name === 'axis')?.i;
      if (Number(axis) !== 2 && Number(axis) !== -2) return { reason: `${present}: the Concat is along axis ${axis}, not the sequence axis 2` };
      if (source(node.input[0]).name !== `past_key_values.${i}.${kind}`) return { reason: `${present}: the Concat's first input is not past_key_values.${i}.${kind}` };
      const past = readers(`past_key_values.${i}.${kind}`);
      if (!hasPositionIds && (past.length !== 1 || past[0] !== node)) {
        return { reason: `no position_ids input, and past_key_values.${i}.${kind} is read by ${past.filter((n) => n !== node).map((n) => n.opType).join(', ')} besides its Concat (positions may come from the cache's length, which the slots change)` };
      }
      fresh.push(node.input[1]);
    }
  }
  added.push({ opType: 'Concat', input: fresh, output: [NEW_KV], name: 'dlab_new_kv', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
  outputs.push(valueInfo(NEW_KV, ['dlab_kv_rows', 'dlab_kv_heads', 'sequence_length', 'dlab_head_dim']));
  // logits of the last position: Gather(h, −1, axis 1) [B, d], then Gemm with W transposed
  g.initializer = [...(g.initializer ?? []), { name: LAST_INDEX, dims: [], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(new BigInt64Array([-1n]).buffer) }];
  added.push(
    { opType: 'Gather', input: ['last_hidden_state', LAST_INDEX], output: [LAST_HIDDEN], name: 'dlab_last_hidden', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
    { opType: 'Gemm', input: [LAST_HIDDEN, HEAD_W, HEAD_B], output: [FUSED_LOGITS], name: 'dlab_head', attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
  );
  outputs.push(valueInfo(FUSED_LOGITS, ['batch_size', 'dlab_vocab']));
  // the distribution, computed only when sampling (τ⁻¹ > 0): ONNX Runtime runs every node of a
  // graph whatever is fetched, and a greedy step (τ⁻¹ fed as 0) would otherwise pay the Softmax
  // over the vocabulary for nothing; its dlab.probs is then [0, 0]
  const { AttributeType } = onnx.AttributeProto;
  g.initializer.push({ name: ZERO, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [0] });
  const sampled: onnx.IGraphProto = {
    name: 'dlab_sampled',
    node: [
      { opType: 'Mul', input: [FUSED_LOGITS, INV_TEMPERATURE], output: [SCALED], name: 'dlab_temperature' },
      { opType: 'Softmax', input: [SCALED], output: [SAMPLED], name: 'dlab_softmax', attribute: [{ name: 'axis', type: AttributeType.INT, i: -1 }] },
    ],
    output: [valueInfo(SAMPLED, ['batch_size', 'dlab_vocab'])],
  };
  const greedy: onnx.IGraphProto = {
    name: 'dlab_greedy',
    node: [{ opType: 'Constant', output: [NO_PROBS], name: 'dlab_no_probs', attribute: [{ name: 'value', type: AttributeType.TENSOR, t: { dims: [0, 0], dataType: onnx.TensorProto.DataType.FLOAT } }] }],
    output: [valueInfo(NO_PROBS, ['dlab_rows', 'dlab_cols'])],
  };
  added.push(
    { opType: 'Greater', input: [INV_TEMPERATURE, ZERO], output: [SAMPLE], name: 'dlab_sample' },
    {
      opType: 'If',
      input: [SAMPLE],
      output: [FUSED_PROBS],
      name: 'dlab_probs',
      attribute: [
        { name: 'then_branch', type: AttributeType.GRAPH, g: sampled },
        { name: 'else_branch', type: AttributeType.GRAPH, g: greedy },
      ],
    },
  );
  outputs.push(valueInfo(FUSED_PROBS, ['dlab_probs_rows', 'dlab_probs_vocab']));
  g.node = [...nodes, ...added];
  g.input = [...(g.input ?? []), valueInfo(HEAD_W, ['dlab_vocab', 'dlab_d_model']), valueInfo(HEAD_B, ['dlab_vocab']), valueInfo(INV_TEMPERATURE, [1])];
  g.output = [...(g.output ?? []), ...outputs];
  return { bytes: onnx.ModelProto.encode(model).finish() };
}

function valueInfo(name: string, dims: (string | number)[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

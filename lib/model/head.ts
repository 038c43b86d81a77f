import { Tensor } from 'onnxruntime-node';
import { Table } from 'apache-arrow';
import { DlabInputError } from '../errors';
import { readNumbers, readVectors, tableFromColumns, vectorColumn } from '../store/columns';
import { FLOAT, GraphBuilder, intAttr } from './onnx-graph';
import { createSession, sharedSession } from './session-cache';

/** The trainable part of a policy: logits z = W h + b, W [V, d] row-major, b [V]. */
export interface Head {
  W: Float32Array;
  b: Float32Array;
  vocab: number;
  dModel: number;
}

export function makeHead(W: Float32Array, b: Float32Array | undefined, vocab: number, dModel: number): Head {
  if (W.length !== vocab * dModel) throw new DlabInputError(`head: W has ${W.length} values, expected vocab × dModel = ${vocab} × ${dModel}`);
  const bias = b ?? new Float32Array(vocab);
  if (bias.length !== vocab) throw new DlabInputError(`head: b has ${bias.length} values, expected ${vocab}`);
  return { W, b: bias, vocab, dModel };
}

/** Head → a `model.head@1` table (row v = token v), zero-copy over W. */
export function headToTable(head: Head): Table {
  const token = new Int32Array(head.vocab);
  for (let v = 0; v < head.vocab; v++) token[v] = v;
  return tableFromColumns({ token, w: vectorColumn(head.W, head.dModel), b: head.b });
}

export function headFromTable(table: Table, source: string): Head {
  const { data, rows, dim } = readVectors(table, 'w');
  const b = readNumbers(table, 'b');
  if (!(b instanceof Float32Array) || b.length !== rows) throw new DlabInputError(`${source}: head bias column must be float32 with one value per row`);
  return { W: data, b, vocab: rows, dModel: dim };
}

/**
 * Gemm(h, W, b, transB = 1): h [N, d] → logits [N, V], with W and b fed as inputs (swap heads
 * freely); `withProbs`: also probs [N, V] = softmax(logits · τ⁻¹) over the vocabulary, τ⁻¹ fed as
 * inv_temperature [1] (the same two nodes as the decoding form's dlab.probs, decode-graph.ts).
 */
function headGraph(withProbs: boolean): Uint8Array {
  const g = new GraphBuilder(withProbs ? 'dlab_head_probs' : 'dlab_head');
  g.input('h', FLOAT, ['n', 'd']);
  g.input('W', FLOAT, ['vocab', 'd']);
  g.input('b', FLOAT, ['vocab']);
  g.op('Gemm', ['h', 'W', 'b'], [intAttr('transB', 1)], 'logits');
  if (withProbs) {
    g.input('inv_temperature', FLOAT, [1]);
    g.op('Mul', ['logits', 'inv_temperature'], undefined, 'scaled');
    g.op('Softmax', ['scaled'], [intAttr('axis', -1)], 'probs');
    g.output('probs', FLOAT, ['n', 'vocab']);
  } else {
    g.output('logits', FLOAT, ['n', 'vocab']);
  }
  return g.toBytes();
}

/** logits [N, V] = h [N, d] · Wᵀ + b, on ONNX Runtime (one shared session per process). */
export async function headLogits(head: Head, h: Float32Array, n: number): Promise<Float32Array> {
  return runHead(head, h, n);
}

/** probs [N, V] = softmax((h [N, d] · Wᵀ + b) · invT) by row, on ONNX Runtime (one shared session per process). */
export async function headProbs(head: Head, h: Float32Array, n: number, invT: number): Promise<Float32Array> {
  return runHead(head, h, n, invT);
}

async function runHead(head: Head, h: Float32Array, n: number, invT?: number): Promise<Float32Array> {
  if (h.length !== n * head.dModel) throw new Error(`head: h has ${h.length} values, expected ${n} × ${head.dModel}`);
  if (n === 0) return new Float32Array(0);
  const probs = invT !== undefined;
  const session = await sharedSession(probs ? 'dlab-head-softmax' : 'dlab-head-gemm', () => createSession(headGraph(probs)));
  const feeds: Record<string, Tensor> = {
    h: new Tensor('float32', h, [n, head.dModel]),
    W: new Tensor('float32', head.W, [head.vocab, head.dModel]),
    b: new Tensor('float32', head.b, [head.vocab]),
  };
  if (probs) feeds.inv_temperature = new Tensor('float32', new Float32Array([invT]), [1]);
  const out = await session.run(feeds);
  return (probs ? out.probs : out.logits).data as Float32Array;
}

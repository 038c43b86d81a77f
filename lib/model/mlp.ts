import { InferenceSession, Tensor } from 'onnxruntime-node';
import { Rng } from '../rng';
import { FLOAT, GraphBuilder } from './onnx-graph';

export interface MlpConfig {
  inDim: number;
  hidden: number;
  outDim: number;
  seed: number;
}

/**
 * Two-layer perceptron as an ONNX graph:  y = tanh(x W1 + b1) W2 + b2
 * x: [batch, inDim] float32 → y: [batch, outDim] float32.
 * Weights ~ N(0, 1/fan_in) from the seeded RNG, so the same config gives the same bytes.
 */
export function buildMlp(cfg: MlpConfig): Uint8Array {
  const rng = new Rng(cfg.seed, 0x6d6c70);
  const g = new GraphBuilder('dlab_mlp');
  const x = g.input('x', FLOAT, ['batch', cfg.inDim]);
  g.output('y', FLOAT, ['batch', cfg.outDim]);
  const w1 = new Float32Array(cfg.inDim * cfg.hidden);
  rng.fillNormal(w1, 1 / Math.sqrt(cfg.inDim));
  const b1 = new Float32Array(cfg.hidden);
  rng.fillNormal(b1, 0.1);
  const w2 = new Float32Array(cfg.hidden * cfg.outDim);
  rng.fillNormal(w2, 1 / Math.sqrt(cfg.hidden));
  const b2 = new Float32Array(cfg.outDim);
  rng.fillNormal(b2, 0.1);
  const h = g.op('Tanh', [g.op('Add', [g.op('MatMul', [x, g.floatTensor('W1', [cfg.inDim, cfg.hidden], w1)]), g.floatTensor('b1', [cfg.hidden], b1)])]);
  g.op('Add', [g.op('MatMul', [h, g.floatTensor('W2', [cfg.hidden, cfg.outDim], w2)]), g.floatTensor('b2', [cfg.outDim], b2)], undefined, 'y');
  return g.toBytes();
}

/** Runs the MLP on `rows` inputs: x [rows, inDim] → y [rows, outDim]. */
export function mlpBatchModel(session: InferenceSession, inDim: number): (x: Float32Array, rows: number) => Promise<Float32Array> {
  return async (x, rows) => {
    const out = await session.run({ x: new Tensor('float32', x, [rows, inDim]) });
    return out.y.data as Float32Array;
  };
}

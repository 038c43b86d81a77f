// `node dist/scripts/make-large-export.js --out DIR [--dtype float32|float16] [--layers N]`: a
// synthetic decoder export in the Hugging Face Optimum layout whose weights are external data in
// DIR/model.onnx_data (≈ 2.75 GB in float32 with the defaults), to measure `dlab model prepare`'s
// memory on a model larger than anything held in one JS buffer. Tensors are generated and
// written one at a time, in chunks, so this script itself stays small in memory.
//
//   x = wte[input_ids] + wpe[position_ids]                         wte [V, d], wpe [P, d]
//   per layer:  h = LN(x);  q, k, v = h·W_q, h·W_k, h·W_v             W [d, d], split into H heads
//               present.key = concat(past.key, k), present.value = concat(past.value, v)
//               x += (softmax(q·present.keyᵀ / √hd) · present.value)·W_o
//               x += tanh(LN(x)·W_up)·W_down                          W_up [d, F], W_down [F, d]
//   logits = LN(x)·W_head                                            W_head [d, V] (untied)
//
// The attention has no causal or padding mask (every query sees every cached key): the numbers
// are not a language model's, only its shapes, sizes and operators are.
import { closeSync, mkdirSync, openSync, writeSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { floatToHalfBits } from '../lib/model/half';
import { FLOAT, GraphBuilder, INT64, intAttr, intsAttr, floatAttr } from '../lib/model/onnx-graph';

const DT = onnx.TensorProto.DataType;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const out = arg('--out', '');
if (!out) {
  process.stderr.write('usage: make-large-export --out DIR [--dtype float32|float16] [--layers N] [--d 2048] [--vocab 32000]\n');
  process.exit(2);
}
const dtype = arg('--dtype', 'float32');
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype ${dtype}: float32 or float16`);
const half = dtype === 'float16';
const elem = half ? DT.FLOAT16 : FLOAT;
const D = Number(arg('--d', '2048'));
const H = 16;
const HD = D / H;
const F = 4 * D;
const V = Number(arg('--vocab', '32000'));
const P = 2048;
const L = Number(arg('--layers', '11'));

mkdirSync(out, { recursive: true });
const dataName = 'model.onnx_data';
const fd = openSync(join(out, dataName), 'w');
let offset = 0;
const external: onnx.ITensorProto[] = [];

// xorshift32 → uniform(−a, a) with a = 0.02·√3 (standard deviation 0.02)
let state = 0x9e3779b9;
const A = 0.02 * Math.sqrt(3);
const CHUNK = 1 << 20;
const f32 = new Float32Array(CHUNK);
const u16 = new Uint16Array(CHUNK);

/** Writes a [dims] tensor to the data file, chunk by chunk: `fill` 'random' or a constant. */
function tensor(name: string, dims: number[], fill: 'random' | number): string {
  const n = dims.reduce((a, b) => a * b, 1);
  const start = offset;
  for (let done = 0; done < n; done += CHUNK) {
    const m = Math.min(CHUNK, n - done);
    for (let i = 0; i < m; i++) {
      if (fill === 'random') {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        f32[i] = ((state >>> 0) / 4294967296 - 0.5) * 2 * A;
      } else f32[i] = fill;
    }
    let bytes: Uint8Array;
    if (half) {
      for (let i = 0; i < m; i++) u16[i] = floatToHalfBits(f32[i]);
      bytes = new Uint8Array(u16.buffer, 0, m * 2);
    } else bytes = new Uint8Array(f32.buffer, 0, m * 4);
    writeSync(fd, bytes, 0, bytes.length, offset);
    offset += bytes.length;
  }
  external.push({
    name,
    dims,
    dataType: elem,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: dataName },
      { key: 'offset', value: String(start) },
      { key: 'length', value: String(offset - start) },
    ],
  });
  return name;
}

const g = new GraphBuilder('dlab_large_decoder');
/** An inline scalar of the export's dtype. */
function scalar(name: string, v: number): string {
  external.push({ name, dims: [], dataType: elem, rawData: half ? new Uint8Array(new Uint16Array([floatToHalfBits(v)]).buffer) : new Uint8Array(new Float32Array([v]).buffer) });
  return name;
}

const ids = g.input('input_ids', INT64, ['batch_size', 'sequence_length']);
g.input('attention_mask', INT64, ['batch_size', 'past_sequence_length + sequence_length']);
const pos = g.input('position_ids', INT64, ['batch_size', 'sequence_length']);
const layerNorm = (x: string, name: string) => g.op('LayerNormalization', [x, tensor(`${name}.weight`, [D], 1), tensor(`${name}.bias`, [D], 0)], [intAttr('axis', -1), floatAttr('epsilon', 1e-5)]);
const split = (x: string, i: number, w: string) => g.op('Transpose', [g.op('Reshape', [x, g.int64Tensor(`split_${i}_${w}`, [4], [0, 0, H, HD])])], [intsAttr('perm', [0, 2, 1, 3])]);

let x = g.op('Add', [g.op('Gather', [tensor('wte', [V, D], 'random'), ids], [intAttr('axis', 0)]), g.op('Gather', [tensor('wpe', [P, D], 'random'), pos], [intAttr('axis', 0)])]);
const scale = scalar('attn_scale', 1 / Math.sqrt(HD));
for (let i = 0; i < L; i++) {
  const pk = g.input(`past_key_values.${i}.key`, elem, ['batch_size', H, 'past_sequence_length', HD]);
  const pv = g.input(`past_key_values.${i}.value`, elem, ['batch_size', H, 'past_sequence_length', HD]);
  g.output(`present.${i}.key`, elem, ['batch_size', H, 'past_sequence_length + sequence_length', HD]);
  g.output(`present.${i}.value`, elem, ['batch_size', H, 'past_sequence_length + sequence_length', HD]);
  const h = layerNorm(x, `layers.${i}.ln_1`);
  const q = split(g.op('MatMul', [h, tensor(`layers.${i}.q.weight`, [D, D], 'random')]), i, 'q');
  const k = g.op('Concat', [pk, split(g.op('MatMul', [h, tensor(`layers.${i}.k.weight`, [D, D], 'random')]), i, 'k')], [intAttr('axis', 2)], `present.${i}.key`);
  const v = g.op('Concat', [pv, split(g.op('MatMul', [h, tensor(`layers.${i}.v.weight`, [D, D], 'random')]), i, 'v')], [intAttr('axis', 2)], `present.${i}.value`);
  const att = g.op('Softmax', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], [intsAttr('perm', [0, 1, 3, 2])])]), scale])], [intAttr('axis', -1)]);
  const merged = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [att, v])], [intsAttr('perm', [0, 2, 1, 3])]), g.int64Tensor(`merge_${i}`, [3], [0, 0, D])]);
  x = g.op('Add', [x, g.op('MatMul', [merged, tensor(`layers.${i}.o.weight`, [D, D], 'random')])]);
  const up = g.op('Tanh', [g.op('MatMul', [layerNorm(x, `layers.${i}.ln_2`), tensor(`layers.${i}.up.weight`, [D, F], 'random')])]);
  x = g.op('Add', [x, g.op('MatMul', [up, tensor(`layers.${i}.down.weight`, [F, D], 'random')])]);
}
const logits = g.op('MatMul', [layerNorm(x, 'ln_f'), tensor('lm_head.weight', [D, V], 'random')], undefined, 'logits');
g.output(logits, elem, ['batch_size', 'sequence_length', V]);
closeSync(fd);

const model = g.toModel();
model.graph!.initializer = [...(model.graph!.initializer ?? []), ...external];
writeFileSync(join(out, 'model.onnx'), onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
const size = statSync(join(out, dataName)).size;
process.stdout.write(JSON.stringify({ onnx: join(out, 'model.onnx'), data: join(out, dataName), dataBytes: size, dtype, dModel: D, layers: L, vocab: V }) + '\n');

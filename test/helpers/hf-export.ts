import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat, bfloat16BitsToFloat } from '../../lib/model/half';

/**
 * Hugging Face Optimum-layout variants of one of the project's decoders (`buildDecoder(cfg)`),
 * made by editing its protobuf: weights as external data (one `model.onnx_data`, or one file
 * per tensor), and 16-bit float weights (float16 or bfloat16, with 16-bit or float32 inputs and
 * outputs), as exporters write them.
 */
const DT = onnx.TensorProto.DataType;
export type Half = 'float16' | 'bfloat16';
const HALF_MAX = 65504;

/** x rounded to the 16-bit type (nearest, ties to even); float16 clamps to ±65504 as exporters do (finfo.min masks). */
export function roundTo(dtype: Half, x: number): number {
  if (dtype === 'bfloat16') return bfloat16BitsToFloat(floatToBfloat16Bits(x));
  return halfBitsToFloat(floatToHalfBits(Math.max(-HALF_MAX, Math.min(HALF_MAX, x))));
}

function halfBits(dtype: Half, x: number): number {
  return dtype === 'bfloat16' ? floatToBfloat16Bits(x) : floatToHalfBits(Math.max(-HALF_MAX, Math.min(HALF_MAX, x)));
}

function floatsOf(t: onnx.ITensorProto): Float32Array {
  const r = t.rawData!;
  return new Float32Array(new Uint8Array(r).buffer);
}

const decode = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes);
const encode = (m: onnx.IModelProto) => onnx.ModelProto.encode(m).finish();

/** The float32 decoder with every float initializer rounded to `dtype` (still float32): what an up-cast 16-bit export computes. */
export function roundedDecoder(bytes: Uint8Array, dtype: Half): Uint8Array {
  const m = decode(bytes);
  for (const t of m.graph!.initializer ?? []) {
    if (t.dataType !== DT.FLOAT) continue;
    const f = floatsOf(t).map((x) => roundTo(dtype, x));
    t.rawData = new Uint8Array(f.buffer);
  }
  return encode(m);
}

/**
 * The decoder with 16-bit weights. io 'half': inputs, outputs (the KV cache, logits) in the 16-bit
 * type too, and every Cast to FLOAT cast to it instead. io 'float': float32 inputs and outputs
 * kept, a Cast to the 16-bit type after each float input and a Cast(to = FLOAT) before logits and
 * each present output. Scalar initializers become Constant nodes, and a ConstantOfShape of 16-bit
 * zeros is added to the embeddings (as exporters' graphs have them).
 */
export function halfDecoder(bytes: Uint8Array, dtype: Half, io: 'half' | 'float'): Uint8Array {
  const m = decode(bytes);
  const g = m.graph!;
  const type = dtype === 'float16' ? DT.FLOAT16 : DT.BFLOAT16;
  const toHalf = (t: onnx.ITensorProto) => {
    const f = floatsOf(t);
    const bits = Uint16Array.from(f, (x) => halfBits(dtype, x));
    t.dataType = type;
    t.rawData = new Uint8Array(bits.buffer);
  };
  const constants: onnx.INodeProto[] = [];
  g.initializer = (g.initializer ?? []).filter((t) => {
    if (t.dataType !== DT.FLOAT) return true;
    toHalf(t);
    if ((t.dims ?? []).length > 0) return true;
    constants.push({ opType: 'Constant', input: [], output: [t.name!], name: `const_${t.name}`, attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { ...t, name: undefined } }] });
    return false;
  });
  for (const n of g.node ?? []) for (const a of n.attribute ?? []) if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === DT.FLOAT) a.i = type;
  // x₀ = Gather(wte) + Gather(wpe) + ConstantOfShape([1]) of zeros in the 16-bit type
  const firstAdd = (g.node ?? []).find((n) => n.opType === 'Add' && (n.input ?? []).every((i) => (g.node ?? []).some((p) => p.opType === 'Gather' && p.output?.[0] === i)))!;
  const zeros: onnx.ITensorProto = { dims: [1], dataType: type, rawData: new Uint8Array(2) };
  const shape: onnx.ITensorProto = { name: 'zeros_shape', dims: [1], dataType: DT.INT64, rawData: new Uint8Array(new BigInt64Array([1n]).buffer) };
  g.initializer.push(shape);
  const x0 = firstAdd.output![0];
  firstAdd.output = [`${x0}_pre`];
  const extra: onnx.INodeProto[] = [
    { opType: 'ConstantOfShape', input: ['zeros_shape'], output: ['zeros'], name: 'zeros', attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: zeros }] },
    { opType: 'Add', input: [`${x0}_pre`, 'zeros'], output: [x0], name: 'add_zeros' },
  ];
  const nodes = [...constants, ...(g.node ?? [])];
  nodes.splice(nodes.indexOf(firstAdd) + 1, 0, ...extra);
  g.node = nodes;

  const floatValues = (vs: onnx.IValueInfoProto[]) => vs.filter((v) => v.type?.tensorType?.elemType === DT.FLOAT);
  if (io === 'half') {
    for (const v of [...floatValues(g.input ?? []), ...floatValues(g.output ?? [])]) v.type!.tensorType!.elemType = type;
  } else {
    const rename = (from: string, to: string, inNodes: onnx.INodeProto[]) => {
      for (const n of inNodes) n.input = (n.input ?? []).map((i) => (i === from ? to : i));
    };
    const casts: onnx.INodeProto[] = [];
    for (const v of floatValues(g.input ?? [])) {
      rename(v.name!, `${v.name}_half`, g.node);
      casts.push({ opType: 'Cast', input: [v.name!], output: [`${v.name}_half`], name: `cast_in_${v.name}`, attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type }] });
    }
    const outCasts: onnx.INodeProto[] = [];
    for (const v of floatValues(g.output ?? [])) {
      const producer = g.node.find((n) => (n.output ?? []).includes(v.name!))!;
      producer.output = producer.output!.map((o) => (o === v.name ? `${v.name}_half` : o));
      rename(v.name!, `${v.name}_half`, g.node);
      outCasts.push({ opType: 'Cast', input: [`${v.name}_half`], output: [v.name!], name: `cast_out_${v.name}`, attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }] });
    }
    g.node = [...casts, ...g.node, ...outCasts];
  }
  return encode(m);
}

/**
 * Writes the model as `dir/model.onnx` with every initializer of at least `threshold` bytes as
 * external data: all in `dir/model.onnx_data` at increasing offsets ('single'), or one file per
 * tensor named after it, without offset or length ('per-tensor'). Returns the .onnx path.
 */
export function writeExternal(bytes: Uint8Array, dir: string, layout: 'single' | 'per-tensor', threshold = 1024): string {
  mkdirSync(dir, { recursive: true });
  const m = decode(bytes);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of m.graph!.initializer ?? []) {
    const raw = t.rawData;
    if (!raw || raw.length < threshold) continue;
    if (layout === 'single') {
      t.externalData = [
        { key: 'location', value: 'model.onnx_data' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ];
      chunks.push(new Uint8Array(raw));
      offset += raw.length;
    } else {
      const file = t.name!.replace(/[^A-Za-z0-9_.-]/g, '_');
      writeFileSync(join(dir, file), raw);
      t.externalData = [{ key: 'location', value: file }];
    }
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  }
  if (layout === 'single') writeFileSync(join(dir, 'model.onnx_data'), Buffer.concat(chunks));
  const path = join(dir, 'model.onnx');
  writeFileSync(path, encode(m));
  return path;
}

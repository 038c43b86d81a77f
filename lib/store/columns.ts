import {
  Data, List, Precision, DataType, Field, FixedSizeList, Float32, Float64, Int32, RecordBatch, Schema, Struct, Table, Utf8, Vector,
  makeData, makeVector, vectorFromArray,
} from 'apache-arrow';
import { DlabInputError } from '../errors';

/**
 * `FixedSizeList<Float32>[dim]` column over one flat row-major Float32Array (rows × dim),
 * built without copying the floats.
 */
export function vectorColumn(flat: Float32Array, dim: number): Vector<FixedSizeList<Float32>> {
  if (!Number.isInteger(dim) || dim <= 0) throw new DlabInputError(`vector column: dim must be a positive integer, got ${dim}`);
  if (flat.length % dim !== 0) {
    throw new DlabInputError(`vector column: ${flat.length} floats is not a whole number of rows of dim ${dim}`);
  }
  const child = makeData({ type: new Float32(), length: flat.length, nullCount: 0, data: flat });
  const type = new FixedSizeList(dim, new Field('item', new Float32(), false));
  return makeVector(makeData({ type, length: flat.length / dim, nullCount: 0, child }));
}

/**
 * The floats of a `FixedSizeList<Float32>` column as one flat row-major array, read through
 * the child vector: a view into the IPC bytes when the table has one record batch, one copy otherwise.
 */
export function readVectors(table: Table, column: string): { data: Float32Array; rows: number; dim: number } {
  const col = table.getChild(column);
  if (!col) throw new DlabInputError(`column "${column}" is missing (found: ${table.schema.fields.map((f) => f.name).join(', ')})`);
  const type = col.type as DataType;
  if (!isFloat32Vector(type)) {
    throw new DlabInputError(`column "${column}": expected FixedSizeList<Float32>, found ${String(type)}`);
  }
  const dim = (type as FixedSizeList).listSize;
  const parts = col.data.map((d) => {
    const child = d.children[0];
    const start = child.offset + d.offset * dim;
    return (child.values as Float32Array).subarray(start, start + d.length * dim);
  });
  const data = parts.length === 1 ? parts[0] : concatFloat32(parts);
  return { data, rows: col.length, dim };
}

/**
 * `List<Int32>` or `List<Float32>` column from one array per row (token ids, per-token
 * log-probs): one flat child array plus offsets, built with a single copy.
 */
export function listColumn(rows: ArrayLike<number>[], type: 'int32' | 'float32'): Vector {
  const offsets = new Int32Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) offsets[i + 1] = offsets[i] + rows[i].length;
  const flat = type === 'int32' ? new Int32Array(offsets[rows.length]) : new Float32Array(offsets[rows.length]);
  for (let i = 0; i < rows.length; i++) flat.set(rows[i], offsets[i]);
  const childType: DataType = type === 'int32' ? new Int32() : new Float32();
  const child = makeData({ type: childType, length: flat.length, nullCount: 0, data: flat } as never) as Data;
  return makeVector(makeData({ type: new List(new Field('item', childType, false)), length: rows.length, nullCount: 0, valueOffsets: offsets, child } as never) as Data);
}

/** A list column back as flat values + offsets (row i = values[offsets[i] … offsets[i+1])). */
export function readLists(table: Table, column: string): { values: Int32Array | Float32Array; offsets: Int32Array } {
  const col = table.getChild(column);
  if (!col || !DataType.isList(col.type)) throw new DlabInputError(`column "${column}": expected a list column, found ${col ? String(col.type) : 'nothing'}`);
  if (col.data.length !== 1) throw new DlabInputError(`column "${column}": expected one record batch, found ${col.data.length}`);
  const d = col.data[0];
  const offsets = (d.valueOffsets as Int32Array).subarray(d.offset, d.offset + d.length + 1);
  const base = offsets[0];
  const values = d.children[0].values as Int32Array | Float32Array;
  return { values: values.subarray(base, offsets[d.length]), offsets: base === 0 ? offsets : offsets.map((o) => o - base) };
}

/** FixedSizeList<Float32> of any size (after an IPC round trip the child is a generic Float of single precision). */
export function isFloat32Vector(type: DataType): boolean {
  return DataType.isFixedSizeList(type) && DataType.isFloat(type.children[0].type) && type.children[0].type.precision === Precision.SINGLE;
}

/** A primitive column as a typed array (view when possible). */
export function readNumbers(table: Table, column: string): Float64Array | Float32Array | Int32Array {
  const col = table.getChild(column);
  if (!col) throw new DlabInputError(`column "${column}" is missing (found: ${table.schema.fields.map((f) => f.name).join(', ')})`);
  const arr = col.toArray() as unknown;
  if (arr instanceof Float64Array || arr instanceof Float32Array || arr instanceof Int32Array) return arr;
  throw new DlabInputError(`column "${column}": expected a numeric column, found ${String(col.type)}`);
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export type ColumnValues = Float32Array | Float64Array | Int32Array | Uint8Array | string[] | Vector;

/** One-batch table from named columns (typed arrays are wrapped without copying). */
export function tableFromColumns(columns: Record<string, ColumnValues>, metadata?: Map<string, string>): Table {
  const fields: Field[] = [];
  const datas: Data[] = [];
  let rows = -1;
  for (const [name, values] of Object.entries(columns)) {
    const vec: Vector = Array.isArray(values)
      ? vectorFromArray(values, new Utf8())
      : values instanceof Vector
        ? values
        : makeVector(values as Float32Array);
    if (rows >= 0 && vec.length !== rows) {
      throw new DlabInputError(`column "${name}" has ${vec.length} rows, the others have ${rows}`);
    }
    rows = vec.length;
    fields.push(new Field(name, vec.type, false));
    if (vec.data.length !== 1) throw new DlabInputError(`column "${name}": expected one contiguous chunk, found ${vec.data.length}`);
    datas.push(vec.data[0]);
  }
  const schema = new Schema(fields, metadata);
  const struct = makeData({ type: new Struct(fields), length: Math.max(rows, 0), nullCount: 0, children: datas });
  return new Table([new RecordBatch(schema, struct)]);
}

export { Float32, Float64, Int32, Utf8, FixedSizeList };

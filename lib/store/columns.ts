import {
  Data, Precision, DataType, Field, FixedSizeList, Float32, Float64, Int32, RecordBatch, Schema, Struct, Table, Utf8, Vector,
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

export type ColumnValues = Float32Array | Float64Array | Int32Array | string[] | Vector;

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

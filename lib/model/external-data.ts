import { promises as fs } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { DlabInputError } from '../errors';

/**
 * ONNX external data: a tensor with data_location = EXTERNAL keeps its bytes in a file beside
 * the .onnx, named by its `external_data` entries:
 *
 *   location  path relative to the .onnx file's directory
 *   offset    byte offset in that file (default 0)
 *   length    byte count (default: the tensor's size, dims product × element size)
 *
 * Hugging Face Optimum writes either one `model.onnx_data` holding every tensor at its offset, or
 * one file per tensor. Bytes are little-endian, as raw_data.
 */
export type Tensor = onnx.ITensorProto;
const DT = onnx.TensorProto.DataType;

export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

const ELEM_BYTES: Partial<Record<number, number>> = {
  [DT.FLOAT]: 4, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.UINT16]: 2, [DT.INT16]: 2, [DT.INT32]: 4, [DT.INT64]: 8, [DT.BOOL]: 1,
  [DT.FLOAT16]: 2, [DT.DOUBLE]: 8, [DT.UINT32]: 4, [DT.UINT64]: 8, [DT.COMPLEX64]: 8, [DT.COMPLEX128]: 16, [DT.BFLOAT16]: 2,
};

export function elemBytes(t: Tensor, source: string): number {
  const n = ELEM_BYTES[t.dataType ?? 0];
  if (!n) throw new DlabInputError(`${source}: tensor ${t.name}: data type ${DT[t.dataType ?? 0] ?? t.dataType} cannot be read as raw bytes`, t.name ?? undefined);
  return n;
}

export function elementCount(t: Tensor): number {
  return (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
}

export function isExternal(t: Tensor): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** A location is a relative path inside the model's directory: no absolute path, no `..`. */
export function checkLocation(location: string, tensor: string, source: string): void {
  const parts = location.split(/[\\/]/);
  if (!location || isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.startsWith('\\') || parts.includes('..')) {
    throw new DlabInputError(`${source}: tensor ${tensor}: external data location "${location}" must be a relative path inside the model's directory (no absolute path, no "..")`, tensor);
  }
}

/** The tensor's external data entry, checked: location safe, offset and length whole numbers matching its size. */
export function externalRef(t: Tensor, source: string): ExternalRef {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (location === undefined) throw new DlabInputError(`${source}: tensor ${t.name}: external data without a location`, t.name ?? undefined);
  checkLocation(location, t.name ?? '', source);
  const size = elementCount(t) * elemBytes(t, source);
  const num = (k: string, dflt: number) => {
    const v = entries.get(k);
    if (v === undefined || v === '') return dflt;
    if (!/^\d+$/.test(v)) throw new DlabInputError(`${source}: tensor ${t.name}: external data ${k} "${v}" is not a byte count`, t.name ?? undefined);
    return Number(v);
  };
  const offset = num('offset', 0);
  const length = num('length', size);
  if (length !== size) throw new DlabInputError(`${source}: tensor ${t.name}: external data length ${length} bytes, but dims [${(t.dims ?? []).join(', ')}] of ${DT[t.dataType ?? 0]} need ${size}`, t.name ?? undefined);
  return { location, offset, length };
}

/**
 * Open external data files of one model (by location, relative to `dir`), each checked to exist
 * and to hold every byte range asked of it. Reads are positioned: nothing reads a whole file.
 */
export class ExternalFiles {
  private readonly open = new Map<string, Promise<{ fh: fs.FileHandle; size: number }>>();
  constructor(readonly dir: string, readonly source: string) {}

  async file(ref: ExternalRef, tensor: string): Promise<{ fh: fs.FileHandle; size: number }> {
    let opening = this.open.get(ref.location);
    if (!opening) {
      const path = join(this.dir, ref.location);
      opening = (async () => {
        try {
          const fh = await fs.open(path, 'r');
          return { fh, size: (await fh.stat()).size };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new DlabInputError(`${this.source}: tensor ${tensor}: its external data file ${path} cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message}); keep the data files next to the .onnx as exported`, path);
        }
      })();
      this.open.set(ref.location, opening);
    }
    const f = await opening;
    if (ref.offset + ref.length > f.size) {
      throw new DlabInputError(`${this.source}: tensor ${tensor}: bytes ${ref.offset}…${ref.offset + ref.length} of ${join(this.dir, ref.location)} asked for, the file has ${f.size}`, join(this.dir, ref.location));
    }
    return f;
  }

  /** Checks that the file exists and holds the range, without reading. */
  async check(ref: ExternalRef, tensor: string): Promise<void> {
    await this.file(ref, tensor);
  }

  /** `length` bytes at `offset` of the tensor's file into `into` (positioned reads). */
  async read(ref: ExternalRef, tensor: string, offset = 0, length = ref.length, into = Buffer.allocUnsafe(length)): Promise<Buffer> {
    const { fh } = await this.file(ref, tensor);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(into, done, length - done, ref.offset + offset + done);
      if (bytesRead === 0) throw new DlabInputError(`${this.source}: tensor ${tensor}: ${join(this.dir, ref.location)} ended early`, join(this.dir, ref.location));
      done += bytesRead;
    }
    return into.subarray(0, length);
  }

  async close(): Promise<void> {
    for (const opening of this.open.values()) await opening.then((f) => f.fh.close(), () => undefined).catch(() => undefined);
    this.open.clear();
  }
}

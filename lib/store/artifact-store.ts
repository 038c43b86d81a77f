import { createHash } from 'node:crypto';
import { writeFileAtomic } from './atomic';
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { DataType, Precision, RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { isFloat32Vector } from './columns';
import { ArtifactSchema, ColumnKind, lookupSchema, schemaId } from '../../schemas/artifacts';
import { ArtifactIntegrityError, DlabInputError } from '../errors';
import { metrics } from '../metrics';
import { ArtifactRef, Lineage, META } from './ref';
import { FileStore, LocalFileStore } from './files';

/**
 * Where artifacts live. Workflows only ever see `ArtifactRef`s, so a shared or object
 * store can replace the local one without touching them. The same store keeps whole files by
 * content (FileStore: model directories, input files), so a worker needs no shared filesystem.
 */
export interface ArtifactStore extends FileStore {
  /** Writes `table` as kind `schema` with `lineage` in its metadata; same bytes ⇒ same ref, written once. */
  put(table: Table, schema: ArtifactSchema, lineage: Lineage): Promise<ArtifactRef>;
  /** Reads and verifies an artifact (hash of the bytes must equal `ref.sha256`). */
  get(ref: Pick<ArtifactRef, 'sha256' | 'schema'> & { uri?: string }): Promise<Table>;
  /** Re-hashes the stored bytes; `ok` false with the file and hash found when they differ or the file is gone. */
  verify(ref: Pick<ArtifactRef, 'sha256'>): Promise<{ ok: boolean; file: string; actual?: string }>;
  /** Location an artifact with this hash has (or would have). */
  locate(sha256: string): string;
}

/** Content-addressed files under `<root>/objects/<first two hex>/<sha256>.arrow`. */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  private readonly files: LocalFileStore;

  constructor(root: string) {
    this.root = resolve(root);
    this.files = new LocalFileStore(this.root);
  }

  locateFile(sha256: string): string {
    return this.files.locateFile(sha256);
  }
  putFile(path: string, sha256: string): Promise<{ stored: boolean; bytes: number }> {
    return this.files.putFile(path, sha256);
  }
  fetchFile(sha256: string, dest: string): Promise<boolean> {
    return this.files.fetchFile(sha256, dest);
  }
  verifyFile(sha256: string): Promise<{ ok: boolean; file: string; actual?: string }> {
    return this.files.verifyFile(sha256);
  }
  putName(name: string, sha256: string): Promise<void> {
    return this.files.putName(name, sha256);
  }
  getName(name: string): Promise<string | undefined> {
    return this.files.getName(name);
  }

  locate(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new DlabInputError(`not a sha256 hex digest: "${sha256}"`);
    return join(this.root, 'objects', sha256.slice(0, 2), `${sha256}.arrow`);
  }

  async put(table: Table, schema: ArtifactSchema, lineage: Lineage): Promise<ArtifactRef> {
    const bytes = encodeArtifact(table, schema, lineage);
    const sha256 = sha256Hex(bytes);
    const file = this.locate(sha256);
    const ref: ArtifactRef = { uri: pathToFileURL(file).href, sha256, schema: schemaId(schema), rows: table.numRows, bytes: bytes.byteLength };
    if ((await this.verify(ref)).ok) return ref; // already stored: writing the same content twice is a no-op
    await writeFileAtomic(file, bytes, join(this.root, 'tmp'));
    metrics.artifactWritten('local', bytes.byteLength);
    return ref;
  }

  async get(ref: Pick<ArtifactRef, 'sha256' | 'schema'> & { uri?: string }): Promise<Table> {
    const file = this.locate(ref.sha256);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (err) {
      throw new ArtifactIntegrityError(
        `artifact ${ref.sha256} (${ref.schema}) is missing: ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        file,
        ref.sha256,
      );
    }
    const actual = sha256Hex(bytes);
    if (actual !== ref.sha256) {
      throw new ArtifactIntegrityError(`artifact ${file} is corrupted: expected sha256 ${ref.sha256}, found ${actual}`, file, ref.sha256);
    }
    metrics.artifactRead('local', bytes.byteLength);
    return decodeArtifact(bytes, ref.schema, file, ref.sha256);
  }

  async verify(ref: Pick<ArtifactRef, 'sha256'>): Promise<{ ok: boolean; file: string; actual?: string }> {
    const file = this.locate(ref.sha256);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch {
      return { ok: false, file };
    }
    const actual = sha256Hex(bytes);
    return { ok: actual === ref.sha256, file, actual };
  }
}

/** The store a `file://` URI or a DLAB_HOME points at. */
export function storeForHome(dlabHome: string): LocalArtifactStore {
  return new LocalArtifactStore(join(dlabHome, 'artifacts'));
}

export function fileOfUri(uri: string): string {
  return fileURLToPath(uri);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Lineage back out of an artifact's schema metadata (a table, or a file reader that read only the schema). */
export function readLineage(table: Pick<Table, 'schema'>): Lineage & { schema: string } {
  const m = table.schema.metadata;
  return {
    schema: m.get(META.schema) ?? '',
    experimentId: m.get(META.experimentId) ?? '',
    stage: m.get(META.stage) ?? '',
    producer: m.get(META.producer) ?? '',
    configHash: m.get(META.configHash) ?? '',
    codeVersion: m.get(META.codeVersion) ?? '',
    parents: JSON.parse(m.get(META.parents) ?? '[]') as string[],
    extra: m.has(META.extra) ? (JSON.parse(m.get(META.extra)!) as Record<string, unknown>) : undefined,
  };
}

/** The exact bytes the store writes for `table` as kind `schema` (columns checked, lineage in the metadata). */
export function encodeArtifact(table: Table, schema: ArtifactSchema, lineage: Lineage): Uint8Array {
  checkColumns(table, schema);
  return tableToIPC(withMetadata(table, schemaId(schema), lineage), 'file');
}

/** Arrow IPC bytes → table, refusing any kind other than `expectedSchema`. */
export function decodeArtifact(bytes: Uint8Array, expectedSchema: string, file: string, sha256 = sha256Hex(bytes)): Table {
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new ArtifactIntegrityError(`${file}: not an Arrow IPC file (${(err as Error).message})`, file, sha256);
  }
  const found = table.schema.metadata.get(META.schema);
  if (found !== expectedSchema) throw new ArtifactIntegrityError(`${file}: expected schema ${expectedSchema}, found ${found ?? 'none'}`, file, sha256);
  return table;
}

function withMetadata(table: Table, schema: string, lineage: Lineage): Table {
  const meta = new Map<string, string>([
    [META.schema, schema],
    [META.experimentId, lineage.experimentId],
    [META.stage, lineage.stage],
    [META.producer, lineage.producer],
    [META.configHash, lineage.configHash],
    [META.codeVersion, lineage.codeVersion],
    [META.parents, JSON.stringify(lineage.parents)],
  ]);
  if (lineage.extra) meta.set(META.extra, JSON.stringify(lineage.extra));
  const s = new Schema(table.schema.fields, meta);
  return new Table(table.batches.map((b) => new RecordBatch(s, b.data)));
}

function matches(type: DataType, kind: ColumnKind): boolean {
  switch (kind) {
    case 'int32':
      return DataType.isInt(type) && type.bitWidth === 32 && type.isSigned;
    case 'float32':
      return DataType.isFloat(type) && type.precision === Precision.SINGLE;
    case 'float64':
      return DataType.isFloat(type) && type.precision === Precision.DOUBLE;
    case 'utf8':
      return DataType.isUtf8(type);
    case 'uint8':
      return DataType.isInt(type) && type.bitWidth === 8 && !type.isSigned;
    case 'vector<float32>':
      return isFloat32Vector(type);
    case 'list<int32>':
      return DataType.isList(type) && DataType.isInt(type.children[0].type) && type.children[0].type.bitWidth === 32;
    case 'list<float32>':
      return DataType.isList(type) && DataType.isFloat(type.children[0].type) && type.children[0].type.precision === Precision.SINGLE;
  }
}

function checkColumns(table: Table, schema: ArtifactSchema): void {
  const expected = Object.entries(schema.columns);
  const found = table.schema.fields;
  const describe = () => found.map((f) => `${f.name}: ${String(f.type)}`).join(', ');
  if (found.length !== expected.length) {
    throw new DlabInputError(`${schemaId(schema)}: expected columns {${expected.map(([n, k]) => `${n}: ${k}`).join(', ')}}, found {${describe()}}`);
  }
  expected.forEach(([name, kind], i) => {
    const f = found[i];
    if (f.name !== name || !matches(f.type, kind)) {
      throw new DlabInputError(`${schemaId(schema)}: column ${i} must be ${name}: ${kind}, found ${f.name}: ${String(f.type)}`);
    }
  });
}


export { lookupSchema };

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { EMBEDDINGS, SMOKE_SUMMARY } from '../../schemas/artifacts';
import { LocalArtifactStore, readLineage, sha256Hex } from '../../lib/store/artifact-store';
import { readVectors, tableFromColumns, vectorColumn } from '../../lib/store/columns';
import { ArtifactIntegrityError, DlabInputError } from '../../lib/errors';
import { Lineage } from '../../lib/store/ref';
import { tempDir } from '../helpers/tmp';

const lineage: Lineage = {
  experimentId: 'exp-1',
  stage: 'embed',
  producer: 'embedActivity',
  configHash: 'c'.repeat(64),
  codeVersion: 'dlab@test',
  parents: ['a'.repeat(64)],
};

function embeddings(rows: number, dim: number) {
  const flat = new Float32Array(rows * dim);
  for (let i = 0; i < flat.length; i++) flat[i] = i * 0.5;
  const ids = new Int32Array(rows).map((_, i) => i);
  return { flat, table: tableFromColumns({ id: ids, embedding: vectorColumn(flat, dim) }) };
}

describe('LocalArtifactStore', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  beforeEach(() => {
    dir = tempDir('store');
    store = new LocalArtifactStore(dir.path);
  });
  afterEach(() => dir.cleanup());

  it('addresses an artifact by the sha256 of its bytes and reads it back with the same floats and lineage', async () => {
    const { table } = embeddings(3, 4);
    const ref = await store.put(table, EMBEDDINGS, lineage);
    const file = store.locate(ref.sha256);
    const bytes = readFileSync(file);
    assert.equal(sha256Hex(bytes), ref.sha256);
    assert.equal(ref.bytes, bytes.length);
    assert.equal(ref.rows, 3);
    assert.equal(ref.schema, 'embeddings@1');
    assert.equal(ref.uri, `file://${file}`);
    const back = await store.get(ref);
    const { data, rows, dim } = readVectors(back, 'embedding');
    assert.deepEqual([rows, dim], [3, 4]);
    assert.deepEqual(Array.from(data.subarray(0, 5)), [0, 0.5, 1, 1.5, 2]);
    assert.equal(data[11], 5.5);
    const lin = readLineage(back);
    assert.deepEqual({ ...lin, extra: undefined }, { ...lineage, schema: 'embeddings@1', extra: undefined });
  });

  it('builds the vector column on the caller’s Float32Array and reads it back as a view into the file bytes', async () => {
    const { flat, table } = embeddings(4, 8);
    assert.equal(table.getChild('embedding')!.data[0].children[0].values, flat, 'write side: the same array, no copy');
    const ref = await store.put(table, EMBEDDINGS, lineage);
    const bytes = readFileSync(store.locate(ref.sha256));
    const read = tableFromIPC(bytes);
    const { data } = readVectors(read, 'embedding');
    assert.equal(data.buffer, bytes.buffer, 'read side: a view on the IPC bytes, no copy');
  });

  it('writing the same content twice is a no-op: one file, same ref, no temp files left', async () => {
    const a = await store.put(embeddings(5, 2).table, EMBEDDINGS, lineage);
    const mtime = readFileSync(store.locate(a.sha256));
    const b = await store.put(embeddings(5, 2).table, EMBEDDINGS, lineage);
    assert.deepEqual(a, b);
    assert.deepEqual(readFileSync(store.locate(a.sha256)), mtime);
    assert.equal(readdirSync(join(dir.path, 'objects', a.sha256.slice(0, 2))).length, 1);
    assert.deepEqual(readdirSync(join(dir.path, 'tmp')), []);
  });

  it('different lineage gives a different address (lineage is part of the bytes)', async () => {
    const a = await store.put(embeddings(2, 2).table, EMBEDDINGS, lineage);
    const b = await store.put(embeddings(2, 2).table, EMBEDDINGS, { ...lineage, experimentId: 'exp-2' });
    assert.notEqual(a.sha256, b.sha256);
  });

  it('a corrupted file is refused on read, naming the file and the expected hash', async () => {
    const ref = await store.put(embeddings(3, 3).table, EMBEDDINGS, lineage);
    const file = store.locate(ref.sha256);
    const bytes = readFileSync(file);
    bytes[bytes.length - 20] ^= 0xff;
    writeFileSync(file, bytes);
    await assert.rejects(store.get(ref), (err: Error) => err instanceof ArtifactIntegrityError && err.message.includes(file) && err.message.includes(ref.sha256));
    assert.equal((await store.verify(ref)).ok, false);
  });

  it('a missing file is refused on read, naming the path', async () => {
    const sha = 'f'.repeat(64);
    await assert.rejects(store.get({ sha256: sha, schema: 'embeddings@1' }), (err: Error) => err instanceof ArtifactIntegrityError && err.message.includes(store.locate(sha)));
  });

  it('a table that does not match its schema is refused, naming the column, and nothing is written', async () => {
    const wrong = tableFromColumns({ dim: new Int32Array([0]), mean: new Float32Array([1]), std: new Float64Array([1]), min: new Float64Array([0]), max: new Float64Array([2]) });
    await assert.rejects(store.put(wrong, SMOKE_SUMMARY, lineage), (err: Error) => err instanceof DlabInputError && /column 1 must be mean: float64, found mean: Float32/.test(err.message));
    assert.equal(existsSync(join(dir.path, 'objects')), false);
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EMBEDDINGS } from '../../schemas/artifacts';
import { encodeArtifact, LocalArtifactStore, sha256Hex } from '../../lib/store/artifact-store';
import { S3ArtifactStore, StoreUnavailableError } from '../../lib/store/s3-store';
import { readVectors, tableFromColumns, vectorColumn } from '../../lib/store/columns';
import { ArtifactIntegrityError, permanentError } from '../../lib/errors';
import { Lineage } from '../../lib/store/ref';
import { S3TestServer } from '../helpers/s3-server';
import { tempDir } from '../helpers/tmp';

const lineage: Lineage = { experimentId: 'exp-s3', stage: 'embed', producer: 'embedActivity', configHash: 'c'.repeat(64), codeVersion: 'dlab@test', parents: [] };
const MiB = 1024 * 1024;

function embeddings(rows: number, dim: number, seed = 0) {
  const flat = new Float32Array(rows * dim);
  for (let i = 0; i < flat.length; i++) flat[i] = i * 0.5 + seed;
  return tableFromColumns({ id: new Int32Array(rows).map((_, i) => i), embedding: vectorColumn(flat, dim) });
}

/** S3 requests a client sent, by command name (counted once per command, whatever the SDK's retries). */
function counted(client: S3Client): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counts[context.commandName as string] = (counts[context.commandName as string] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'dlabCountRequests' },
  );
  return counts;
}

describe('S3ArtifactStore against a real S3 server (versitygw, POSIX backend)', function () {
  this.timeout(180_000);
  let server: S3TestServer;
  let work: ReturnType<typeof tempDir>;
  let n = 0;
  /** A store with its own cache directory and a request counter. */
  const newStore = (opts: { cacheDir?: string; cacheMaxBytes?: number } = {}) => {
    const client = server.client();
    const counts = counted(client);
    const store = new S3ArtifactStore({
      bucket: 'dlab',
      prefix: 'runs/test',
      cacheDir: opts.cacheDir ?? join(work.path, `cache-${n++}`),
      cacheMaxBytes: opts.cacheMaxBytes ?? 1024 * MiB,
      client,
      endpoint: server.endpoint,
    });
    return { store, counts };
  };
  /** The object's file as versitygw's POSIX backend keeps it. */
  const objectFile = (store: S3ArtifactStore, sha: string) => join(server.dataDir, store.bucket, store.key(sha));

  before(async () => {
    server = await S3TestServer.start(['dlab']);
    work = tempDir('s3-store');
  });
  after(async () => {
    await server?.stop();
    work?.cleanup();
  });

  it('round-trips an artifact: the object holds the bytes the local store writes, and get returns the table', async () => {
    const table = embeddings(50, 16);
    const { store } = newStore();
    const ref = await store.put(table, EMBEDDINGS, lineage);
    const local = new LocalArtifactStore(join(work.path, 'local'));
    const localRef = await local.put(table, EMBEDDINGS, lineage);
    assert.equal(ref.sha256, localRef.sha256);
    assert.equal(ref.uri, `s3://dlab/runs/test/objects/${ref.sha256.slice(0, 2)}/${ref.sha256}.arrow`);
    const got = await server.client().send(new GetObjectCommand({ Bucket: 'dlab', Key: store.key(ref.sha256) }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    assert.ok(bytes.equals(readFileSync(local.locate(ref.sha256))), 'object bytes = local store file bytes');
    assert.ok(readFileSync(objectFile(store, ref.sha256)).equals(bytes), 'the server keeps them as a plain file');
    const { store: fresh, counts } = newStore();
    const back = await fresh.get(ref);
    assert.equal(counts.GetObjectCommand, 1);
    const { data, rows, dim } = readVectors(back, 'embedding');
    assert.deepEqual([rows, dim, data[17]], [50, 16, 8.5]);
    assert.deepEqual(await fresh.verify(ref), { ok: true, file: ref.uri, actual: ref.sha256 });
  });

  it('the server honours If-None-Match: * (the conditional write put relies on to write a key once)', async () => {
    const client = server.client();
    await client.send(new PutObjectCommand({ Bucket: 'dlab', Key: 'cond/x', Body: 'one', IfNoneMatch: '*' }));
    await assert.rejects(client.send(new PutObjectCommand({ Bucket: 'dlab', Key: 'cond/x', Body: 'two', IfNoneMatch: '*' })), (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 412);
    const got = await client.send(new GetObjectCommand({ Bucket: 'dlab', Key: 'cond/x' }));
    assert.equal(await got.Body!.transformToString(), 'one');
  });

  it('the server checks the SHA-256 sent with the bytes and refuses them when it does not match (BadDigest)', async () => {
    const client = server.client();
    const wrong = createHash('sha256').update('other bytes').digest('base64');
    await assert.rejects(
      client.send(new PutObjectCommand({ Bucket: 'dlab', Key: 'digest/x', Body: 'some bytes', ChecksumSHA256: wrong })),
      (err: { $metadata?: { httpStatusCode?: number }; name: string }) => err.$metadata?.httpStatusCode === 400 && /BadDigest|Checksum|Invalid/i.test(err.name),
    );
    assert.ok(!existsSync(join(server.dataDir, 'dlab', 'digest', 'x')), 'nothing stored');
  });

  it('puts the same bytes from two concurrent writers once: both get the same ref, the object is intact, a later put uploads nothing', async () => {
    const table = embeddings(2000, 64, 1);
    const a = newStore();
    const b = newStore();
    const [ra, rb] = await Promise.all([a.store.put(table, EMBEDDINGS, lineage), b.store.put(table, EMBEDDINGS, lineage)]);
    assert.deepEqual(ra, rb);
    assert.equal(sha256Hex(readFileSync(objectFile(a.store, ra.sha256))), ra.sha256);
    const c = newStore();
    await c.store.put(table, EMBEDDINGS, lineage);
    assert.equal(c.counts.HeadObjectCommand, 1);
    assert.equal(c.counts.PutObjectCommand, undefined, 'already stored with the same checksum: no upload');
  });

  it('uploads an artifact above 16 MiB in parts, each with its SHA-256, and reads it back byte-identical', async () => {
    const table = embeddings(4500, 1024, 2); // 18 MB of float32
    const { store, counts } = newStore();
    const ref = await store.put(table, EMBEDDINGS, lineage);
    assert.ok(ref.bytes > 16 * MiB, `${ref.bytes} bytes`);
    assert.equal(counts.CreateMultipartUploadCommand, 1);
    assert.equal(counts.UploadPartCommand, 2);
    assert.equal(counts.CompleteMultipartUploadCommand, 1);
    assert.equal(counts.PutObjectCommand, undefined);
    assert.equal(sha256Hex(readFileSync(objectFile(store, ref.sha256))), ref.sha256);
    const fresh = newStore();
    const back = await fresh.store.get(ref);
    assert.equal(back.numRows, 4500);
    assert.ok(Buffer.from(encodeArtifact(back, EMBEDDINGS, lineage)).equals(readFileSync(objectFile(store, ref.sha256))));
    const again = newStore();
    await again.store.put(table, EMBEDDINGS, lineage);
    assert.equal(again.counts.CreateMultipartUploadCommand, undefined, 'the composite checksum matched: no second upload');
  });

  it('reads through the cache: a hit sends no request, a corrupted cache file is detected and fetched again', async () => {
    const table = embeddings(100, 8, 3);
    const writer = newStore();
    const ref = await writer.store.put(table, EMBEDDINGS, lineage);
    const reader = newStore();
    await reader.store.get(ref);
    assert.equal(reader.counts.GetObjectCommand, 1);
    await reader.store.get(ref);
    assert.equal(reader.counts.GetObjectCommand, 1, 'second read from the cache');
    const shared = newStore({ cacheDir: reader.store.cacheDir });
    await shared.store.get(ref);
    assert.deepEqual(shared.counts, {}, 'another store on the same cache directory: no request at all');

    const file = reader.store.cacheFile(ref.sha256);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(file, bytes);
    const back = await reader.store.get(ref);
    assert.equal(reader.counts.GetObjectCommand, 2, 'corrupted cache file: fetched again');
    assert.equal(back.numRows, 100);
    assert.equal(sha256Hex(readFileSync(file)), ref.sha256, 'and the cache file repaired');
  });

  it('keeps the cache within its bound, evicting the least recently used file', async () => {
    const writer = newStore();
    const refs = [];
    for (let i = 0; i < 3; i++) refs.push(await writer.store.put(embeddings(1000, 64, 10 + i), EMBEDDINGS, lineage));
    const size = refs[0].bytes;
    const reader = newStore({ cacheMaxBytes: Math.floor(size * 2.5) });
    await reader.store.get(refs[0]);
    await reader.store.get(refs[1]);
    // make the order unambiguous on coarse mtimes: 0 is older than 1, then reading 0 makes it the newest
    const past = new Date(Date.now() - 60_000);
    utimesSync(reader.store.cacheFile(refs[0].sha256), past, past);
    utimesSync(reader.store.cacheFile(refs[1].sha256), new Date(Date.now() - 30_000), new Date(Date.now() - 30_000));
    await reader.store.get(refs[0]); // hit: now the most recently used
    assert.equal(reader.counts.GetObjectCommand, 2);
    await reader.store.get(refs[2]); // over the bound: 1 (least recently used) goes
    assert.equal(reader.counts.GetObjectCommand, 3);
    assert.ok(existsSync(reader.store.cacheFile(refs[0].sha256)));
    assert.ok(!existsSync(reader.store.cacheFile(refs[1].sha256)), 'the least recently used file was evicted');
    assert.ok(existsSync(reader.store.cacheFile(refs[2].sha256)));
    const total = refs.filter((r) => existsSync(reader.store.cacheFile(r.sha256))).reduce((s, r) => s + statSync(reader.store.cacheFile(r.sha256)).size, 0);
    assert.ok(total <= reader.store.cacheMaxBytes, `${total} ≤ ${reader.store.cacheMaxBytes}`);
    await reader.store.get(refs[1]);
    assert.equal(reader.counts.GetObjectCommand, 4, 'an evicted artifact is fetched again');
  });

  it('a missing or corrupted object is an ArtifactIntegrityError, not retried', async () => {
    const { store } = newStore();
    const missing = { sha256: 'e'.repeat(64), schema: 'embeddings@1' };
    const err = await store.get(missing).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ArtifactIntegrityError, String(err));
    assert.match((err as Error).message, /is missing: s3:\/\/dlab\/runs\/test\/objects\/ee\/e{64}\.arrow/);
    assert.ok(permanentError(err), 'non-retryable');
    assert.deepEqual(await store.verify(missing), { ok: false, file: store.locate(missing.sha256) });

    const ref = await newStore().store.put(embeddings(10, 4, 20), EMBEDDINGS, lineage);
    const file = objectFile(store, ref.sha256);
    const bytes = readFileSync(file);
    bytes[100] ^= 0xff;
    writeFileSync(file, bytes); // behind the server's back, as bit rot would
    const bad = await store.get(ref).then(() => undefined, (e: unknown) => e);
    assert.ok(bad instanceof ArtifactIntegrityError, String(bad));
    assert.match((bad as Error).message, /is corrupted: expected sha256/);
    assert.equal((await store.verify(ref)).ok, false);
    // put trusts the checksum the server recorded on arrival (it does not download to re-hash): the
    // object changed behind the server's back stays until removed; reads keep refusing it
    const again = newStore();
    await again.store.put(embeddings(10, 4, 20), EMBEDDINGS, lineage);
    assert.equal(again.counts.PutObjectCommand, undefined);
    await assert.rejects(newStore().store.get(ref), ArtifactIntegrityError);
  });

  it('a store that is down is a retryable error naming the endpoint; once it is back, the same calls succeed', async () => {
    const table = embeddings(30, 4, 30);
    const { store } = newStore();
    const stored = await newStore().store.put(embeddings(30, 4, 31), EMBEDDINGS, lineage);
    await server.kill();
    try {
      for (const attempt of [() => store.put(table, EMBEDDINGS, lineage), () => store.get(stored)]) {
        const err = await attempt().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof StoreUnavailableError, String(err));
        assert.ok((err as Error).message.includes(server.endpoint), (err as Error).message);
        assert.equal(permanentError(err), undefined, 'retryable');
      }
    } finally {
      await server.startServer(); // same port, same directory
    }
    const ref = await store.put(table, EMBEDDINGS, lineage);
    assert.equal(sha256Hex(readFileSync(objectFile(store, ref.sha256))), ref.sha256);
    assert.equal((await store.get(stored)).numRows, 30);
  });
});

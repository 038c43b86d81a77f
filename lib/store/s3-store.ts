import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Table } from 'apache-arrow';
import { ArtifactSchema, schemaId } from '../../schemas/artifacts';
import { ArtifactIntegrityError, DlabInputError } from '../errors';
import { ArtifactStore, decodeArtifact, encodeArtifact, sha256Hex } from './artifact-store';
import { writeFileAtomic } from './atomic';
import { checkName, checkSha256, fileKey, tmpPathFor } from './files';
import { metrics } from '../metrics';
import { ArtifactRef, Lineage } from './ref';

/**
 * The object store is out of reach (connection refused or reset, a timeout, a 5xx, throttling):
 * a plain Error, so Temporal retries the activity; the message names the endpoint and bucket.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, readonly endpoint: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export interface S3StoreOptions {
  bucket: string;
  /** key prefix, without leading or trailing slashes ('' for the bucket's root) */
  prefix: string;
  /** this worker's local read cache (content-addressed, verified on read) */
  cacheDir: string;
  /** bound of the cache in bytes; least recently used files are removed above it */
  cacheMaxBytes: number;
  /** a ready client (tests add middleware to count requests); default: from the SDK's environment */
  client?: S3Client;
  /** how errors name the endpoint (default: {@link s3EndpointName}, from the environment the SDK reads) */
  endpoint?: string;
  /** path-style URLs (http://host/bucket/key), as on-prem servers need; default DLAB_S3_PATH_STYLE */
  forcePathStyle?: boolean;
  /** artifacts larger than this are uploaded in parts (default 16 MiB) */
  multipartThreshold?: number;
  /** part size of a multipart upload (default 16 MiB; S3's minimum is 5 MiB) */
  partSize?: number;
}

const MiB = 1024 * 1024;
/** Default cache bound: DLAB_CACHE_MAX_GB unset. */
export const DEFAULT_CACHE_MAX_GB = 10;

/** HTTP statuses and error names that another attempt may not meet (the store is busy or down). */
const TRANSIENT_NAMES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'ThrottlingException']);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/** The endpoint the SDK sends requests to, as env vars name it (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), else AWS's own. */
export function s3EndpointName(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || `AWS S3 (${env.AWS_REGION || env.AWS_DEFAULT_REGION || 'default region'})`;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/**
 * A client as the AWS SDK configures itself from the environment (AWS_ENDPOINT_URL[_S3],
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, ~/.aws/config and credentials), with
 * path-style addressing when asked (the JS SDK reads no setting of its own for that), short
 * connect timeouts, and the SDK's 3 attempts per request: a store that stays down fails the
 * activity, which Temporal retries with its backoff.
 */
export function s3ClientFromEnv(forcePathStyle = truthy(process.env.DLAB_S3_PATH_STYLE)): S3Client {
  return new S3Client({
    forcePathStyle,
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
    maxAttempts: 3,
    // every read is checked against the full-object SHA-256 of its address (a stronger check than
    // the SDK's, which for a multipart object covers the parts' checksums only)
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
  });
}

/** `s3://bucket/prefix` → bucket and prefix (no slashes at either end). */
export function parseS3Url(url: string, what = 'DLAB_STORE'): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1])) {
    throw new DlabInputError(`${what === 'DLAB_STORE' ? 'DLAB_STORE=' : ''}${url}: expected s3://<bucket>/<prefix> with a valid bucket name (3-63 of a-z 0-9 . -)`, what);
  }
  return { bucket: m[1], prefix: m[2].replace(/^\/+|\/+$/g, '') };
}

/**
 * Content-addressed objects at `s3://<bucket>/<prefix>/objects/<first two hex>/<sha256>.arrow`
 * (the local store's layout), read through a local cache.
 *
 * put: the key is the hash of the bytes, so any two writers of a key write the same bytes.
 * A HEAD first skips the upload when the object exists with the expected SHA-256 checksum;
 * otherwise the bytes are sent with `If-None-Match: *` (a conditional write: the server stores
 * them only if the key is still free) and with their SHA-256 checksum, which the server checks
 * before storing. A 412 (another writer got there first) is success. Correctness does not rest
 * on the condition: a server that ignores it overwrites the object with identical bytes, and
 * every S3 PUT is atomic for readers. Artifacts above `multipartThreshold` go up in parts, each
 * with its own SHA-256, the completion conditional the same way.
 *
 * get: the cache file when it hashes to the address (touched, for LRU), else the object (its
 * hash checked), then written to the cache. A missing or corrupted object is an
 * ArtifactIntegrityError; a store out of reach a StoreUnavailableError (retryable).
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly cacheDir: string;
  readonly cacheMaxBytes: number;
  readonly client: S3Client;
  readonly endpoint: string;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private evicting?: Promise<void>;
  /** what this store believes the cache holds: its last scan plus what it wrote since (undefined before the first scan) */
  private cacheEstimate?: number;
  private lastScan = 0;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix.replace(/^\/+|\/+$/g, '');
    this.cacheDir = resolve(opts.cacheDir);
    this.cacheMaxBytes = opts.cacheMaxBytes;
    this.client = opts.client ?? s3ClientFromEnv(opts.forcePathStyle);
    this.endpoint = opts.endpoint ?? s3EndpointName();
    this.multipartThreshold = opts.multipartThreshold ?? 16 * MiB;
    this.partSize = Math.max(opts.partSize ?? 16 * MiB, 5 * MiB);
  }

  key(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new DlabInputError(`not a sha256 hex digest: "${sha256}"`);
    return this.root(`objects/${sha256.slice(0, 2)}/${sha256}.arrow`);
  }

  locate(sha256: string): string {
    return `s3://${this.bucket}/${this.key(sha256)}`;
  }

  /** The cache file of an artifact. */
  cacheFile(sha256: string): string {
    return join(this.cacheDir, 'objects', sha256.slice(0, 2), `${sha256}.arrow`);
  }

  async put(table: Table, schema: ArtifactSchema, lineage: Lineage): Promise<ArtifactRef> {
    const bytes = encodeArtifact(table, schema, lineage);
    const sha256 = sha256Hex(bytes);
    const ref: ArtifactRef = { uri: this.locate(sha256), sha256, schema: schemaId(schema), rows: table.numRows, bytes: bytes.byteLength };
    if (await this.putBytes(sha256, bytes)) metrics.artifactWritten('s3', bytes.byteLength);
    await this.cacheWrite(sha256, bytes); // the writer's next stage usually reads what it wrote
    return ref;
  }

  /** Stores `bytes` (whose sha256 is `sha256`) unless an object with that checksum is already there; true when this call uploaded them. */
  async putBytes(sha256: string, bytes: Uint8Array): Promise<boolean> {
    const multipart = bytes.byteLength > this.multipartThreshold;
    const expected = multipart ? this.compositeChecksum(bytes) : Buffer.from(sha256, 'hex').toString('base64');
    return this.upload(this.key(sha256), bytes.byteLength, expected, async (off, len) => bytes.subarray(off, off + len));
  }

  /**
   * Uploads `size` bytes (read by `read(offset, length)`) to `key` unless an object with the
   * same size and SHA-256 checksum `expected` is there: in one conditional PUT up to the
   * multipart threshold, else in parts. Returns whether bytes were sent.
   */
  private async upload(key: string, size: number, expected: string, read: (off: number, len: number) => Promise<Uint8Array>): Promise<boolean> {
    const head = await this.head(key);
    if (head && head.size === size && head.checksum === expected) return false;
    // an object under this key with other bytes was corrupted after it was written (or a server
    // that keeps no checksum cannot show it is the same): write it again
    const ifNoneMatch = head ? undefined : '*';
    try {
      if (size > this.multipartThreshold) await this.putMultipart(key, size, read, ifNoneMatch);
      else {
        const body = await read(0, size);
        await this.call(`put ${key}`, () =>
          this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: size, ChecksumSHA256: expected, IfNoneMatch: ifNoneMatch })),
        );
      }
    } catch (err) {
      if (isStatus(err, 412)) return false; // another writer stored the same key first: the same bytes
      if (isStatus(err, 409) && (await this.head(key))?.size === size) return false; // a concurrent conditional write won
      throw err;
    }
    return true;
  }

  /** S3's checksum of a multipart upload: SHA-256 of the parts' SHA-256 digests, "-<parts>". */
  private compositeChecksum(bytes: Uint8Array): string {
    const h = createHash('sha256');
    let n = 0;
    for (let off = 0; off < bytes.byteLength; off += this.partSize, n++) h.update(createHash('sha256').update(bytes.subarray(off, off + this.partSize)).digest());
    return `${h.digest('base64')}-${n}`;
  }

  private async putMultipart(key: string, size: number, read: (off: number, len: number) => Promise<Uint8Array>, ifNoneMatch: string | undefined): Promise<void> {
    const created = await this.call(`start multipart upload of ${key}`, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ChecksumAlgorithm: 'SHA256' })),
    );
    const uploadId = created.UploadId!;
    try {
      const parts: { PartNumber: number; ETag?: string; ChecksumSHA256: string }[] = [];
      for (let off = 0, n = 1; off < size; off += this.partSize, n++) {
        const body = await read(off, Math.min(this.partSize, size - off));
        const checksum = createHash('sha256').update(body).digest('base64');
        const out = await this.call(`upload part ${n} of ${key}`, () =>
          this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.byteLength, ChecksumSHA256: checksum })),
        );
        parts.push({ PartNumber: n, ETag: out.ETag, ChecksumSHA256: checksum });
      }
      await this.call(`complete multipart upload of ${key}`, () =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: ifNoneMatch })),
      );
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }

  private root(rel: string): string {
    return `${this.prefix ? this.prefix + '/' : ''}${rel}`;
  }

  locateFile(sha256: string): string {
    return `s3://${this.bucket}/${this.root(fileKey(sha256))}`;
  }

  async putFile(path: string, sha256: string): Promise<{ stored: boolean; bytes: number }> {
    checkSha256(sha256);
    const key = this.root(fileKey(sha256));
    let handle: FileHandle;
    try {
      handle = await fs.open(path, 'r');
    } catch (err) {
      throw new DlabInputError(`${path}: cannot read it to store it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, path);
    }
    try {
      const size = (await handle.stat()).size;
      const read = async (off: number, len: number) => {
        const buf = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const { bytesRead } = await handle.read(buf, got, len - got, off + got);
          if (bytesRead === 0) throw new DlabInputError(`${path}: the file shrank while it was being stored`, path);
          got += bytesRead;
        }
        return buf;
      };
      // one pass for the whole file's sha256 (the caller's claim, checked) and S3's checksum of it
      const whole = createHash('sha256');
      const parts = createHash('sha256');
      const partDigests: Buffer[] = [];
      for (let off = 0; off < size; off += this.partSize) {
        const chunk = await read(off, Math.min(this.partSize, size - off));
        whole.update(chunk);
        partDigests.push(createHash('sha256').update(chunk).digest());
        parts.update(partDigests[partDigests.length - 1]);
      }
      const actual = whole.digest('hex');
      if (actual !== sha256) throw new DlabInputError(`${path}: sha256 is ${actual}, expected ${sha256}: the file changed`, path);
      const multipart = size > this.multipartThreshold;
      const expected = multipart ? `${parts.digest('base64')}-${partDigests.length}` : Buffer.from(sha256, 'hex').toString('base64');
      // the upload reads the file again: a single PUT carries the whole file's SHA-256, which the
      // server checks; each part of a multipart upload is checked here against the first pass, so
      // a file rewritten in between is refused instead of stored under the old address
      const reread = async (off: number, len: number) => {
        const buf = await read(off, len);
        if (multipart && !createHash('sha256').update(buf).digest().equals(partDigests[off / this.partSize])) {
          throw new DlabInputError(`${path}: the file changed while it was being stored (part at byte ${off})`, path);
        }
        return buf;
      };
      return { stored: await this.upload(key, size, expected, reread), bytes: size };
    } finally {
      await handle.close();
    }
  }

  async fetchFile(sha256: string, dest: string): Promise<boolean> {
    checkSha256(sha256);
    await fs.mkdir(dirname(dest), { recursive: true });
    const tmp = tmpPathFor(dest);
    try {
      const actual = await this.download(this.root(fileKey(sha256)), tmp);
      if (actual === undefined) return false;
      if (actual !== sha256) {
        const uri = this.locateFile(sha256);
        throw new ArtifactIntegrityError(`stored file ${uri} is corrupted: expected sha256 ${sha256}, found ${actual}`, uri, sha256);
      }
      await fs.rename(tmp, dest);
      return true;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async verifyFile(sha256: string): Promise<{ ok: boolean; file: string; actual?: string }> {
    const file = this.locateFile(sha256);
    const actual = await this.download(this.root(fileKey(sha256)));
    return actual === undefined ? { ok: false, file } : { ok: actual === sha256, file, actual };
  }

  /**
   * Streams the object to `to` (fsync'd; or nowhere), returning its sha256, or a description of
   * the damage when the client's own response check refused the bytes; undefined when there is no
   * such object (404, or 403: S3's answer for a missing key to a caller without s3:ListBucket).
   * Only the requests and the body stream are classified as the store's errors; the local file's
   * errors (EACCES, ENOSPC) are this machine's and pass through as they are.
   */
  private async download(key: string, to?: string): Promise<string | undefined> {
    let body: AsyncIterable<Uint8Array>;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = out.Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw this.classify(err, `get ${key}`);
    }
    const h = createHash('sha256');
    const handle = to ? await fs.open(to, 'w') : undefined;
    try {
      const chunks = body[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          if (/Checksum mismatch/.test((err as Error).message)) return `unknown: the bytes do not match the object's checksum (${(err as Error).message})`;
          throw this.classify(err, `get ${key}`);
        }
        if (next.done) break;
        h.update(next.value);
        if (handle) await handle.write(next.value);
      }
      if (handle) await handle.sync();
    } finally {
      await handle?.close();
    }
    return h.digest('hex');
  }

  async putName(name: string, sha256: string): Promise<void> {
    checkName(name);
    checkSha256(sha256);
    const key = this.root(`names/${name}`);
    const body = Buffer.from(`${sha256}\n`);
    await this.call(`put ${key}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.byteLength, ChecksumSHA256: createHash('sha256').update(body).digest('base64') })),
    );
  }

  async getName(name: string): Promise<string | undefined> {
    checkName(name);
    const key = this.root(`names/${name}`);
    try {
      const v = (await (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body!.transformToString()).trim();
      return /^[0-9a-f]{64}$/.test(v) ? v : undefined;
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw this.classify(err, `get ${key}`);
    }
  }

  /** Size and SHA-256 checksum (base64, "-<parts>" for a multipart object) of an object; undefined if there is none. */
  private async head(key: string): Promise<{ size: number; checksum?: string } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      return { size: out.ContentLength ?? -1, checksum: out.ChecksumSHA256 };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      // without s3:ListBucket, S3 answers 403 for a key that does not exist: treat it as absent and
      // let the conditional put decide (a real denial fails there, naming the credentials)
      if (isStatus(err, 403)) return undefined;
      throw this.classify(err, `head ${key}`);
    }
  }

  async get(ref: Pick<ArtifactRef, 'sha256' | 'schema'> & { uri?: string }): Promise<Table> {
    const uri = this.locate(ref.sha256);
    const cached = await this.cacheRead(ref.sha256);
    if (cached) {
      metrics.artifactRead('s3', cached.byteLength);
      return decodeArtifact(cached, ref.schema, uri, ref.sha256);
    }
    const bytes = await this.fetch(ref.sha256);
    if (bytes === undefined) throw new ArtifactIntegrityError(`artifact ${ref.sha256} (${ref.schema}) is missing: ${uri} (NoSuchKey at ${this.endpoint})`, uri, ref.sha256);
    const actual = sha256Hex(bytes);
    if (actual !== ref.sha256) throw new ArtifactIntegrityError(`artifact ${uri} is corrupted: expected sha256 ${ref.sha256}, found ${actual}`, uri, ref.sha256);
    metrics.artifactRead('s3', bytes.byteLength);
    const table = decodeArtifact(bytes, ref.schema, uri, ref.sha256);
    await this.cacheWrite(ref.sha256, bytes);
    return table;
  }

  /**
   * The verified bytes of an artifact (cache first, as `get`), undefined when there is no such
   * object; an ArtifactIntegrityError when the object does not hash to its address.
   */
  async readBytes(sha256: string): Promise<Buffer | undefined> {
    const cached = await this.cacheRead(sha256);
    if (cached) {
      metrics.artifactRead('s3', cached.byteLength);
      return cached;
    }
    const bytes = await this.fetch(sha256);
    if (bytes === undefined) return undefined;
    const actual = sha256Hex(bytes);
    const uri = this.locate(sha256);
    if (actual !== sha256) throw new ArtifactIntegrityError(`artifact ${uri} is corrupted: expected sha256 ${sha256}, found ${actual}`, uri, sha256);
    metrics.artifactRead('s3', bytes.byteLength);
    await this.cacheWrite(sha256, bytes);
    return bytes;
  }

  /** The sha256 of every stored artifact whose hash starts with `hexPrefix` (one listing of the key prefix). */
  async list(hexPrefix: string): Promise<string[]> {
    const base = `${this.prefix ? this.prefix + '/' : ''}objects/`;
    const Prefix = hexPrefix.length >= 2 ? `${base}${hexPrefix.slice(0, 2)}/${hexPrefix}` : `${base}${hexPrefix}`;
    const out: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(`list ${Prefix}`, () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken })));
      for (const o of page.Contents ?? []) {
        const m = /\/([0-9a-f]{64})\.arrow$/.exec(o.Key ?? '');
        if (m && m[1].startsWith(hexPrefix)) out.push(m[1]);
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  }

  /** Re-hashes the object in the bucket (not the cache). */
  async verify(ref: Pick<ArtifactRef, 'sha256'>): Promise<{ ok: boolean; file: string; actual?: string }> {
    const file = this.locate(ref.sha256);
    let bytes: Buffer | undefined;
    try {
      bytes = await this.fetch(ref.sha256);
    } catch (err) {
      if (err instanceof ArtifactIntegrityError) return { ok: false, file, actual: 'unknown (checksum mismatch)' };
      throw err;
    }
    if (bytes === undefined) return { ok: false, file };
    const actual = sha256Hex(bytes);
    return { ok: actual === ref.sha256, file, actual };
  }

  /** The object's bytes, undefined if it does not exist. */
  async fetch(sha256: string): Promise<Buffer | undefined> {
    const key = this.key(sha256);
    try {
      return await this.call(`get ${key}`, async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return Buffer.from(await out.Body!.transformToByteArray());
      });
    } catch (err) {
      if (isStatus(err, 404) || (err as Error).name === 'NoSuchKey') return undefined;
      // a client that validates response checksums itself (the SDK's default) fails this way on corrupted bytes
      const cause = (err as Error).message;
      if (/Checksum mismatch/.test(cause)) {
        const uri = this.locate(sha256);
        throw new ArtifactIntegrityError(`artifact ${uri} is corrupted: the bytes do not match the object's SHA-256 checksum (${cause})`, uri, sha256);
      }
      throw err;
    }
  }

  /** A verified cache hit (its mtime set to now: the LRU order), or undefined; a corrupted cache file is removed. Counted as a hit or a miss. */
  private async cacheRead(sha256: string): Promise<Buffer | undefined> {
    const bytes = await this.cacheLookup(sha256);
    metrics.cacheLookup(bytes ? 'hit' : 'miss');
    return bytes;
  }

  private async cacheLookup(sha256: string): Promise<Buffer | undefined> {
    const file = this.cacheFile(sha256);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch {
      return undefined;
    }
    if (sha256Hex(bytes) !== sha256) {
      await fs.rm(file, { force: true });
      return undefined;
    }
    const now = new Date();
    await fs.utimes(file, now, now).catch(() => undefined);
    return bytes;
  }

  private async cacheWrite(sha256: string, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength > this.cacheMaxBytes) return;
    await writeFileAtomic(this.cacheFile(sha256), bytes, join(this.cacheDir, 'tmp'));
    // the directory is scanned when this store's own count passes the bound, and at least once a
    // minute while it writes (other processes on the same cache add files it does not count)
    if (this.cacheEstimate !== undefined) this.cacheEstimate += bytes.byteLength;
    if (this.cacheEstimate !== undefined && this.cacheEstimate <= this.cacheMaxBytes && Date.now() - this.lastScan < 60_000) return;
    // one eviction pass at a time per store; a pass sees every file written before it listed the directory
    // a failed pass (a file another process holds) only leaves the cache larger until the next one
    this.evicting = (this.evicting ?? Promise.resolve()).then(() => this.evict(sha256)).catch(() => undefined);
    await this.evicting;
  }

  /**
   * Lists the cache and removes least recently used files (oldest mtime first) until it holds at
   * most `cacheMaxBytes`; `keep` (the file just written) goes last. Workers sharing a DLAB_HOME share
   * the cache: a file another one removes is simply fetched again.
   */
  async evict(keep?: string): Promise<void> {
    const root = join(this.cacheDir, 'objects');
    const files: { path: string; size: number; mtime: number; keep: boolean }[] = [];
    for (const d of await fs.readdir(root).catch(() => [] as string[])) {
      for (const f of await fs.readdir(join(root, d)).catch(() => [] as string[])) {
        if (!f.endsWith('.arrow')) continue;
        const path = join(root, d, f);
        const st = await fs.stat(path).catch(() => undefined);
        if (st) files.push({ path, size: st.size, mtime: st.mtimeMs, keep: f === `${keep}.arrow` });
      }
    }
    let total = files.reduce((s, f) => s + f.size, 0);
    files.sort((a, b) => Number(a.keep) - Number(b.keep) || a.mtime - b.mtime);
    for (const f of files) {
      if (total <= this.cacheMaxBytes) break;
      await fs.rm(f.path, { force: true });
      total -= f.size;
    }
    this.cacheEstimate = total;
    this.lastScan = Date.now();
  }

  /** Runs one S3 request; errors that mean the store is out of reach become StoreUnavailableError, access and bucket errors DlabInputError. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.classify(err, what);
    }
  }

  private classify(err: unknown, what: string): unknown {
    if (!(err instanceof Error)) return err;
    const status = (err as S3ServiceException).$metadata?.httpStatusCode;
    const code = (err as NodeJS.ErrnoException).code ?? ((err as { cause?: NodeJS.ErrnoException }).cause?.code);
    const where = `S3 store ${this.endpoint} (bucket ${this.bucket})`;
    if (/Checksum mismatch/.test(err.message)) return err; // the bytes arrived, and are not what the server stored: see fetch
    if (err.name === 'CredentialsProviderError' || err.name === 'ProviderError') {
      return new DlabInputError(`${where}: ${what}: no AWS credentials (${err.message}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile`, 'AWS_ACCESS_KEY_ID');
    }
    if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) return err;
    if ((status !== undefined && (status >= 500 || status === 429 || status === 408)) || TRANSIENT_NAMES.has(err.name) || (code && TRANSIENT_CODES.has(code)) || (status === undefined && !(err instanceof S3ServiceException))) {
      return new StoreUnavailableError(`${where} is unavailable: ${what}: ${err.name}${code && code !== err.name ? ` ${code}` : ''}: ${err.message || 'no message'}`, this.endpoint);
    }
    if (status === 403 || err.name === 'NoSuchBucket' || err.name === 'InvalidAccessKeyId' || err.name === 'SignatureDoesNotMatch' || err.name === 'AccessDenied') {
      return new DlabInputError(`${where}: ${what}: ${err.name}: ${err.message} (check DLAB_STORE, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)`, 'DLAB_STORE');
    }
    return err;
  }
}

function isStatus(err: unknown, status: number): boolean {
  return (err as S3ServiceException)?.$metadata?.httpStatusCode === status;
}

/**
 * No such object (an SDK error, before classify): 404 / NoSuchKey, or the 403 AccessDenied S3
 * gives for a missing key to a caller without s3:ListBucket, as `head` counts it (bad credentials
 * answer 403 under other names and stay errors).
 */
function isAbsent(err: unknown): boolean {
  const name = (err as Error)?.name;
  return isStatus(err, 404) || name === 'NoSuchKey' || (isStatus(err, 403) && (name === 'AccessDenied' || name === 'Forbidden' || name === 'UnknownError'));
}

/** DLAB_CACHE_MAX_GB (default {@link DEFAULT_CACHE_MAX_GB}) in bytes. */
export function cacheMaxBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.DLAB_CACHE_MAX_GB;
  if (v === undefined || v === '') return DEFAULT_CACHE_MAX_GB * 1024 ** 3;
  const gb = Number(v);
  if (!Number.isFinite(gb) || gb < 0) throw new DlabInputError(`DLAB_CACHE_MAX_GB=${v}: expected a number of GB ≥ 0`, 'DLAB_CACHE_MAX_GB');
  return Math.floor(gb * 1024 ** 3);
}

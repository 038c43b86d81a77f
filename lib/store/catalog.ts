import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { ArtifactIntegrityError, DlabInputError } from '../errors';
import { ArtifactStore, LocalArtifactStore, readLineage } from './artifact-store';
import type { Lineage } from './ref';
import type { S3ArtifactStore } from './s3-store';

/** A store other than a local directory: listed and read through its own calls (lib/store/s3-store.ts). */
function remote(store: ArtifactStore): S3ArtifactStore | undefined {
  return store instanceof LocalArtifactStore ? undefined : (store as S3ArtifactStore);
}

/** An artifact as the store holds it: its lineage metadata, kind, size and file (an s3:// URI for an S3 store). */
export interface StoredArtifact extends Lineage {
  sha256: string;
  schema: string;
  bytes: number;
  file: string;
}

/**
 * The lineage of a stored artifact, read from the Arrow file's schema (footer): from a local
 * file without reading its record batches; from S3, the whole object, verified and cached (S3
 * has no cheap footer read here). Undefined when the store has no artifact with that hash.
 */
export async function readStoredArtifact(store: ArtifactStore, sha256: string): Promise<StoredArtifact | undefined> {
  const file = store.locate(sha256);
  const s3 = remote(store);
  if (s3) {
    // verified and cached for the reads that follow; a corrupted object is still read for its
    // lineage, as a local file is (the callers re-hash and report it)
    const bytes = await s3.readBytes(sha256).catch((err: unknown) => (err instanceof ArtifactIntegrityError ? s3.fetch(sha256) : Promise.reject(err)));
    if (!bytes) return undefined;
    try {
      const reader = RecordBatchReader.from(bytes);
      reader.open();
      return { ...readLineage(reader), sha256, bytes: bytes.byteLength, file };
    } catch (err) {
      throw new ArtifactIntegrityError(`${file}: cannot read its Arrow schema (${(err as Error).message})`, file, sha256);
    }
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const reader = await RecordBatchReader.from(handle);
    await reader.open();
    return { ...readLineage(reader), sha256, bytes: size, file };
  } catch (err) {
    throw new ArtifactIntegrityError(`${file}: cannot read its Arrow schema (${(err as Error).message})`, file, sha256);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The full sha256 of the one stored artifact whose hash starts with `prefix` (hex, any length). */
export async function resolveArtifactSha(store: ArtifactStore, prefix: string): Promise<string> {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(p)) throw new DlabInputError(`not a sha256 or a prefix of one (hex digits expected): "${prefix}"`, 'sha256');
  const s3 = remote(store);
  const matches = s3 ? await s3.list(p) : await listLocal(store as LocalArtifactStore, p);
  const where = s3 ? `s3://${s3.bucket}/${s3.prefix}` : (store as LocalArtifactStore).root;
  if (matches.length === 1) return matches[0];
  if (!matches.length) throw new DlabInputError(`no artifact ${p.length === 64 ? p : `with a sha256 starting ${p}`} in the store ${where}`, 'sha256');
  throw new DlabInputError(`sha256 prefix ${p} is ambiguous: ${matches.length} artifacts match (${matches.slice(0, 4).map((m) => m.slice(0, 16)).join(', ')}${matches.length > 4 ? ', …' : ''}); give more digits`, 'sha256');
}

async function listLocal(store: LocalArtifactStore, p: string): Promise<string[]> {
  const objects = join(store.root, 'objects'); // <root>/objects/<first two hex>/<sha256>.arrow
  const list = async (dir: string) => fs.readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  const dirs = p.length >= 2 ? [p.slice(0, 2)] : (await list(objects)).filter((d) => d.startsWith(p));
  const matches: string[] = [];
  for (const d of dirs) {
    for (const f of await list(join(objects, d))) if (f.endsWith('.arrow') && f.startsWith(p)) matches.push(f.slice(0, -'.arrow'.length));
  }
  return matches;
}

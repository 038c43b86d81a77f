import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { ArtifactIntegrityError, DlabInputError } from '../errors';
import { LocalArtifactStore, readLineage } from './artifact-store';
import type { Lineage } from './ref';

/** An artifact as the store holds it: its lineage metadata, kind, size and file. */
export interface StoredArtifact extends Lineage {
  sha256: string;
  schema: string;
  bytes: number;
  file: string;
}

/**
 * The lineage of a stored artifact, read from the Arrow file's schema (footer) without
 * reading its record batches; undefined when the store has no file with that hash.
 */
export async function readStoredArtifact(store: LocalArtifactStore, sha256: string): Promise<StoredArtifact | undefined> {
  const file = store.locate(sha256);
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
export async function resolveArtifactSha(store: LocalArtifactStore, prefix: string): Promise<string> {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(p)) throw new DlabInputError(`not a sha256 or a prefix of one (hex digits expected): "${prefix}"`, 'sha256');
  const objects = join(store.root, 'objects'); // <root>/objects/<first two hex>/<sha256>.arrow
  const list = async (dir: string) => fs.readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  const dirs = p.length >= 2 ? [p.slice(0, 2)] : (await list(objects)).filter((d) => d.startsWith(p));
  const matches: string[] = [];
  for (const d of dirs) {
    for (const f of await list(join(objects, d))) if (f.endsWith('.arrow') && f.startsWith(p)) matches.push(f.slice(0, -'.arrow'.length));
  }
  if (matches.length === 1) return matches[0];
  if (!matches.length) throw new DlabInputError(`no artifact ${p.length === 64 ? p : `with a sha256 starting ${p}`} in the store ${store.root}`, 'sha256');
  throw new DlabInputError(`sha256 prefix ${p} is ambiguous: ${matches.length} artifacts match (${matches.slice(0, 4).map((m) => m.slice(0, 16)).join(', ')}${matches.length > 4 ? ', …' : ''}); give more digits`, 'sha256');
}

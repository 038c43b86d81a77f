import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ArtifactIntegrityError, DlabInputError } from '../errors';

/**
 * Whole files by content, next to the artifacts in the same store: the files of model
 * directories and the input files of runs, so that a worker on another machine can fetch what
 * a run needs by its sha256 (lib/model/model-store.ts). Layout under a store's root (a directory
 * or an S3 prefix): `files/<first two hex>/<sha256>`; and small named pointers
 * `names/<name>` holding one sha256, for results found by what produced them (a pretrained model
 * by its training config).
 */
export interface FileStore {
  /** where the file with this hash is (or would be) kept: a path or an s3:// URL */
  locateFile(sha256: string): string;
  /**
   * Stores the file at `path`, whose sha256 the caller states (it is checked while the file is
   * read: a file that changed is an input error naming it). Nothing is written when the store
   * already has it. Returns whether bytes were sent.
   */
  putFile(path: string, sha256: string): Promise<{ stored: boolean; bytes: number }>;
  /** Writes the stored file with this hash to `dest` (atomically, hash checked); false when the store has none. */
  fetchFile(sha256: string, dest: string): Promise<boolean>;
  /** Re-hashes the stored file (the store's copy, never a cache). */
  verifyFile(sha256: string): Promise<{ ok: boolean; file: string; actual?: string }>;
  /** Points `name` at `sha256` (names are derived from what determines the content: rewriting one writes the same value). */
  putName(name: string, sha256: string): Promise<void>;
  /** The sha256 `name` points at, undefined when there is no such name. */
  getName(name: string): Promise<string | undefined>;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function checkSha256(sha256: string, what = 'sha256'): void {
  if (!HEX64.test(sha256)) throw new DlabInputError(`${what}: not a sha256 hex digest: "${sha256}"`, what);
}

/** A name of `names/`: letters, digits, `.`, `_`, `-`, at most 200 characters. */
export function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(name) || name.startsWith('.')) throw new DlabInputError(`"${name}" cannot name a stored pointer (letters, digits, . _ -)`, name);
}

/** Relative key of a file: `files/<xx>/<sha256>`. */
export function fileKey(sha256: string): string {
  checkSha256(sha256);
  return `files/${sha256.slice(0, 2)}/${sha256}`;
}

/** A temporary path next to `path` (same directory, so a rename puts it in place), unique per call. */
export function tmpPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** sha256 and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** fsync of a file by path (before the rename that publishes it). */
export async function syncFile(path: string): Promise<void> {
  const h = await fs.open(path, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Places a copy of `from` (expected sha256 `sha256`) at `to`, atomically: copied (a copy-on-write
 * clone where the file system can, never a hard link: a stored file must not change when the
 * user rewrites theirs in place), hashed, and renamed into place only when the hash matches. A
 * mismatch removes the temporary file and is an error naming `from` (`what` says what it was
 * meant to be).
 */
export async function placeFile(from: string, to: string, sha256: string, what: string): Promise<number> {
  await fs.mkdir(dirname(to), { recursive: true });
  const tmp = tmpPathFor(to);
  try {
    try {
      await fs.copyFile(from, tmp, fsConstants.COPYFILE_FICLONE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DlabInputError(`${from}: ${what} is missing`, from);
      throw err;
    }
    await syncFile(tmp);
    const got = await hashFile(tmp);
    if (got.sha256 !== sha256) throw new DlabInputError(`${from}: sha256 is ${got.sha256}, expected ${sha256} (${what}): the file changed`, from);
    await fs.rename(tmp, to);
    return got.bytes;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Files of a local store: `<root>/files/<xx>/<sha256>`, names `<root>/names/<name>`. */
export class LocalFileStore implements FileStore {
  constructor(readonly root: string) {}

  locateFile(sha256: string): string {
    return join(this.root, fileKey(sha256));
  }

  async putFile(path: string, sha256: string): Promise<{ stored: boolean; bytes: number }> {
    const file = this.locateFile(sha256);
    const have = await this.verifyFile(sha256);
    if (have.ok) return { stored: false, bytes: (await fs.stat(file)).size };
    return { stored: true, bytes: await placeFile(path, file, sha256, `the file stored as ${sha256}`) };
  }

  async fetchFile(sha256: string, dest: string): Promise<boolean> {
    const file = this.locateFile(sha256);
    try {
      await fs.access(file);
    } catch {
      return false;
    }
    try {
      await placeFile(file, dest, sha256, `stored file ${sha256}`);
    } catch (err) {
      if (!(err instanceof DlabInputError)) throw err;
      throw new ArtifactIntegrityError(`stored file ${file} is corrupted: ${err.message}`, file, sha256);
    }
    return true;
  }

  async verifyFile(sha256: string): Promise<{ ok: boolean; file: string; actual?: string }> {
    const file = this.locateFile(sha256);
    try {
      const { sha256: actual } = await hashFile(file);
      return { ok: actual === sha256, file, actual };
    } catch {
      return { ok: false, file };
    }
  }

  async putName(name: string, sha256: string): Promise<void> {
    checkName(name);
    checkSha256(sha256);
    const file = join(this.root, 'names', name);
    await fs.mkdir(dirname(file), { recursive: true });
    const tmp = tmpPathFor(file);
    await fs.writeFile(tmp, `${sha256}\n`);
    await syncFile(tmp);
    await fs.rename(tmp, file);
  }

  async getName(name: string): Promise<string | undefined> {
    checkName(name);
    try {
      const v = (await fs.readFile(join(this.root, 'names', name), 'utf8')).trim();
      return HEX64.test(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }
}

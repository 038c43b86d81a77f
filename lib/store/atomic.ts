import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import { DlabInputError } from '../errors';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `bytes` to `path` so that readers see either nothing or the whole file: a temp
 * file in the same directory, fsync, rename, fsync of the directory. The temp name is unique
 * per call, so concurrent writers of the same path never share one.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, tmpDir = dirname(path)): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true });
  await fs.mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  try {
    const h = await fs.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* some filesystems cannot fsync a directory; the rename is still atomic */
  }
}

/**
 * `dir`, created if need be and checked writable (a file written and removed): an input error
 * naming it as `name` (e.g. DLAB_HOME) when it cannot be, such as a path under a file.
 */
export function ensureWritableDir(dir: string, name: string): string {
  const probe = join(dir, `.probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, 'ok');
    rmSync(probe);
  } catch (err) {
    throw new DlabInputError(`${name}=${dir} cannot be written (${(err as Error).message}); set ${name} to a directory you can write`, name);
  }
  return dir;
}

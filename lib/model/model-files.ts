import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

/**
 * Model files by content: `<dir>/<sha256>.onnx`, written atomically once. Returns the
 * path and the hash that lineage records.
 */
export async function storeModelBytes(dir: string, bytes: Uint8Array): Promise<{ path: string; sha256: string }> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const path = join(dir, `${sha256}.onnx`);
  try {
    await fs.access(path);
    return { path, sha256 };
  } catch {
    /* not there yet */
  }
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const h = await fs.open(tmp, 'w');
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, path);
  return { path, sha256 };
}

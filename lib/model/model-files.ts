import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic';

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
  await writeFileAtomic(path, bytes);
  return { path, sha256 };
}

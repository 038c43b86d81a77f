import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp directory, removed after the suite unless DLAB_KEEP_TMP is set. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `dlab-${prefix}-`));
  return { path, cleanup: () => (process.env.DLAB_KEEP_TMP ? undefined : rmSync(path, { recursive: true, force: true })) };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalArtifactStore } from '../../lib/store/artifact-store';
import type { ArtifactIO } from '../../lib/store/io';

/** A fresh temp directory, removed after the suite unless DLAB_KEEP_TMP is set. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `dlab-${prefix}-`));
  return { path, cleanup: () => (process.env.DLAB_KEEP_TMP ? undefined : rmSync(path, { recursive: true, force: true })) };
}

/** An ArtifactIO over a local store, lineage stamped with `stage` (engine tests without a worker). */
export function localIO(store: LocalArtifactStore, stage: string): ArtifactIO {
  return {
    write: (t, s, parents) => store.put(t, s, { experimentId: 't', stage, producer: 't', configHash: '', codeVersion: '', parents }),
    read: (r) => store.get(r),
  };
}

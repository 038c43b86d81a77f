import { Table } from 'apache-arrow';
import { ArtifactSchema } from '../../schemas/artifacts';
import { ArtifactRef } from './ref';

/**
 * What an engine in lib/ needs from the store: write a table of a kind (lineage is
 * filled in by whoever made the writer: experiment, stage, producer, config, code) and
 * read one back verified.
 */
export interface ArtifactIO {
  write(table: Table, schema: ArtifactSchema, parents: string[], extra?: Record<string, unknown>): Promise<ArtifactRef>;
  read(ref: Pick<ArtifactRef, 'sha256' | 'schema'>): Promise<Table>;
}

/** A short reference kept in heartbeat state (the hash and the kind are enough to read it back). */
export type ChunkRef = Pick<ArtifactRef, 'sha256' | 'schema'>;

export function chunkRef(ref: ArtifactRef): ChunkRef {
  return { sha256: ref.sha256, schema: ref.schema };
}

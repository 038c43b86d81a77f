/** What an activity returns instead of arrays: a pointer to an immutable, content-addressed Arrow file. */
export interface ArtifactRef {
  uri: string;
  sha256: string;
  /** `name@version`, see schemas/artifacts.ts */
  schema: string;
  rows: number;
  bytes: number;
}

/** Lineage written into every artifact's Arrow schema metadata. */
export interface Lineage {
  experimentId: string;
  stage: string;
  producer: string;
  configHash: string;
  codeVersion: string;
  /** sha256 of every artifact (or model file) this one was computed from */
  parents: string[];
  /** anything else worth keeping next to the numbers (small, JSON-serialisable) */
  extra?: Record<string, unknown>;
}

export const META = {
  schema: 'dlab.schema',
  experimentId: 'dlab.experiment_id',
  stage: 'dlab.stage',
  producer: 'dlab.producer',
  configHash: 'dlab.config_hash',
  codeVersion: 'dlab.code_version',
  parents: 'dlab.parents',
  extra: 'dlab.extra',
} as const;

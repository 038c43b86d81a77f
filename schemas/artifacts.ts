/**
 * Every artifact kind, with a version. An artifact's Arrow schema carries `dlab.schema =
 * name@version`; the store refuses to write a table whose columns do not match its kind.
 * Bump the version when a column changes meaning or type; readers check it.
 */
export type ColumnKind = 'int32' | 'float32' | 'float64' | 'utf8' | 'vector<float32>';

export interface ArtifactSchema {
  name: string;
  version: number;
  description: string;
  columns: Record<string, ColumnKind>;
}

const registry = new Map<string, ArtifactSchema>();

function define(name: string, version: number, description: string, columns: Record<string, ColumnKind>): ArtifactSchema {
  const schema = { name, version, description, columns };
  registry.set(schemaId(schema), schema);
  return schema;
}

export function schemaId(schema: ArtifactSchema): string {
  return `${schema.name}@${schema.version}`;
}

export function lookupSchema(id: string): ArtifactSchema {
  const s = registry.get(id);
  if (!s) throw new Error(`unknown artifact schema "${id}" (known: ${[...registry.keys()].join(', ')})`);
  return s;
}

export function allSchemas(): ArtifactSchema[] {
  return [...registry.values()];
}

// ---- smoke: the template experiment -------------------------------------------------

export const SMOKE_TABLE = define('smoke.table', 1, 'seeded input rows: x ~ N(0, 1)', {
  id: 'int32',
  x: 'vector<float32>',
});

export const SMOKE_TRANSFORMED = define('smoke.transformed', 1, 'rows after the ONNX MLP: y = tanh(x W1 + b1) W2 + b2', {
  id: 'int32',
  y: 'vector<float32>',
});

export const SMOKE_CHUNK = define('smoke.chunk', 1, 'a run of consecutive rows (inputs or outputs of a stage), written per batch so a retried stage resumes', {
  id: 'int32',
  y: 'vector<float32>',
});

export const SMOKE_SUMMARY = define('smoke.summary', 1, 'per output dimension: mean, standard deviation, min, max over all rows', {
  dim: 'int32',
  mean: 'float64',
  std: 'float64',
  min: 'float64',
  max: 'float64',
});

// ---- platform benchmark ---------------------------------------------------------------

export const EMBEDDINGS = define('embeddings', 1, 'one float32 vector per row', {
  id: 'int32',
  embedding: 'vector<float32>',
});

// ---- models -----------------------------------------------------------------------------

export const MODEL_HEAD = define('model.head', 1, 'output head of a policy: logits z = W h + b; row v of W is token v (bias 0 when the model has none)', {
  token: 'int32',
  w: 'vector<float32>',
  b: 'float32',
});

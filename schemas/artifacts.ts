/**
 * Every artifact kind, with a version. An artifact's Arrow schema carries `dlab.schema =
 * name@version`; the store refuses to write a table whose columns do not match its kind.
 * Bump the version when a column changes meaning or type; readers check it.
 */
export type ColumnKind = 'int32' | 'float32' | 'float64' | 'utf8' | 'uint8' | 'vector<float32>' | 'list<int32>' | 'list<float32>';

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

// ---- In-Context RLVR ----------------------------------------------------------------------

export const ICRLVR_QUESTIONS = define('icrlvr.questions', 1, 'questions with reference answers (and expert solutions where known); split: train | heldout', {
  id: 'utf8',
  question: 'utf8',
  answer: 'utf8',
  solution: 'utf8',
  split: 'utf8',
});

export const ICRLVR_DEMOS = define('icrlvr.demos', 1, 'demonstration pool D = {(q_D, y_D)}: expert solutions, disjoint from the training questions', {
  id: 'utf8',
  question: 'utf8',
  solution: 'utf8',
});

export const POLICY_CHECKPOINT = define('policy.checkpoint', 1, 'head W [V,d], b [V] and its AdamW moments; optimizer step in the lineage extra', {
  token: 'int32',
  w: 'vector<float32>',
  b: 'float32',
  m_w: 'vector<float32>',
  v_w: 'vector<float32>',
  m_b: 'float32',
  v_b: 'float32',
});

export const ICRLVR_ROLLOUTS = define('icrlvr.rollouts', 1, 'sampled completions, one row per rollout, with per-token log-probs under the sampling policy (π_old)', {
  step: 'int32',
  round: 'int32',
  question_id: 'utf8',
  group_index: 'int32',
  demo_id: 'utf8',
  prompt_hash: 'utf8',
  prompt: 'utf8',
  completion: 'utf8',
  tokens: 'list<int32>',
  logprobs: 'list<float32>',
  stream: 'int32',
});

export const ICRLVR_SCORED = define('icrlvr.scored', 1, 'the audit record of each rollout: reward, process score, Evidence Gain per demo and mean, advantage, kept/dropped', {
  step: 'int32',
  round: 'int32',
  question_id: 'utf8',
  group_index: 'int32',
  demo_id: 'utf8',
  prompt_hash: 'utf8',
  prompt: 'utf8',
  completion: 'utf8',
  tokens: 'list<int32>',
  logprobs: 'list<float32>',
  logprob_sum: 'float64',
  logprob_mean: 'float64',
  reward: 'float64',
  process_score: 'float64',
  eg_demo_ids: 'utf8',
  eg: 'list<float32>',
  eg_mean: 'float64',
  eg_token_mean: 'float64',
  advantage: 'float64',
  kept: 'uint8',
});

export const ICRLVR_EVAL = define('icrlvr.eval', 1, 'held-out evaluation: per question, k samples at the eval temperature', {
  step: 'int32',
  question_id: 'utf8',
  samples: 'int32',
  correct: 'int32',
  process_score_correct: 'float64',
});

export const ICRLVR_COMPARISON = define('icrlvr.comparison', 1, 'a sweep: one row per mode, seed and evaluation step', {
  mode: 'utf8',
  seed: 'int32',
  step: 'int32',
  avg_at_k: 'float64',
  pass_at_k: 'float64',
  process_score_correct: 'float64',
  eg_correct: 'float64',
  eg_incorrect: 'float64',
  reward_mean: 'float64',
});

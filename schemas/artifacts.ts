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

const HEAD_COLUMNS: Record<string, ColumnKind> = { token: 'int32', w: 'vector<float32>', b: 'float32' };

export const MODEL_HEAD = define('model.head', 1, 'output head of a policy: logits z = W h + b; row v of W is token v (bias 0 when the model has none)', HEAD_COLUMNS);

export const MODEL_PRETRAIN_CHECKPOINT = define('model.pretrain-checkpoint', 1, 'a pretraining checkpoint of the whole GPT: one row per weight array (lib/model/gpt-weights.ts order) with its AdamW moments; step, batch sampler state and losses so far in the lineage extra', {
  name: 'utf8',
  w: 'list<float32>',
  m: 'list<float32>',
  v: 'list<float32>',
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
  ...HEAD_COLUMNS,
  m_w: 'vector<float32>',
  v_w: 'vector<float32>',
  m_b: 'float32',
  v_b: 'float32',
});

export const POLICY_FULL_CHECKPOINT = define('policy.full-checkpoint', 1, 'every weight of the project\'s GPT (trainable "full"): one row per weight array (lib/model/gpt-weights.ts order) with its AdamW moments; optimizer step in the lineage extra', {
  name: 'utf8',
  w: 'list<float32>',
  m: 'list<float32>',
  v: 'list<float32>',
});

/** What every rollout row carries (rollouts and their scored audit records). */
const ROLLOUT_COLUMNS: Record<string, ColumnKind> = {
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
};

export const ICRLVR_ROLLOUTS = define('icrlvr.rollouts', 1, 'sampled completions, one row per rollout, with per-token log-probs under the sampling policy (π_old)', {
  ...ROLLOUT_COLUMNS,
  stream: 'int32',
});

const SCORED_COLUMNS = {
  ...ROLLOUT_COLUMNS,
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
} as const;

/** Version 1, still read (its rows' outcome is derived from reward and process score). */
export const ICRLVR_SCORED_V1 = define('icrlvr.scored', 1, 'the audit record of each rollout: reward, process score, Evidence Gain per demo and mean, advantage, kept/dropped', SCORED_COLUMNS);

export const ICRLVR_SCORED = define('icrlvr.scored', 2, 'the audit record of each rollout: reward, process score, Evidence Gain per demo and mean, advantage, kept/dropped, outcome (sound | lucky | incorrect | unchecked: lib/icrlvr/outcome.ts)', {
  ...SCORED_COLUMNS,
  outcome: 'utf8',
});

const EVAL_COLUMNS = {
  step: 'int32',
  question_id: 'utf8',
  samples: 'int32',
  correct: 'int32',
  process_score_correct: 'float64',
} as const;

/** Version 1, still read (no lucky column). */
export const ICRLVR_EVAL_V1 = define('icrlvr.eval', 1, 'held-out evaluation: per question, k samples at the eval temperature', EVAL_COLUMNS);

export const ICRLVR_EVAL = define('icrlvr.eval', 2, 'held-out evaluation: per question, k samples at the eval temperature; lucky = right answers with a wrong or missing step', {
  ...EVAL_COLUMNS,
  lucky: 'int32',
});

const COMPARISON_COLUMNS = {
  mode: 'utf8',
  seed: 'int32',
  step: 'int32',
  avg_at_k: 'float64',
  pass_at_k: 'float64',
  process_score_correct: 'float64',
  eg_correct: 'float64',
  eg_incorrect: 'float64',
  reward_mean: 'float64',
} as const;

/** Version 1, still read. */
export const ICRLVR_COMPARISON_V1 = define('icrlvr.comparison', 1, 'a sweep: one row per mode, seed and evaluation step', COMPARISON_COLUMNS);

const LUCK_COLUMNS: Record<string, ColumnKind> = {
  lucky_share_correct: 'float64',
  held_out_lucky_share_correct: 'float64',
  eg_sound: 'float64',
  eg_lucky: 'float64',
  eg_luck_auc: 'float64',
};

export const ICRLVR_COMPARISON_V2 = define('icrlvr.comparison', 2, 'a sweep: one row per mode, seed and evaluation step; with the shares of right answers reached by luck (training, held-out) and Evidence Gain of sound vs lucky correct rollouts', {
  ...COMPARISON_COLUMNS,
  ...LUCK_COLUMNS,
});

export const ICRLVR_COMPARISON = define('icrlvr.comparison', 3, 'icrlvr.comparison@2 with the run\'s arm (its name; empty in sweeps without arms) after the mode', {
  mode: 'utf8',
  arm: 'utf8',
  ...Object.fromEntries(Object.entries(COMPARISON_COLUMNS).filter(([k]) => k !== 'mode')),
  ...LUCK_COLUMNS,
});

// ---- GORACS coreset selection -------------------------------------------------------------

export const GORACS_SAMPLES = define('goracs.samples', 1, 'the samples of a run in a fixed order: prompt (history as item tokens) → target (next item); split pool | validation | test; label −1 when none', {
  id: 'utf8',
  prompt: 'utf8',
  target: 'utf8',
  split: 'utf8',
  label: 'int32',
});

const EMBEDDING_COLUMNS: Record<string, ColumnKind> = { index: 'int32', id: 'utf8', split: 'utf8', label: 'int32', e: 'vector<float32>', g: 'float64' };

export const GORACS_EMBEDDINGS = define('goracs.embeddings', 1, 'gradient embedding per sample: e = mean-pooled final hidden state of the prompt, g = ‖G‖ of the mean-token head gradient; index = row in goracs.samples', EMBEDDING_COLUMNS);

export const GORACS_EMBEDDINGS_PROJECTED = define('goracs.embeddings-projected', 1, 'goracs.embeddings plus pg = seeded JL projection of vec(G) (kA·kH dims)', {
  ...EMBEDDING_COLUMNS,
  pg: 'vector<float32>',
});

export const GORACS_COST = define('goracs.cost', 1, 'cost summary: C = minmax(d/maxDist − λ g/maxGrad) with x = d/maxDist − λĝ ∈ [min, max] before rescaling; one row', {
  cost: 'utf8',
  lambda: 'float64',
  max_dist: 'float64',
  max_grad: 'float64',
  min: 'float64',
  max: 'float64',
  n_pool: 'int32',
  n_val: 'int32',
});

export const GORACS_CORESET = define('goracs.coreset', 1, 'a selection S: pool row index, sample id, w = share of validation columns whose cheapest selected row it is, F = dual score under POO(S), iteration it entered S (0 = initial)', {
  index: 'int32',
  id: 'utf8',
  w: 'float64',
  F: 'float64',
  selected_at_iter: 'int32',
});

export const GORACS_POO_TRACE = define('goracs.poo-trace', 1, 'refinement: one row per accepted swap (iter 0 = the greedy start); swap_out/swap_in pool rows (−1 at iter 0); solver pivots; position of the accepted swap among the candidates', {
  iter: 'int32',
  poo: 'float64',
  swap_out: 'int32',
  swap_in: 'int32',
  solver_iters: 'int32',
  candidates_tried: 'int32',
});

export const GORACS_EVAL = define('goracs.eval', 1, 'evaluation: head fine-tuned on each method\'s subset; next-item ranking among sampled negatives on the test split', {
  method: 'utf8',
  budget: 'int32',
  metric: 'utf8',
  value: 'float64',
  seed: 'int32',
});

import type { Rng } from '../rng';

/**
 * In-context demonstrations — docs/icrlvr.md, "Step 1 — rollout" (rollout prompts) and "Step 2 — scoring"
 * (Evidence Gain prompts).
 *
 * A template has three placeholders: {q_D} and {y_D} (the demonstration's question and
 * solution, "Example 1") and {q} (the question to solve). Every prompt kind is one fill
 * of the same template, so they stay consistent:
 *
 *   kind                              {q_D}   {y_D}   {q}    scored continuation
 *   renderPrompt(q, D)                q_D     y_D     q      rollout o
 *   renderPrompt(q, null)             — template tail from {q} —  rollout o
 *   renderEvidencePrompt(q, o, q_D)   q       o       q_D    y_D:  log π(y_D | [q, o], q_D)
 *   renderBaselinePrompt(q_D)         — template tail from {q}, {q}:=q_D —  y_D:  log π(y_D | q_D)
 *   renderQuestionBaselinePrompt(q, q_D)  q   ""      q_D    y_D   (egBaseline "question")
 *
 * "Template tail from {q}": a prompt without a demonstration is the part of the template
 * that starts at {q} (the header and example are dropped), so demo and no-demo prompts
 * end identically. Substitution is one pass: text inside a filled value is never
 * re-expanded, and `$` in values is literal.
 */

/** The spec's template (the paper's recipe). */
export const DEFAULT_TEMPLATE =
  'Below are solutions from other solvers.\n\nExample 1:\nQuery: {q_D}\nAnswer: {y_D}\n\nNow solve this problem:\n{q}';

/**
 * For char-level toy models with a short context: question line, solution, blank line,
 * question line. The trailing "\n" makes the completion start where a demo's y_D starts
 * (for the arithmetic task, "27+58=\n" → "7+8=15\n2+5+1=8\nAnswer: 85"). No-demo prompt: "{q}\n".
 */
export const COMPACT_TEMPLATE = '{q_D}\n{y_D}\n\n{q}\n';

/** Templates by the name a config uses. */
export const PROMPT_TEMPLATES: Readonly<Record<'default' | 'compact', string>> = { default: DEFAULT_TEMPLATE, compact: COMPACT_TEMPLATE };

/**
 * Demonstration slots of one rollout group: Int32Array(groupSize) whose first
 * `demosPerGroup` (m) entries are m distinct indices into a pool of `poolSize`, drawn
 * uniformly without replacement (partial Fisher–Yates), and whose other G − m entries are −1
 * (no demonstration). Consumes exactly m draws of rng.int.
 */
export function pickDemos(poolSize: number, groupSize: number, demosPerGroup: number, rng: Rng): Int32Array {
  const m = demosPerGroup;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`pickDemos: groupSize must be a positive integer, found ${groupSize}`);
  if (!Number.isInteger(m) || m < 0 || m > groupSize) throw new RangeError(`pickDemos: demosPerGroup must be an integer in [0, groupSize = ${groupSize}], found ${m}`);
  if (!Number.isInteger(poolSize) || poolSize < m) throw new RangeError(`pickDemos: the pool must hold at least demosPerGroup = ${m} demonstrations, found ${poolSize}`);
  const out = new Int32Array(groupSize).fill(-1);
  // virtual array a[i] = i, with swapped entries kept in a map: O(m) time and memory
  const swapped = new Map<number, number>();
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(poolSize - i);
    const aj = swapped.get(j) ?? j;
    const ai = swapped.get(i) ?? i;
    swapped.set(j, ai);
    out[i] = aj;
  }
  return out;
}

/** A rollout prompt: the template with demonstration D = (q_D, y_D), or its tail from {q} when D is null. */
export function renderPrompt(question: string, demo: { question: string; solution: string } | null, template: string = DEFAULT_TEMPLATE): string {
  checkTemplate(template);
  if (demo === null) return fill(template.slice(template.indexOf('{q}')), '', '', question);
  return fill(template, demo.question, demo.solution, question);
}

/** EG numerator prompt: [q, o] as Example 1, then q_D; the scorer appends y_D and sums its log-probs. */
export function renderEvidencePrompt(question: string, rollout: string, demoQuestion: string, template: string = DEFAULT_TEMPLATE): string {
  checkTemplate(template);
  return fill(template, question, rollout, demoQuestion);
}

/** EG baseline prompt (default egBaseline "demo"): q_D alone, i.e. renderPrompt(q_D, null). */
export function renderBaselinePrompt(demoQuestion: string, template: string = DEFAULT_TEMPLATE): string {
  return renderPrompt(demoQuestion, null, template);
}

/** EG baseline prompt for egBaseline "question": q as Example 1 with an empty answer, then q_D. */
export function renderQuestionBaselinePrompt(question: string, demoQuestion: string, template: string = DEFAULT_TEMPLATE): string {
  checkTemplate(template);
  return fill(template, question, '', demoQuestion);
}

function checkTemplate(template: string): void {
  for (const p of ['{q_D}', '{y_D}', '{q}']) {
    if (!template.includes(p)) throw new RangeError(`prompt template must contain ${p}, found ${JSON.stringify(template)}`);
  }
  const q = template.indexOf('{q}');
  if (q !== template.lastIndexOf('{q}')) throw new RangeError(`prompt template must contain {q} once, found ${JSON.stringify(template)}`);
  if (q < template.indexOf('{y_D}') || q < template.indexOf('{q_D}')) {
    throw new RangeError(`prompt template must place {q} after {q_D} and {y_D}, found ${JSON.stringify(template)}`);
  }
}

function fill(template: string, qD: string, yD: string, q: string): string {
  return template.replace(/\{(q_D|y_D|q)\}/g, (_m, name: string) => (name === 'q_D' ? qD : name === 'y_D' ? yD : q));
}

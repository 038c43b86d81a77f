import type { Rng } from '../rng';

/**
 * The built-in verifiable task with checkable steps — docs/icrlvr.md, "Tasks":
 * multi-digit addition by the written column procedure.
 *
 * Procedure text (short on purpose: a char-level toy model writes it). One line per
 * column, right to left; each line adds that column's digits (0 where an operand is
 * shorter), then `+c` when a carry c > 0 comes in, and writes the column sum in full —
 * its last digit is the answer digit, the rest is the carry into the next column. The
 * last line is `Answer: <sum>`. For 27+58= :
 *   7+8=15
 *   2+5+1=8
 *   Answer: 85
 * and for 95+7= : "5+7=12\n9+0+1=10\nAnswer: 102" (the last column's sum is written whole).
 * `steps` are the column lines (not the Answer line); the process score checks them.
 */

/** `digits`: max digits per operand; `minDigits` (default 1) its min; `operands` default 2. */
export interface ArithmeticConfig {
  op: 'add';
  digits: number;
  minDigits?: number;
  operands?: number;
}

export interface Problem {
  id: string;
  /** e.g. "27+58=" */
  question: string;
  /** e.g. "85" */
  answer: string;
  /** the expert procedure: the steps, one per line, then "Answer: 85" */
  solution: string;
  /** the expected step lines, e.g. ["7+8=15", "2+5+1=8"] */
  steps: string[];
}

/**
 * The column procedure for operands given as decimal digit strings (no sign, no leading
 * zeros except "0"): steps, the answer, and solution = steps + "Answer: <answer>" joined by
 * "\n". Works on digits, so any length is exact.
 */
export function additionProcedure(operands: string[]): { steps: string[]; answer: string; solution: string } {
  if (operands.length < 1) throw new RangeError('additionProcedure: at least one operand expected, found none');
  for (const [i, a] of operands.entries()) {
    if (!/^(0|[1-9]\d*)$/.test(a)) throw new RangeError(`additionProcedure: operand ${i} must be a non-negative integer without leading zeros, found "${a}"`);
  }
  let columns = 0;
  for (const a of operands) columns = Math.max(columns, a.length);
  const steps: string[] = [];
  let answerDigits = '';
  let carry = 0;
  for (let j = 0; j < columns; j++) {
    let sum = carry;
    const terms: string[] = [];
    for (const a of operands) {
      const digit = j < a.length ? a.charCodeAt(a.length - 1 - j) - 48 : 0;
      terms.push(String(digit));
      sum += digit;
    }
    if (carry > 0) terms.push(String(carry));
    steps.push(`${terms.join('+')}=${sum}`);
    if (j === columns - 1) answerDigits = String(sum) + answerDigits;
    else answerDigits = String(sum % 10) + answerDigits;
    carry = Math.floor(sum / 10);
  }
  return { steps, answer: answerDigits, solution: `${steps.join('\n')}\nAnswer: ${answerDigits}` };
}

/** The Problem for `a+b+…=` with the given id. */
export function additionProblem(operands: string[], id: string): Problem {
  const { steps, answer, solution } = additionProcedure(operands);
  return { id, question: `${operands.join('+')}=`, answer, solution, steps };
}

/** Operands of a question written as "27+58=" (inverse of `additionProblem`'s question). */
export function parseAdditionQuestion(question: string): string[] {
  const m = /^\s*((?:0|[1-9]\d*)(?:\+(?:0|[1-9]\d*))+)=\s*$/.exec(question);
  if (m === null) throw new RangeError(`parseAdditionQuestion: expected "a+b=" with non-negative integers, found "${question}"`);
  return m[1].split('+');
}

/**
 * `count` distinct addition problems (distinct questions; none in `exclude`, e.g. the
 * training questions when drawing a demo pool), ids `${idPrefix}${i}`, i = 0..count−1.
 * Each operand: a digit count uniform in [minDigits, digits], then a uniform number with
 * that many digits (leading digit ≠ 0 unless one digit). Deterministic given rng's state.
 * Throws when count exceeds the number of distinct questions or sampling stalls.
 */
export function makeProblems(cfg: ArithmeticConfig, count: number, rng: Rng, idPrefix: string, exclude?: ReadonlySet<string>): Problem[] {
  const minDigits = cfg.minDigits ?? 1;
  const operands = cfg.operands ?? 2;
  if (cfg.op !== 'add') throw new RangeError(`makeProblems: op must be 'add', found '${String(cfg.op)}'`);
  if (!Number.isInteger(cfg.digits) || cfg.digits < 1) throw new RangeError(`makeProblems: digits must be an integer ≥ 1, found ${cfg.digits}`);
  if (!Number.isInteger(minDigits) || minDigits < 1 || minDigits > cfg.digits) {
    throw new RangeError(`makeProblems: minDigits must be an integer in [1, digits = ${cfg.digits}], found ${minDigits}`);
  }
  if (!Number.isInteger(operands) || operands < 2) throw new RangeError(`makeProblems: operands must be an integer ≥ 2, found ${operands}`);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`makeProblems: count must be an integer ≥ 0, found ${count}`);
  let perOperand = 0;
  for (let d = minDigits; d <= cfg.digits; d++) perOperand += d === 1 ? 10 : 9 * 10 ** (d - 1);
  const space = perOperand ** operands;
  if (count > space) {
    throw new RangeError(`makeProblems: ${count} distinct problems requested but digits ${minDigits}..${cfg.digits} with ${operands} operands allow only ${space}`);
  }
  const seen = new Set<string>();
  const out: Problem[] = [];
  const maxAttempts = 50 * count + 10000;
  for (let attempt = 0; out.length < count; attempt++) {
    if (attempt >= maxAttempts) {
      throw new RangeError(`makeProblems: found only ${out.length} of ${count} distinct problems in ${maxAttempts} draws (space ${space}); raise digits`);
    }
    const ops: string[] = [];
    for (let i = 0; i < operands; i++) ops.push(randomNumber(minDigits + rng.int(cfg.digits - minDigits + 1), rng));
    const question = `${ops.join('+')}=`;
    if (seen.has(question) || exclude?.has(question) === true) continue;
    seen.add(question);
    out.push(additionProblem(ops, `${idPrefix}${out.length}`));
  }
  return out;
}

function randomNumber(digits: number, rng: Rng): string {
  if (digits === 1) return String(rng.int(10));
  let s = String(1 + rng.int(9));
  for (let i = 1; i < digits; i++) s += String(rng.int(10));
  return s;
}

/**
 * Process score ∈ [0, 1]: the fraction of the problem's k expected steps that the
 * completion writes correctly and in order,
 *   score = LCS(lines, steps) / k,
 * where `lines` are the completion's lines with all whitespace removed (empty lines
 * dropped), a line matches a step only when equal to it, and LCS is the longest common
 * subsequence (extra or repeated lines neither help nor hurt). All steps right → 1; one
 * wrong column line → (k−1)/k; a right answer after wrong steps → < 1; empty → 0.
 */
export function processScore(problem: Problem, completion: string): number {
  const steps = problem.steps;
  const k = steps.length;
  if (k === 0) throw new RangeError(`processScore: problem ${problem.id} has no steps`);
  const lines: string[] = [];
  for (const raw of completion.split('\n')) {
    const line = raw.replace(/\s+/g, '');
    if (line.length > 0) lines.push(line);
  }
  // LCS by dynamic programming over one row: prev[j] = LCS(lines[0..i), steps[0..j))
  let prev = new Int32Array(k + 1);
  let cur = new Int32Array(k + 1);
  for (let i = 0; i < lines.length; i++) {
    for (let j = 1; j <= k; j++) {
      cur[j] = lines[i] === steps[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev[k] / k;
}

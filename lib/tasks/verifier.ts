/**
 * Verifiable reward r ∈ {0, 1} — docs/icrlvr.md, "Step 2 — scoring".
 *
 * r = 1 iff normalizeAnswer(extractAnswer(completion)) = normalizeAnswer(reference);
 * an unparseable completion scores 0.
 */

const ANSWER_TAG = 'Answer:';
const BOXED = '\\boxed{';

/**
 * The final answer of a completion, or null:
 *  1. after the LAST `Answer:` — the rest of that line, trimmed (a `\boxed{…}` on that line
 *     is unwrapped); null when that rest is blank;
 *  2. else the content of the LAST `\boxed{…}`, braces balanced (`\boxed{\frac{1}{2}}` →
 *     `\frac{1}{2}`); null when its braces never close;
 *  3. else null.
 * `Answer:` is matched case-sensitively: the expert procedures and the prompt template
 * write exactly `Answer:`, so "answer: 5" is not an answer (reward 0).
 */
export function extractAnswer(text: string): string | null {
  const tag = text.lastIndexOf(ANSWER_TAG);
  if (tag >= 0) {
    const rest = text.slice(tag + ANSWER_TAG.length);
    const eol = rest.indexOf('\n');
    const line = (eol >= 0 ? rest.slice(0, eol) : rest).trim();
    if (line.length === 0) return null;
    if (line.includes(BOXED)) return lastBoxed(line) ?? line;
    return line;
  }
  return lastBoxed(text);
}

/** Content of the last `\boxed{…}` with balanced braces, null when absent or unclosed. */
function lastBoxed(text: string): string | null {
  const at = text.lastIndexOf(BOXED);
  if (at < 0) return null;
  const start = at + BOXED.length;
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0) return text.slice(start, i).trim();
    }
  }
  return null;
}

/**
 * Canonical form of an answer string, applied in this order:
 *   remove all whitespace; strip surrounding `$` and trailing `.` (repeatedly);
 *   drop thousands separators (a comma between a digit and exactly three digits:
 *   "1,234,567" → "1234567", "1,2" is kept); drop a leading `+`;
 *   a decimal loses trailing zeros and a bare point ("12.0" → "12", "12.50" → "12.5");
 *   "-0" → "0". A leading `-` is kept.
 */
export function normalizeAnswer(s: string): string {
  let x = s.replace(/\s+/g, '');
  let prev = '';
  while (prev !== x) {
    prev = x;
    x = x.replace(/^\$+|\$+$/g, '').replace(/\.+$/, '');
  }
  x = x.replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
  x = x.replace(/^\+(?=[\d.])/, '');
  if (/^-?\d*\.\d+$/.test(x)) {
    x = x.replace(/0+$/, '').replace(/\.$/, '');
    if (x === '' || x === '-') x = '0'; // ".0", "-.00"
  }
  if (x === '-0') x = '0';
  return x;
}

/** r = 1 when the completion's extracted answer equals the reference after normalisation, else 0. */
export function verifyAnswer(text: string, reference: string): 0 | 1 {
  const got = extractAnswer(text);
  if (got === null) return 0;
  const g = normalizeAnswer(got);
  return g.length > 0 && g === normalizeAnswer(reference) ? 1 : 0;
}

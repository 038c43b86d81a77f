import { DlabInputError } from '../errors';
import type { RecSample } from './rec-synth';
import type { RecRecord } from './rec-records';

/**
 * Text form of recommendation samples for the project's models. Item i is the token
 * `<item_i>` (one token of the builtin tokenizer when it is built with `items` ≥ i + 1).
 * The prompt is the history's item tokens concatenated, oldest first, with no separators
 * or words — `<item_3><item_17><item_5>` — and the target is the next item's token; the
 * model scores a candidate item by the log-probability of its token after the prompt.
 */
export function renderRecPrompt(history: Int32Array): string {
  let s = '';
  for (let t = 0; t < history.length; t++) s += renderItem(history[t]);
  return s;
}

/** `<item_i>` for an item index i ≥ 0. */
export function renderItem(i: number): string {
  if (!Number.isInteger(i) || i < 0) throw new DlabInputError(`renderItem: item must be an integer >= 0, found ${i}`);
  return `<item_${i}>`;
}

/** Synthetic samples as user-data records {id, prompt, target, split} (no label: next-item task). */
export function recTextRecords(samples: RecSample[]): RecRecord[] {
  return samples.map((s) => ({ id: s.id, prompt: renderRecPrompt(s.history), target: renderItem(s.next), split: s.split }));
}

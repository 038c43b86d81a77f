import type { LmSequence } from '../model/gpt-train';
import type { Tokenizer } from '../model/tokenizer';
import { renderPrompt } from '../tasks/demos';
import type { TaskData } from './data';

/**
 * The pretraining corpus of the toy policy (config `pretrain`): what a pretrained LM would
 * bring to the task, and nothing of the training or held-out questions' solutions.
 *   facts  — every column fact of the written procedure, "a+b=s" and "a+b+1=s" for digits
 *            a, b (the "+1" a carry), in plain form, loss on "s" + eos;
 *   traces — the demonstration pool's expert solutions after their question, alone
 *            ("q_D\n" → y_D + eos) and after another demonstration in the rollout template
 *            (so demo-prefixed prompts are familiar), loss on the solution + eos;
 *   memorised — with `memorised` f > 0, the sums of the first ⌈f · |train|⌉ training questions
 *            as plain facts ("27+45=" → "72" + eos), no steps: answers a pretrained LM may know
 *            by heart while its written procedure is shaky, so that some rollouts reach the
 *            right answer through a wrong or missing step (correct-by-luck, docs/icrlvr.md).
 * Every sequence starts with bos. Deterministic: fixed orders, no RNG.
 */
export function pretrainCorpus(data: TaskData, tokenizer: Tokenizer, template: string, opts: { memorised?: number } = {}): LmSequence[] {
  if (tokenizer.bosId === undefined) throw new RangeError('pretrainCorpus: the tokenizer has no bos token');
  const bos = tokenizer.bosId;
  const eos = tokenizer.eosId;
  const seq = (prompt: string, target: string): LmSequence => {
    const p = tokenizer.encode(prompt);
    const t = [...tokenizer.encode(target), eos];
    return { tokens: [bos, ...p, ...t], lossMask: [0, ...p.map(() => 0), ...t.map(() => 1)] };
  };
  const out: LmSequence[] = [];
  for (const carry of [0, 1]) {
    for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) out.push(seq(carry ? `${a}+${b}+1=` : `${a}+${b}=`, String(a + b + carry)));
  }
  data.demos.forEach((D, i) => {
    out.push(seq(renderPrompt(D.question, null, template), D.solution));
    if (data.demos.length > 1) out.push(seq(renderPrompt(D.question, data.demos[(i + 1) % data.demos.length], template), D.solution));
  });
  const m = Math.ceil((opts.memorised ?? 0) * data.train.length);
  for (const q of data.train.slice(0, m)) out.push(seq(q.question, q.answer));
  return out;
}


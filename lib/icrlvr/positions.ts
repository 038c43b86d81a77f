import type { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { DlabInputError } from '../errors';
import type { PromptFormat } from '../model/prompt';
import { renderEvidencePrompt, renderPrompt } from '../tasks/demos';
import type { TaskData } from './data';
import { template } from './engine';

/**
 * Every sequence a run will feed the model fits its positions, checked before the run starts:
 *   rollout   prompt(renderPrompt(q, D))                       + maxTokens   (D: each demo, icrlvr mode)
 *   held-out  prompt(renderPrompt(q_heldout, none))            + maxTokens
 *   EG        renderEvidencePrompt(q, o, q_D) ‖ y_D with |o| ≤ maxTokens   (every mode scores EG)
 *   warm start renderPrompt(q, none) ‖ solution + eos
 * prompt(·) is the prompt's ids as the run writes them (special tokens or chat template:
 * PromptFormat); a prompt and its target are counted as encoded together, the completion's
 * maxTokens added (a bound). `maxPos` null (unknown) checks nothing. Checks the longest
 * question against every demonstration, and every question against the longest one: O(Q + D)
 * encodings. Throws DlabInputError naming the question, the demonstration and the fields.
 */
export function checkPositions(prompts: PromptFormat, maxPos: number | null, data: TaskData, cfg: IcrlvrConfig, positionsField: string): void {
  if (maxPos === null) return;
  const len = (s: string) => prompts.encode(s).length;
  const pair = (s: string, t: string) => {
    const c = prompts.continuation(s, t);
    return c.context.length + c.target.length;
  };
  const tpl = template(cfg);
  const refuse = (what: string, n: number, fix: string) => {
    throw new DlabInputError(`${what}: ${n} tokens, but the model has ${maxPos} positions (${positionsField}); ${fix}`, 'maxTokens');
  };
  const longest = <T>(xs: T[], size: (x: T) => number): T | undefined => xs.reduce<{ x?: T; n: number }>((m, x) => (size(x) > m.n ? { x, n: size(x) } : m), { n: -1 }).x;
  const qLong = longest(data.train, (q) => len(q.question));
  const useDemos = cfg.mode === 'icrlvr' && cfg.demosPerGroup > 0 && data.demos.length > 0;
  const dLong = longest(data.demos, (d) => len(d.question) + len(d.solution));
  for (const q of data.train) {
    const demo = useDemos ? dLong! : null;
    const n = len(renderPrompt(q.question, demo, tpl)) + cfg.maxTokens;
    if (n > maxPos) refuse(`rollout prompt of question ${q.id}${demo ? ` with demonstration ${demo.id}` : ''} + maxTokens ${cfg.maxTokens}`, n, 'lower maxTokens, shorten the questions or demonstrations, or use a model with more positions');
  }
  if (qLong && useDemos) {
    for (const d of data.demos) {
      const n = len(renderPrompt(qLong.question, d, tpl)) + cfg.maxTokens;
      if (n > maxPos) refuse(`rollout prompt of question ${qLong.id} with demonstration ${d.id} + maxTokens ${cfg.maxTokens}`, n, 'lower maxTokens, shorten the demonstrations, or use a model with more positions');
    }
  }
  for (const q of data.heldOut) {
    const n = len(renderPrompt(q.question, null, tpl)) + cfg.maxTokens;
    if (n > maxPos) refuse(`held-out prompt of question ${q.id} + maxTokens ${cfg.maxTokens}`, n, 'lower maxTokens or use a model with more positions');
  }
  if (qLong) {
    for (const d of data.demos) {
      const n = pair(renderEvidencePrompt(qLong.question, '', d.question, tpl), d.solution) + cfg.maxTokens;
      if (n > maxPos) refuse(`Evidence Gain context of question ${qLong.id}, a completion of maxTokens ${cfg.maxTokens} and demonstration ${d.id}`, n, 'lower maxTokens, shorten the demonstrations, or use a model with more positions');
    }
  }
  if (cfg.warmStart) {
    for (const q of data.train) {
      const n = pair(renderPrompt(q.question, null, tpl), q.solution) + 1;
      if (n > maxPos) refuse(`warm-start trace of question ${q.id} (prompt + solution + eos)`, n, 'shorten its solution or use a model with more positions');
    }
  }
}


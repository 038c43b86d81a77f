import { Template } from '@huggingface/jinja';
import { DlabInputError } from '../errors';
import type { Tokenizer } from './tokenizer';
import { HuggingFaceTokenizer } from './tokenizers/huggingface';

/** A chat template (Jinja text, as a Hugging Face tokenizer_config.json holds it) and the special-token strings it may use. */
export interface ChatTemplate {
  text: string;
  /** where the text came from, for errors */
  source: string;
  /** bos_token, eos_token, … as strings */
  specialTokens: Record<string, string>;
}

/**
 * How a run's prompts become token ids, the way transformers does it:
 *
 *   plain   ids = promptPrefix ‖ encode(p) ‖ promptSuffix           `tokenizer(p)`
 *   chat    ids = encode(render(template, messages = [{role: "user", content: p}],
 *                        add_generation_prompt = true))               `apply_chat_template(…, tokenize=True)`
 *           (the template writes its own special tokens, so none are added around it)
 *
 * A target scored after a prompt (a continuation) is encoded together with it, as evaluation
 * harnesses do, so that a tokenizer that merges across the boundary (SentencePiece writes the
 * target "46" after "= " as "▁46") scores exactly the tokens of the full text:
 *
 *   text(p)  = p                   (plain)   | render(p) (chat: the target follows the rendered prompt)
 *   whole    = encode(text(p) ‖ t),  k = longest common prefix of encode(text(p)) and whole
 *   context  = prefix ‖ whole[0, k),  target = whole[k, |whole|)
 *
 * Σ log π(target | context) is then log π(full text) − log π(its first k tokens): what
 * transformers computes for the same text. When encode(p ‖ t) = encode(p) ‖ encode(t) (the
 * built-in tokenizer) this is the separate encoding.
 */
export class PromptFormat {
  private readonly template?: Template;

  constructor(
    readonly tokenizer: Tokenizer,
    readonly chat?: ChatTemplate,
  ) {
    if (chat) {
      try {
        this.template = new Template(chat.text);
      } catch (err) {
        throw new DlabInputError(`${chat.source}: the chat template does not parse (${(err as Error).message})`, chat.source);
      }
    }
  }

  /** The prompt's text as the model reads it (the chat template rendered around it, or as given). */
  text(prompt: string): string {
    if (!this.template) return prompt;
    try {
      return this.template.render({
        ...this.chat!.specialTokens,
        messages: [{ role: 'user', content: prompt }],
        add_generation_prompt: true,
      }); // the library defines raise_exception itself
    } catch (err) {
      throw new DlabInputError(`${this.chat!.source}: rendering the chat template failed (${(err as Error).message})`, this.chat!.source);
    }
  }

  /** the special ids put before every prompt (none with a chat template: it writes its own) */
  get prefix(): readonly number[] {
    return this.template ? [] : this.tokenizer.promptPrefix;
  }

  /** the special ids put after a generation prompt */
  get suffix(): readonly number[] {
    return this.template ? [] : this.tokenizer.promptSuffix;
  }

  /** A prompt's ids, for generation. */
  encode(prompt: string): number[] {
    return [...this.prefix, ...this.tokenizer.encode(this.text(prompt)), ...this.suffix];
  }

  /** A prompt and a target after it, encoded together (class comment). */
  continuation(prompt: string, target: string): { context: number[]; target: number[] } {
    const text = this.text(prompt);
    const alone = this.tokenizer.encode(text);
    const whole = this.tokenizer.encode(text + target);
    let k = 0;
    while (k < alone.length && k < whole.length && alone[k] === whole[k]) k++;
    return { context: [...this.prefix, ...whole.slice(0, k)], target: whole.slice(k) };
  }
}

/** How prompts are written for the model: `chatTemplate` renders each with the model's own chat template. */
export interface PromptOptions {
  chatTemplate?: boolean;
}

/**
 * The prompt format of a tokenizer: plain (`tokenizer(text)`), or with `chatTemplate` the
 * tokenizer's chat template (an error naming `where` when it has none).
 */
export function promptFormat(tokenizer: Tokenizer, opts: PromptOptions = {}, where = 'the model'): PromptFormat {
  if (!opts.chatTemplate) return new PromptFormat(tokenizer);
  const chat = tokenizer instanceof HuggingFaceTokenizer ? tokenizer.chatTemplate : undefined;
  if (!chat || !(tokenizer instanceof HuggingFaceTokenizer)) {
    throw new DlabInputError(`model.chatTemplate is true, but ${where} has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja)`, 'model.chatTemplate');
  }
  return new PromptFormat(tokenizer, { ...chat, specialTokens: tokenizer.specialTokens });
}


import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { PromptFormat, promptFormat } from '../../../lib/model/prompt';
import { BuiltinTokenizer } from '../../../lib/model/tokenizers/builtin';
import { HuggingFaceTokenizer } from '../../../lib/model/tokenizers/huggingface';
import { tempDir } from '../../helpers/tmp';
import { SENTENCEPIECE_LIKE } from '../../helpers/tokenizers';

describe('Hugging Face prompts as transformers encodes them (special tokens, end ids, continuations, chat templates)', () => {
  const tmp = tempDir('hf-prompts');
  after(() => tmp.cleanup());

  /** a tokenizer directory: tokenizer.json and the named side files */
  function export_(name: string, files: Record<string, unknown>, tokenizerJson: unknown = SENTENCEPIECE_LIKE): string {
    const dir = join(tmp.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), typeof v === 'string' ? v : JSON.stringify(v));
    return join(dir, 'tokenizer.json');
  }
  const llamaConfig = { tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, add_eos_token: false };

  it('a prompt gets the post-processor’s specials, as `tokenizer(text)`: <s> first (ids equal the library’s own encode with special tokens)', () => {
    for (const cls of ['LlamaTokenizerFast', 'PreTrainedTokenizerFast']) {
      const tok = HuggingFaceTokenizer.fromFile(export_(`sp-${cls}`, { 'tokenizer_config.json': { ...llamaConfig, tokenizer_class: cls } }));
      const prompts = new PromptFormat(tok);
      assert.deepEqual(prompts.encode('12+34='), [1, 17, 9, 19, 10]);
      const lib = new HfTokenizer(SENTENCEPIECE_LIKE as never, { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' } as never);
      assert.deepEqual(prompts.encode('12+34='), lib.encode('12+34=', { add_special_tokens: true }).ids);
      assert.equal(tok.bosId, 1);
    }
  });

  it('Llama-class add_bos_token / add_eos_token decide the specials (transformers rebuilds the post-processor from them)', () => {
    const noBos = HuggingFaceTokenizer.fromFile(export_('sp-nobos', { 'tokenizer_config.json': { ...llamaConfig, add_bos_token: false } }));
    assert.deepEqual(new PromptFormat(noBos).encode('12+34='), [17, 9, 19, 10]);
    const withEos = HuggingFaceTokenizer.fromFile(export_('sp-eos', { 'tokenizer_config.json': { ...llamaConfig, add_eos_token: true } }));
    const p = new PromptFormat(withEos);
    assert.deepEqual(p.encode('12+34='), [1, 17, 9, 19, 10, 2]);
    // a continuation scores the target's own tokens: the suffix the tokenizer appends is not part of it
    assert.deepEqual(p.continuation('12+34=', '46'), { context: [1, 17, 9, 19, 10], target: [15] });
  });

  it('a target is encoded together with its context: "46" after "12+34=" is "46" (15), not "▁46" (14) as on its own', () => {
    const tok = HuggingFaceTokenizer.fromFile(export_('sp-pair', { 'tokenizer_config.json': llamaConfig }));
    assert.deepEqual(tok.encode('46'), [14]);
    const p = new PromptFormat(tok);
    assert.deepEqual(p.continuation('12+34=', '46'), { context: [1, 17, 9, 19, 10], target: [15] });
    // the full text's ids are context ‖ target: what transformers scores for "12+34=46"
    assert.deepEqual([...p.continuation('12+34=', '46').context, ...p.continuation('12+34=', '46').target], p.encode('12+34=46'));
    // a space before the target belongs to it: "▁46" after "="
    assert.deepEqual(p.continuation('12+34=', ' 46').target, [14]);
  });

  it('the built-in tokenizer: a continuation is the separate encoding (<bos> + prompt, then target)', () => {
    const tok = new BuiltinTokenizer({ items: 3 });
    const p = promptFormat(tok);
    assert.deepEqual(p.continuation('ab=', '<item_2>'), { context: [1, ...tok.encode('ab=')], target: tok.encode('<item_2>') });
  });

  it('end ids: eos from tokenizer_config, further ones from generation_config.json (an id or a list); pad from generation_config when the tokenizer names none', () => {
    const tok = HuggingFaceTokenizer.fromFile(export_('sp-gen', { 'tokenizer_config.json': llamaConfig, 'generation_config.json': { eos_token_id: [22, 2], pad_token_id: 0 } }));
    assert.equal(tok.eosId, 2);
    assert.deepEqual(tok.stopIds, [2, 22]);
    assert.equal(tok.padId, 0);
    assert.equal(tok.decode([17, 22, 2]), '12'); // end ids are dropped from text
    // no tokenizer_config eos: generation_config's first id, then config.json's when there is no generation_config
    const genOnly = HuggingFaceTokenizer.fromFile(export_('sp-gen-only', { 'generation_config.json': { eos_token_id: 22 } }));
    assert.deepEqual([genOnly.eosId, [...genOnly.stopIds], genOnly.padId], [22, [22], 22]);
    const cfgOnly = HuggingFaceTokenizer.fromFile(export_('sp-cfg-only', { 'config.json': { eos_token_id: [2, 22], pad_token_id: null } }));
    assert.deepEqual([cfgOnly.eosId, [...cfgOnly.stopIds]], [2, [2, 22]]);
  });

  it('special_tokens_map.json’s token fields override tokenizer_config.json’s, as in transformers', () => {
    const tok = HuggingFaceTokenizer.fromFile(export_('sp-map', { 'tokenizer_config.json': { ...llamaConfig, eos_token: '<unk>' }, 'special_tokens_map.json': { eos_token: { content: '<|end|>' }, bos_token: '<s>' } }));
    assert.equal(tok.eosId, 22);
    assert.deepEqual(new PromptFormat(tok).encode('12'), [1, 17]);
  });

  it('a bad id in generation_config.json is refused naming the file and field', () => {
    assert.throws(() => HuggingFaceTokenizer.fromFile(export_('sp-bad-gen', { 'generation_config.json': { eos_token_id: [2, 999] } })), /generation_config\.json: field "eos_token_id": expected a token id in \[0, 23\)/);
  });

  it('chat template (tokenizer_config chat_template, rendered with @huggingface/jinja): the prompt as the template writes it, no specials added around it', () => {
    const template = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    const tok = HuggingFaceTokenizer.fromFile(export_('sp-chat', { 'tokenizer_config.json': { ...llamaConfig, chat_template: template } }));
    const p = promptFormat(tok, { chatTemplate: true });
    assert.equal(p.text('12+34='), '<s><|user|>12+34=<|end|><|assistant|>');
    const ids = p.encode('12+34=');
    assert.deepEqual(ids.slice(0, 2), [1, 20]); // <s> once (from the template), then <|user|>
    assert.equal(ids.filter((i) => i === 1).length, 1);
    assert.equal(ids[ids.length - 1], 21);
    assert.deepEqual(p.continuation('12+34=', '46').context, ids);
    // chat_template.jinja beside the tokenizer (newer exports), and the list form
    const fromFile = HuggingFaceTokenizer.fromFile(export_('sp-chat-file', { 'tokenizer_config.json': llamaConfig, 'chat_template.jinja': template }));
    assert.equal(promptFormat(fromFile, { chatTemplate: true }).text('x'), '<s><|user|>x<|end|><|assistant|>');
    const listed = HuggingFaceTokenizer.fromFile(export_('sp-chat-list', { 'tokenizer_config.json': { ...llamaConfig, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template }] } }));
    assert.equal(promptFormat(listed, { chatTemplate: true }).text('x'), '<s><|user|>x<|end|><|assistant|>');
    // without chatTemplate the same tokenizer writes plain prompts
    assert.deepEqual(promptFormat(tok).encode('12+34='), [1, 17, 9, 19, 10]);
  });

  it('chatTemplate on a model without one is refused, naming the field', () => {
    const tok = HuggingFaceTokenizer.fromFile(export_('sp-nochat', { 'tokenizer_config.json': llamaConfig }));
    assert.throws(() => promptFormat(tok, { chatTemplate: true }, 'models/x'), /model\.chatTemplate is true, but models\/x has no chat template/);
    assert.throws(() => promptFormat(new BuiltinTokenizer(), { chatTemplate: true }), /no chat template/);
  });
});

import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HuggingFaceTokenizer } from '../../../lib/model/tokenizers/huggingface';
import { tempDir } from '../../helpers/tmp';

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** WordLevel: one id per whitespace/punctuation-separated word. */
const WORD_LEVEL = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [special(0, '<pad>'), special(1, '<s>'), special(2, '</s>'), special(3, '<unk>')],
  normalizer: null,
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: { type: 'WordLevel', vocab: { '<pad>': 0, '<s>': 1, '</s>': 2, '<unk>': 3, the: 4, cat: 5, sat: 6, on: 7, mat: 8, '.': 9 }, unk_token: '<unk>' },
};

/**
 * GPT-2 style byte-level BPE ('Ġ' is the space byte). Merges by rank:
 * "hello" → he·l·l·o → he·ll·o → he·llo → hello (12); "Ġworld" → Ġw·o·r·l·d → Ġw·or·l·d → Ġwor·l·d (15 3 8).
 */
const BYTE_LEVEL_BPE = {
  version: '1.0',
  added_tokens: [special(0, '<|endoftext|>')],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab: { '<|endoftext|>': 0, h: 1, e: 2, l: 3, o: 4, Ġ: 5, w: 6, r: 7, d: 8, he: 9, ll: 10, llo: 11, hello: 12, Ġw: 13, or: 14, Ġwor: 15 },
    merges: ['h e', 'l l', 'll o', 'he llo', 'Ġ w', 'o r', 'Ġw or'],
  },
};

describe('HuggingFaceTokenizer', () => {
  const tmp = tempDir('hf-tokenizer');
  after(() => tmp.cleanup());

  /** writes tokenizer.json (and tokenizer_config.json when given) to a fresh subdirectory; returns the tokenizer.json path */
  function writeTokenizer(name: string, tokenizerJson: unknown, config?: unknown): string {
    const dir = join(tmp.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    if (config !== undefined) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    return join(dir, 'tokenizer.json');
  }

  it('WordLevel: encodes words to their vocabulary ids, unknown words to <unk>, adding no specials', () => {
    const tok = HuggingFaceTokenizer.fromFile(writeTokenizer('wl', WORD_LEVEL));
    assert.equal(tok.kind, 'huggingface');
    assert.equal(tok.vocabSize, 10);
    assert.deepEqual(tok.encode('the cat sat on the mat.'), [4, 5, 6, 7, 4, 8, 9]);
    assert.deepEqual(tok.encode('the dog'), [4, 3]);
    assert.deepEqual(tok.encode('<s>the</s>'), [1, 4, 2]); // special tokens written in the text are still recognised
  });

  it('WordLevel: decodes with specials dropped (the model has no decoder: words joined by spaces)', () => {
    const tok = HuggingFaceTokenizer.fromFile(writeTokenizer('wl-decode', WORD_LEVEL));
    assert.equal(tok.decode([1, 4, 5, 6, 2, 0, 0]), 'the cat sat');
    assert.equal(tok.decode(Int32Array.from([4, 8, 9])), 'the mat .'); // no clean-up of " ." by default
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([2, 0]), '');
  });

  it('takes pad and eos from tokenizer_config.json beside tokenizer.json (plain names or {content}); bos as a Llama-class tokenizer adds it', () => {
    const config = { bos_token: { content: '<s>', special: true }, eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', tokenizer_class: 'LlamaTokenizerFast' };
    const tok = HuggingFaceTokenizer.fromFile(writeTokenizer('wl-config', WORD_LEVEL, config));
    assert.deepEqual([tok.padId, tok.eosId, tok.bosId], [0, 2, 1]);
    assert.deepEqual(tok.promptPrefix, [1]);
    const noBos = HuggingFaceTokenizer.fromFile(writeTokenizer('wl-nobos', WORD_LEVEL, { ...config, add_bos_token: false }));
    assert.equal(noBos.bosId, undefined);
    assert.deepEqual(noBos.promptPrefix, []);
    // another class: the tokenizer.json post-processor decides, and this one has none (GPT-2 names a bos it never adds)
    const gpt2Like = HuggingFaceTokenizer.fromFile(writeTokenizer('wl-gpt2', WORD_LEVEL, { ...config, tokenizer_class: 'GPT2Tokenizer' }));
    assert.deepEqual([gpt2Like.promptPrefix, gpt2Like.bosId], [[], undefined]);
  });

  it('without a pad token pads with eos; without a config eos is a conventional special token', () => {
    const eosOnly = HuggingFaceTokenizer.fromFile(writeTokenizer('wl-eos', WORD_LEVEL, { eos_token: '</s>' }));
    assert.deepEqual([eosOnly.padId, eosOnly.eosId, eosOnly.bosId], [2, 2, undefined]);
    const bare = HuggingFaceTokenizer.fromFile(writeTokenizer('bpe', BYTE_LEVEL_BPE));
    assert.deepEqual([bare.padId, bare.eosId, bare.bosId], [0, 0, undefined]); // <|endoftext|>
  });

  it('byte-level BPE: applies merges by rank and decodes back to the text', () => {
    const tok = HuggingFaceTokenizer.fromFile(writeTokenizer('bpe-merges', BYTE_LEVEL_BPE));
    assert.equal(tok.vocabSize, 16);
    assert.deepEqual(tok.encode('hello world'), [12, 15, 3, 8]);
    assert.deepEqual(tok.encode('held'), [9, 3, 8]);
    assert.deepEqual(tok.encode('hello<|endoftext|>'), [12, 0]);
    assert.equal(tok.decode([12, 15, 3, 8, 0]), 'hello world');
    assert.equal(tok.tokenId('Ġwor'), 15);
  });

  it('a missing file, invalid JSON or a file without a model is an error naming the path and what was expected', () => {
    const missing = join(tmp.path, 'nowhere', 'tokenizer.json');
    assert.throws(() => HuggingFaceTokenizer.fromFile(missing), (e: Error) => e.message.includes(missing) && /expected a Hugging Face tokenizer\.json.*found no such file/.test(e.message));
    const broken = join(tmp.path, 'broken.json');
    writeFileSync(broken, '{"model": ');
    assert.throws(() => HuggingFaceTokenizer.fromFile(broken), /broken\.json: expected a Hugging Face tokenizer\.json.*found invalid JSON/);
    assert.throws(() => HuggingFaceTokenizer.fromFile(writeTokenizer('nomodel', { version: '1.0' })), /nomodel[/\\]tokenizer\.json: expected .*"model".*found no "model\.vocab"/);
  });

  it('a config naming a token the vocabulary lacks is an error naming tokenizer_config.json and the field', () => {
    const path = writeTokenizer('wl-badeos', WORD_LEVEL, { eos_token: '<|im_end|>' });
    assert.throws(() => HuggingFaceTokenizer.fromFile(path), /wl-badeos[/\\]tokenizer_config\.json: field "eos_token": token "<\|im_end\|>" is not in the vocabulary/);
  });

  it('a tokenizer with no config and no conventional end-of-sequence token is an error saying so', () => {
    const noSpecials = { ...WORD_LEVEL, added_tokens: [] };
    assert.throws(() => HuggingFaceTokenizer.fromFile(writeTokenizer('wl-noeos', noSpecials)), /no end-of-sequence token: expected "eos_token" in .*tokenizer_config\.json/);
  });
});

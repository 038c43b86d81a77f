import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuiltinTokenizer, loadTokenizer, saveBuiltinTokenizer } from '../../../lib/model/tokenizers';
import { tempDir } from '../../helpers/tmp';

describe('loadTokenizer / saveBuiltinTokenizer', () => {
  const tmp = tempDir('load-tokenizer');
  after(() => tmp.cleanup());

  it('saves a builtin tokenizer as a small JSON file and loads it back as dlab-builtin', () => {
    const path = join(tmp.path, 'model-a', 'tokenizer.json');
    saveBuiltinTokenizer(new BuiltinTokenizer({ items: 5, extraSpecials: ['<sep>'] }), path);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual([json.type, json.version, json.items, json.specials], ['dlab-builtin', 1, 5, ['<sep>']]);
    const tok = loadTokenizer(path);
    assert.equal(tok.kind, 'dlab-builtin');
    assert.equal(tok.vocabSize, 100 + 5 + 1);
    assert.deepEqual(tok.encode('<item_4><sep>7\n'), [104, 105, 27, 99]);
  });

  it('loads a directory through the tokenizer.json inside it', () => {
    const dir = join(tmp.path, 'model-b');
    saveBuiltinTokenizer(new BuiltinTokenizer(), join(dir, 'tokenizer.json'));
    assert.equal(loadTokenizer(dir).vocabSize, 100);
  });

  it('reads any other JSON as a Hugging Face tokenizer.json, with the tokenizer_config.json beside it', () => {
    const dir = join(tmp.path, 'model-c');
    mkdirSync(dir);
    const tokenizerJson = {
      added_tokens: [{ id: 0, content: '<eos>', special: true }],
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab: { '<eos>': 0, '<unk>': 1, yes: 2, no: 3 }, unk_token: '<unk>' },
    };
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<eos>' }));
    const tok = loadTokenizer(join(dir, 'tokenizer.json'));
    assert.equal(tok.kind, 'huggingface');
    assert.deepEqual([tok.vocabSize, tok.eosId, tok.padId], [4, 0, 0]);
    assert.deepEqual(tok.encode('no yes maybe'), [3, 2, 1]);
  });

  it('a missing file is an error naming the path and the two accepted kinds', () => {
    const missing = join(tmp.path, 'absent.json');
    assert.throws(() => loadTokenizer(missing), (e: Error) => e.message === `${missing}: expected a tokenizer file (dlab-builtin JSON or Hugging Face tokenizer.json), found no such file`);
  });

  it('a dlab-builtin file with a bad field is reported as such, not as a bad Hugging Face file', () => {
    const path = join(tmp.path, 'bad-builtin.json');
    writeFileSync(path, JSON.stringify({ type: 'dlab-builtin', version: 1, charset: 'ab', items: 'many', specials: [] }));
    assert.throws(() => loadTokenizer(path), /bad-builtin\.json: field "items": expected a non-negative integer, found "many"/);
  });
});

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { generateRecData, loadRecArrow, loadRecJsonl, recTextRecords, renderItem, renderRecPrompt } from '../../../lib/data/rec-synth';
import { BuiltinTokenizer } from '../../../lib/model/tokenizers/builtin';
import { DlabInputError } from '../../../lib/errors';

describe('rec prompts and user data files', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'rec-records-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('renders a history as concatenated item tokens, one builtin-tokenizer token per item', () => {
    const prompt = renderRecPrompt(new Int32Array([3, 17, 5]));
    assert.equal(prompt, '<item_3><item_17><item_5>');
    assert.equal(renderItem(12), '<item_12>');
    const tok = new BuiltinTokenizer({ items: 20 });
    assert.deepEqual(tok.encode(prompt + renderItem(12)), [3, 17, 5, 12].map((i) => tok.itemId(i)));
  });

  it('synthetic samples → records {id, prompt, target, split} → JSONL → the same records', () => {
    const data = generateRecData({ items: 30, clusters: 3, poolUsers: 20, valUsers: 5, testUsers: 5, historyLength: 4, noisyFraction: 0.1, duplicateFraction: 0.1, shift: 0.5, seed: 4 });
    const records = recTextRecords([...data.pool, ...data.validation, ...data.test]);
    const path = join(dir, 'synth.jsonl');
    writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    assert.deepEqual(loadRecJsonl(path), records);
  });

  it('JSONL with labels and blank lines', () => {
    const path = join(dir, 'ctr.jsonl');
    writeFileSync(path, '{"id":"a","prompt":"p","target":"Yes","label":1,"split":"pool"}\n\n{"id":"b","prompt":"q","target":"No","label":0,"split":"test"}\n');
    assert.deepEqual(loadRecJsonl(path), [
      { id: 'a', prompt: 'p', target: 'Yes', label: 1, split: 'pool' },
      { id: 'b', prompt: 'q', target: 'No', label: 0, split: 'test' },
    ]);
  });

  it('Arrow IPC with the same columns', () => {
    const path = join(dir, 'ctr.arrow');
    const table = tableFromArrays({ id: ['a', 'b'], prompt: ['p', 'q'], target: ['Yes', 'No'], label: Int32Array.from([1, 0]), split: ['pool', 'validation'] });
    writeFileSync(path, tableToIPC(table, 'file'));
    assert.deepEqual(loadRecArrow(path), [
      { id: 'a', prompt: 'p', target: 'Yes', label: 1, split: 'pool' },
      { id: 'b', prompt: 'q', target: 'No', label: 0, split: 'validation' },
    ]);
  });

  describe('errors name the line (or row) and the field', () => {
    const jsonl: [string, string, RegExp][] = [
      ['not JSON', '{"id":"a","prompt":"p","target":"t","split":"pool"}\n{oops', /bad.jsonl:2: not valid JSON/],
      ['missing field', '{"id":"a","target":"t","split":"pool"}', /bad.jsonl:1: field "prompt": expected a string, found nothing \(field missing\)/],
      ['unknown split', '{"id":"a","prompt":"p","target":"t","split":"train"}', /field "split": expected one of "pool", "validation", "test", found "train"/],
      ['label 2', '{"id":"a","prompt":"p","target":"t","label":2,"split":"pool"}', /field "label": expected 0 or 1/],
      ['duplicate id', '{"id":"a","prompt":"p","target":"t","split":"pool"}\n{"id":"a","prompt":"p","target":"t","split":"pool"}', /bad.jsonl:2: field "id": "a" already used on line 1/],
    ];
    for (const [name, text, message] of jsonl) {
      it(`JSONL: ${name}`, () => {
        const path = join(dir, 'bad.jsonl');
        writeFileSync(path, text);
        assert.throws(() => loadRecJsonl(path), (e: unknown) => e instanceof DlabInputError && message.test(e.message));
      });
    }
    it('Arrow: missing column, bad split in row 1', () => {
      const path = join(dir, 'bad.arrow');
      writeFileSync(path, tableToIPC(tableFromArrays({ id: ['a'], prompt: ['p'], split: ['pool'] }), 'file'));
      assert.throws(() => loadRecArrow(path), /column "target" is missing \(found: id, prompt, split\)/);
      writeFileSync(path, tableToIPC(tableFromArrays({ id: ['a', 'b'], prompt: ['p', 'q'], target: ['t', 't'], split: ['pool', 'dev'] }), 'file'));
      assert.throws(() => loadRecArrow(path), /row 1, column "split": expected one of/);
    });
    it('missing file', () => assert.throws(() => loadRecJsonl(join(dir, 'nope.jsonl')), /nope.jsonl: cannot read/));
  });
});

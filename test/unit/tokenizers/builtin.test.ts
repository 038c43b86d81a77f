import { strict as assert } from 'node:assert';
import { BUILTIN_CHARSET, BuiltinTokenizer } from '../../../lib/model/tokenizers/builtin';

// With the default charset a printable ASCII character c has id c − 32 + 4 = c − 28,
// '\n' is 99, and item tokens start at 100.
const plain = new BuiltinTokenizer();
const rec = new BuiltinTokenizer({ items: 20, extraSpecials: ['<sep>'] });

describe('BuiltinTokenizer', () => {
  it('lays out ids as <pad>=0 <bos>=1 <eos>=2 <unk>=3, then 96 characters, then items, then extra specials', () => {
    assert.equal(BUILTIN_CHARSET.length, 96);
    assert.deepEqual([plain.padId, plain.bosId, plain.eosId, plain.unkId], [0, 1, 2, 3]);
    assert.equal(plain.vocabSize, 100);
    assert.deepEqual([' ', '0', 'A', '~', '\n'].map((c) => plain.encode(c)[0]), [4, 20, 37, 98, 99]);
    assert.equal(rec.vocabSize, 100 + 20 + 1);
    assert.deepEqual([rec.itemId(0), rec.itemId(3), rec.itemId(19)], [100, 103, 119]);
    assert.deepEqual(rec.encode('<sep>'), [120]);
    assert.equal(rec.tokenOf(112), '<item_12>');
  });

  it('encodes "12+345=357\\n" to ids written out by hand (c − 28 per character, 99 for newline)', () => {
    // '1'=49 '2'=50 '+'=43 '3'=51 '4'=52 '5'=53 '='=61 '7'=55
    assert.deepEqual(plain.encode('12+345=357\n'), [21, 22, 15, 23, 24, 25, 33, 23, 25, 27, 99]);
  });

  it('round-trips arithmetic, boxed answers and item histories exactly', () => {
    for (const s of ['12+345=357\n', 'Answer: \\boxed{1,234}', '  7 * 8 = 56.\n\n', '{}[]<>~`|"\'', '']) {
      assert.equal(plain.decode(plain.encode(s)), s, JSON.stringify(s));
    }
    assert.deepEqual(rec.encode('<item_3><item_12>'), [103, 112]);
    assert.equal(rec.decode([103, 112]), '<item_3><item_12>');
    assert.deepEqual(rec.encode('<item_0><sep><item_19>'), [100, 120, 119]);
  });

  it('maps each character outside the charset to <unk> (one per code point) and never throws', () => {
    // 'c'=99−28=71 'a'=69 'f'=74, 'é' → 3; the emoji is two UTF-16 units but one <unk>
    assert.deepEqual(plain.encode('café'), [71, 69, 74, 3]);
    assert.deepEqual(plain.encode('\u{1F600}\t'), [3, 3]);
    assert.equal(plain.decode(plain.encode('é')), '<unk>');
  });

  it('reads <…> as one token only when it is a known special or an in-range item', () => {
    assert.deepEqual(rec.encode('<eos>'), [2]);
    assert.deepEqual(plain.encode('<item_3>'), plain.encode('<').concat(plain.encode('item_3>'))); // no items configured
    assert.equal(rec.encode('<item_20>').length, 9); // 20 items: <item_20> is out of range, 9 characters
    assert.equal(rec.encode('<item_03>').length, 9); // leading zero: not an item
    assert.deepEqual(rec.encode('<<sep>'), [plain.encode('<')[0], 120]);
    assert.equal(rec.encode('<sep').length, 4);
  });

  it('decodes by concatenating token strings, dropping pad, bos and eos; ids outside the vocabulary read <unk>', () => {
    assert.equal(rec.decode([1, 37, 103, 2, 0, 0]), 'A<item_3>');
    assert.equal(rec.decode(Int32Array.from([120, 3, 999, -1])), '<sep><unk><unk><unk>');
  });

  it('serialises to {type, version, charset, items, specials} and reads it back to the same tokenizer', () => {
    const json = rec.toJSON();
    assert.deepEqual(json, { type: 'dlab-builtin', version: 1, charset: BUILTIN_CHARSET, items: 20, specials: ['<sep>'] });
    const back = BuiltinTokenizer.fromJSON(JSON.parse(JSON.stringify(json)), 'tok.json');
    assert.equal(back.vocabSize, 121);
    const s = 'Q: 2+2\n<item_7><sep>é';
    assert.deepEqual(back.encode(s), rec.encode(s));
  });

  it('rejects a bad file with an error naming the file and the field', () => {
    const good = rec.toJSON();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...good, type: 'bpe' }, /tok\.json: field "type": expected "dlab-builtin", found "bpe"/],
      [{ ...good, version: 2 }, /tok\.json: field "version": expected 1, found 2/],
      [{ ...good, items: -1 }, /tok\.json: field "items": expected a non-negative integer, found -1/],
      [{ ...good, items: undefined }, /tok\.json: field "items": .* found nothing/],
      [{ ...good, charset: '' }, /tok\.json: field "charset"/],
      [{ ...good, specials: ['<sep>', 7] }, /tok\.json: field "specials\[1\]": expected a string/],
      [{ ...good, specials: ['sep'] }, /tok\.json: .*"sep" must look like <name>/],
      [{ ...good, specials: ['<eos>'] }, /tok\.json: .*"<eos>" clashes/],
      [{ ...good, itemz: 3 }, /tok\.json: field "itemz": expected no such field/],
    ];
    for (const [obj, re] of cases) assert.throws(() => BuiltinTokenizer.fromJSON(obj, 'tok.json'), re);
    assert.throws(() => BuiltinTokenizer.fromJSON([], 'tok.json'), /tok\.json: field "\(root\)": expected a JSON object/);
  });

  it('encodes 100 000 short strings in well under a second', () => {
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < 100_000; i++) n += rec.encode('<item_4><item_17><sep>12+345=357\n').length;
    const ms = performance.now() - t0;
    assert.equal(n, 100_000 * 14);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  });
});

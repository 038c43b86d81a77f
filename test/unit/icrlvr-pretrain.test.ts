import { strict as assert } from 'node:assert';
import { makeTaskData } from '../../lib/icrlvr/data';
import { pretrainCorpus } from '../../lib/icrlvr/pretrain';
import { BuiltinTokenizer } from '../../lib/model/tokenizers/builtin';
import { COMPACT_TEMPLATE } from '../../lib/tasks/demos';
import { parseConfig } from '../../schemas/config';
import { DlabInputError } from '../../lib/errors';

/**
 * The toy "pretrained LM" corpus: the 200 column facts (a+b= and a+b+1= for digits a, b) and
 * the demonstration pool's solutions (alone and after another demonstration) — never a
 * training or held-out question's solution.
 */
describe('In-Context RLVR pretraining corpus', () => {
  const tok = new BuiltinTokenizer({});
  const data = makeTaskData({ type: 'arithmetic', op: 'add', dataSeed: 0, digits: 1, trainQuestions: 60, heldOutQuestions: 20, demoPool: 20 });
  const corpus = pretrainCorpus(data, tok, COMPACT_TEMPLATE);
  const text = (s: { tokens: number[] }) => tok.decode(s.tokens);
  const target = (s: { tokens: number[]; lossMask: number[] }) => tok.decode(s.tokens.filter((_, i) => s.lossMask[i] === 1));

  it('has 200 facts + 2 traces per demonstration (240 sequences), each bos-first with a loss mask as long as its tokens', () => {
    assert.equal(corpus.length, 200 + 2 * 20);
    for (const s of corpus) {
      assert.equal(s.tokens[0], tok.bosId);
      assert.equal(s.lossMask.length, s.tokens.length);
    }
  });

  it('facts: "7+8=" → "15", "7+8+1=" → "16"; the loss covers the sum and eos only', () => {
    const f = corpus.find((s) => text(s) === '7+8=15')!;
    assert.equal(target(f), '15');
    assert.equal(f.lossMask[f.lossMask.length - 1], 1);
    assert.equal(f.tokens[f.tokens.length - 1], tok.eosId);
    assert.ok(corpus.some((s) => text(s) === '7+8+1=16'));
  });

  it('memorised 0.25: the sums of the first 15 of 60 training questions join as plain facts (no steps), nothing of the held-out questions', () => {
    const withFacts = pretrainCorpus(data, tok, COMPACT_TEMPLATE, { memorised: 0.25 });
    assert.equal(withFacts.length, corpus.length + 15);
    const added = withFacts.slice(corpus.length);
    assert.deepEqual(added.map(text), data.train.slice(0, 15).map((q) => `${q.question}${q.answer}`));
    assert.deepEqual(added.map(target), data.train.slice(0, 15).map((q) => q.answer));
    const heldOut = new Set(data.heldOut.map((q) => q.question));
    for (const s of added) assert.ok(!heldOut.has(text(s).replace(/\d+$/, '')), text(s));
    assert.deepEqual(pretrainCorpus(data, tok, COMPACT_TEMPLATE, { memorised: 0 }), corpus);
  });

  it('traces are the demonstrations’ solutions only: no training or held-out question appears as a solved question', () => {
    const solved = new Set(corpus.slice(200).map((s) => text(s).split('\n\n').pop()!.split('\n')[0]));
    for (const q of [...data.train, ...data.heldOut]) assert.ok(!solved.has(q.question), q.question);
    for (const D of data.demos) assert.ok(solved.has(D.question), D.question);
  });

  it('the config refuses pretrain without a built model or with the JSONL task, naming the field', () => {
    const base = { mode: 'rlvr', seed: 1, steps: 1, questionsPerStep: 1, pretrain: { steps: 1 }, task: { type: 'arithmetic', digits: 1, trainQuestions: 2, heldOutQuestions: 1, demoPool: 1 } };
    assert.equal(parseConfig('icrlvr', { ...base, model: { build: { vocab: 104, dModel: 8, nLayer: 1, nHead: 2, dFf: 16, maxPos: 64, seed: 1 } } }).pretrain!.lr, 0.003);
    assert.throws(() => parseConfig('icrlvr', { ...base, model: { dir: '/m' } }), (e: Error) => e instanceof DlabInputError && /pretrain/.test(e.message));
  });

  it('pretrain.checkpointEvery: absent unless given (config hashes of earlier runs unchanged); 0 is refused naming the field', () => {
    const base = { mode: 'rlvr', seed: 1, steps: 1, questionsPerStep: 1, model: { build: { vocab: 104, dModel: 8, nLayer: 1, nHead: 2, dFf: 16, maxPos: 64, seed: 1 } }, task: { type: 'arithmetic', digits: 1, trainQuestions: 2, heldOutQuestions: 1, demoPool: 1 } };
    assert.ok(!('checkpointEvery' in parseConfig('icrlvr', { ...base, pretrain: { steps: 1 } }).pretrain!));
    assert.equal(parseConfig('icrlvr', { ...base, pretrain: { steps: 1, checkpointEvery: 7 } }).pretrain!.checkpointEvery, 7);
    assert.throws(() => parseConfig('icrlvr', { ...base, pretrain: { steps: 1, checkpointEvery: 0 } }), (e: Error) => e instanceof DlabInputError && /pretrain\.checkpointEvery/.test(e.message));
  });
});

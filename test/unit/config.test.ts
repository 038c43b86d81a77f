import { strict as assert } from 'node:assert';
import { canonicalJson, configHash } from '../../lib/config/canonical';
import { DlabInputError } from '../../lib/errors';
import { parseConfig } from '../../schemas/config';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const good = { seed: 1, rows: 10, batchSize: 5 };

describe('experiment configs', () => {
  it('fills defaults for a minimal smoke config', () => {
    const c = parseConfig('smoke', good);
    assert.equal(c.dim, 16);
    assert.equal(c.rounds, 1);
    assert.equal(c.heartbeatTimeoutSeconds, 10);
  });

  it('has no test knobs: delayMs (slowing stages is the test worker\'s business) is an unknown field', () => {
    assert.throws(() => parseConfig('smoke', { ...good, delayMs: 5 }), /delayMs/);
  });

  it('a negative size names the field, what was expected and what was found', () => {
    assert.throws(
      () => parseConfig('smoke', { ...good, rows: -5 }, 'bad.json'),
      (err: Error) => err instanceof DlabInputError && /bad\.json/.test(err.message) && /rows: .*(>0|positive|too small)/i.test(err.message) && /found -5/.test(err.message),
    );
  });

  it('goracs: variant defaults to "itra"; "label-enhanced" on synthetic (unlabelled) data is refused naming the field', () => {
    const goracs = { seed: 1, budget: 5, model: { dir: '/m' }, data: { type: 'synthetic' } };
    assert.equal(parseConfig('goracs', goracs).variant, 'itra');
    assert.equal(parseConfig('goracs', { ...goracs, data: { type: 'jsonl', path: 'x.jsonl' }, variant: 'label-enhanced' }).variant, 'label-enhanced');
    assert.throws(
      () => parseConfig('goracs', { ...goracs, variant: 'label-enhanced' }),
      (err: Error) => err instanceof DlabInputError && /variant: .*needs binary labels/.test(err.message),
    );
  });

  it('goracs: a refinement that could outgrow one workflow history is refused naming swapChunk (1000 · ⌈900/64⌉ = 15 000 > 8 000 activities); 100 iterations (1 500) pass', () => {
    const goracs = { seed: 1, budget: 5, model: { dir: '/m' }, data: { type: 'synthetic' }, cutNum: 30 };
    assert.equal(parseConfig('goracs', { ...goracs, maxIters: 100 }).swapChunk, 64);
    assert.throws(
      () => parseConfig('goracs', { ...goracs, maxIters: 1000 }),
      (err: Error) => err instanceof DlabInputError && /swapChunk: maxIters · ⌈cutNum²\/swapChunk⌉ = 15000 refinement activities/.test(err.message),
    );
    assert.equal(parseConfig('goracs', { ...goracs, maxIters: 1000, swapChunk: 900 }).maxIters, 1000);
  });

  it('goracs: dualScore "rth-smallest" is kept; absent or the default "rth-largest" parses to no field, so such configs hash as before the option existed', () => {
    const compare = JSON.parse(readFileSync(join(__dirname, '../../../examples/goracs/compare.json'), 'utf8'));
    // the hash of examples/goracs/compare.json's parsed config before dualScore existed
    const before = '6ab4a3bfdc86b798119f06bf8f6f95b47d13db9f7e85874311d73292db7fe9bb';
    assert.equal(configHash(parseConfig('goracs', compare)), before);
    assert.equal(configHash(parseConfig('goracs', { ...compare, dualScore: 'rth-largest' })), before);
    assert.equal(parseConfig('goracs', { ...compare, dualScore: 'rth-largest' }).dualScore, undefined);
    const smallest = parseConfig('goracs', { ...compare, dualScore: 'rth-smallest' });
    assert.equal(smallest.dualScore, 'rth-smallest');
    assert.notEqual(configHash(smallest), before);
    assert.throws(() => parseConfig('goracs', { ...compare, dualScore: 'median' }), (err: Error) => err instanceof DlabInputError && /dualScore/.test(err.message));
  });

  it('icrlvr: trainable "full" is kept for a built model and refused for an imported one naming the field; "head" (the default) parses to no field', () => {
    const small = JSON.parse(readFileSync(join(__dirname, '../../../examples/icrlvr/small.json'), 'utf8'));
    const base = { ...small, mode: 'icrlvr', seed: 1 };
    const hash = configHash(parseConfig('icrlvr', base));
    assert.equal(configHash(parseConfig('icrlvr', { ...base, trainable: 'head' })), hash);
    assert.equal(parseConfig('icrlvr', { ...base, trainable: 'head' }).trainable, undefined);
    assert.equal(parseConfig('icrlvr', { ...base, trainable: 'full' }).trainable, 'full');
    const { pretrain: _p, ...noPretrain } = base;
    assert.throws(
      () => parseConfig('icrlvr', { ...noPretrain, model: { dir: '/m' }, trainable: 'full' }),
      (err: Error) => err instanceof DlabInputError && /trainable: trainable "full" needs a built model .*imported models train their head/.test(err.message),
    );
    assert.throws(() => parseConfig('icrlvr', { ...base, trainable: 'backbone' }), (err: Error) => err instanceof DlabInputError && /trainable/.test(err.message));
  });

  it('a missing field and an ill-typed field are both named', () => {
    assert.throws(
      () => parseConfig('smoke', { rows: 10, batchSize: 'five' }),
      (err: Error) => /seed:/.test(err.message) && /batchSize:.*found "five"/.test(err.message),
    );
  });

  it('an unknown key (a typo) is refused by name', () => {
    assert.throws(() => parseConfig('smoke', { ...good, batchsize: 3 }), /batchsize/);
  });

  it('the config hash does not depend on key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: 2, c: 3 } }), '{"a":{"c":3,"d":2},"b":1}');
    assert.equal(configHash({ b: 1, a: 2 }), configHash({ a: 2, b: 1 }));
    assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
  });
});

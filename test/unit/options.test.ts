import { strict as assert } from 'node:assert';
import { intOption, numberOption, portOption } from '../../lib/config/options';
import { DlabInputError } from '../../lib/errors';

describe('numeric options (lib/config/options.ts)', () => {
  it('an integer option takes digits (and a minus) only, in range; anything else is an input error naming the option, its range and the value', () => {
    assert.equal(intOption('--n', '7', 1), 7);
    assert.equal(intOption('--n', '0', 0), 0);
    assert.equal(intOption('--n', '-3', -5, 5), -3);
    assert.equal(intOption('--seed', '4294967295', 0, 2 ** 32 - 1), 4294967295);
    for (const bad of ['1e1', '0x10', '5.0', ' 5', '5 ', '+5', '', 'five', '9007199254740993']) {
      assert.throws(() => intOption('--n', bad, 1), (e: Error) => e instanceof DlabInputError && e.message === `--n: expected an integer ≥ 1, found "${bad}"`, bad);
    }
    assert.throws(() => intOption('--n', '0', 1, 4, 'threads'), (e: Error) => e instanceof DlabInputError && e.message === '--n: expected an integer in [1, 4] (threads), found "0"');
    assert.throws(() => portOption('--port', '65536'), /--port: expected an integer in \[1, 65535\], found "65536"/);
  });

  it('a number option takes a finite number in its range, open at the bottom where asked', () => {
    assert.equal(numberOption('--t', '0.5', { min: 0, max: 1 }), 0.5);
    assert.throws(() => numberOption('--t', '0', { min: 0, openMin: true }), /--t: expected a number in \(0, ∞\), found "0"/);
    assert.throws(() => numberOption('--t', 'Infinity', { min: 0 }), /--t: expected a number in \[0, ∞\), found "Infinity"/);
  });
});

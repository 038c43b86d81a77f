import { strict as assert } from 'node:assert';
import { Rng } from '../../lib/rng';

/** PCG32 (XSH-RR) written with BigInt, straight from the reference description, to check the uint32 version. */
function pcg32Reference(seed: bigint, stream: bigint, n: number): number[] {
  const M = (1n << 64n) - 1n;
  const inc = ((stream << 1n) | 1n) & M;
  let state = 0n;
  const step = () => (state = (state * 6364136223846793005n + inc) & M);
  step();
  state = (state + seed) & M;
  step();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const old = state;
    step();
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
    out.push(((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0);
  }
  return out;
}

describe('Rng (PCG32)', () => {
  it('produces exactly the PCG-XSH-RR sequence of a BigInt reference, for several seeds and streams', () => {
    for (const [seed, stream] of [[0, 0], [42, 54], [2 ** 40 + 3, 7], [123456789, 2 ** 31 - 1]]) {
      const rng = new Rng(seed, stream);
      const got = Array.from({ length: 50 }, () => rng.nextUint32());
      assert.deepEqual(got, pcg32Reference(BigInt(seed), BigInt(stream), 50), `seed ${seed} stream ${stream}`);
    }
  });

  it('same seed and stream give the same draws; another stream gives other draws', () => {
    const a = new Rng(9, 1);
    const b = new Rng(9, 1);
    const c = new Rng(9, 2);
    const da = Array.from({ length: 20 }, () => a.next());
    assert.deepEqual(da, Array.from({ length: 20 }, () => b.next()));
    assert.notDeepEqual(da, Array.from({ length: 20 }, () => c.next()));
  });

  it('uniforms lie in [0, 1) with mean ≈ 1/2 and normals have mean ≈ 0, variance ≈ 1 (n = 100000)', () => {
    const rng = new Rng(1);
    let s = 0;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < 100000; i++) {
      const u = rng.next();
      s += u;
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
    }
    assert.ok(lo >= 0 && hi < 1);
    assert.ok(Math.abs(s / 100000 - 0.5) < 0.005);
    const z = new Float64Array(100000);
    rng.fillNormal(z);
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length;
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  });

  it('a saved state (JSON round trip) continues the same sequence; a bad state is refused', () => {
    const a = new Rng(7, 3);
    for (let i = 0; i < 5; i++) a.next();
    const b = Rng.restore(JSON.parse(JSON.stringify(a.save())));
    for (let i = 0; i < 100; i++) assert.equal(b.nextUint32(), a.nextUint32());
    assert.throws(() => Rng.restore({ stream: 3, hi: -1, lo: 0 }), /not a saved state/);
  });

  it('rejects a non-integer seed', () => {
    assert.throws(() => new Rng(1.5), /seed and stream must be integers/);
  });
});

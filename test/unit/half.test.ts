import { strict as assert } from 'node:assert';
import { bfloat16BitsToFloat, bfloat16ToFloat32, floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat, halfToFloat32 } from '../../lib/model/half';

const isNegZero = (x: number) => x === 0 && 1 / x < 0;

describe('16-bit floats (lib/model/half.ts)', () => {
  it('float16 → float32 on edge values: ±0, subnormals, normals, max, ±∞, NaN', () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x3c00, 1],
      [0x3c01, 1 + 2 ** -10],
      [0x3555, 0.333251953125],
      [0xc000, -2],
      [0x7bff, 65504],
      [0xfbff, -65504],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [bits, want] of cases) assert.equal(halfBitsToFloat(bits), want, `0x${bits.toString(16)}`);
    assert.ok(isNegZero(halfBitsToFloat(0x8000)));
    assert.ok(isNegZero(halfToFloat32(new Uint16Array([0x8000]))[0]));
    assert.equal(halfBitsToFloat(0x8001), -(2 ** -24));
    for (const nan of [0x7c01, 0x7e00, 0xfe00, 0x7fff]) assert.ok(Number.isNaN(halfBitsToFloat(nan)));
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = halfToFloat32(all);
    for (let i = 0; i < 65536; i++) assert.ok(Object.is(f[i], Math.fround(halfBitsToFloat(i))) || (Number.isNaN(f[i]) && Number.isNaN(halfBitsToFloat(i))));
  });

  it('float32 → float16 rounds to nearest even, overflows to ±∞, underflows to ±0, keeps NaN, and inverts float16 → float32 on all 2¹⁶ patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const x = halfBitsToFloat(h);
      if (Number.isNaN(x)) assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(x))));
      else assert.equal(floatToHalfBits(x), h, `0x${h.toString(16)}`);
    }
    assert.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00); // tie → even (down)
    assert.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(floatToHalfBits(65519), 0x7bff);
    assert.equal(floatToHalfBits(65520), 0x7c00); // halfway above max rounds to ∞
    assert.equal(floatToHalfBits(-1e9), 0xfc00);
    assert.equal(floatToHalfBits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal → 0 (even)
    assert.equal(floatToHalfBits(2 ** -25 * 1.5), 0x0001);
    assert.equal(floatToHalfBits(2 ** -26), 0x0000);
    assert.equal(floatToHalfBits(-(2 ** -30)), 0x8000);
    assert.equal(floatToHalfBits(3 * 2 ** -25), 0x0002); // subnormal tie → even
  });

  it('bfloat16 → float32 on edge values: the bits are the upper half of a float32', () => {
    assert.equal(bfloat16BitsToFloat(0x3f80), 1);
    assert.equal(bfloat16BitsToFloat(0xc040), -3);
    assert.equal(bfloat16BitsToFloat(0x0001), 2 ** -133); // smallest subnormal
    assert.equal(bfloat16BitsToFloat(0x007f), 127 * 2 ** -133); // largest subnormal
    assert.equal(bfloat16BitsToFloat(0x0080), 2 ** -126);
    assert.equal(bfloat16BitsToFloat(0x7f7f), Math.fround(3.3895313892515355e38));
    assert.equal(bfloat16BitsToFloat(0x7f80), Infinity);
    assert.equal(bfloat16BitsToFloat(0xff80), -Infinity);
    assert.ok(isNegZero(bfloat16BitsToFloat(0x8000)));
    assert.ok(Number.isNaN(bfloat16BitsToFloat(0x7fc0)) && Number.isNaN(bfloat16BitsToFloat(0xff81)));
    const bits = new Uint16Array([0x3f80, 0x8000, 0x0001, 0x7f80, 0x7fc1]);
    const f = bfloat16ToFloat32(bits);
    assert.deepEqual(Array.from(f.subarray(0, 4)), [1, -0, 2 ** -133, Infinity]);
    assert.ok(Number.isNaN(f[4]));
  });

  it('float32 → bfloat16 rounds to nearest even and keeps NaN, ±∞, -0', () => {
    for (let b = 0; b < 65536; b++) {
      const x = bfloat16BitsToFloat(b);
      if (Number.isNaN(x)) assert.ok(Number.isNaN(bfloat16BitsToFloat(floatToBfloat16Bits(x))));
      else assert.equal(floatToBfloat16Bits(x), b);
    }
    assert.equal(floatToBfloat16Bits(1 + 2 ** -8), 0x3f80); // tie → even (down)
    assert.equal(floatToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
    assert.equal(floatToBfloat16Bits(-0), 0x8000);
    assert.equal(floatToBfloat16Bits(3.4028234663852886e38), 0x7f80); // float32 max rounds to ∞
  });
});

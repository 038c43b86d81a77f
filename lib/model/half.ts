/**
 * 16-bit floats ↔ float32, bit by bit (Node 20 has no Float16Array).
 *
 *   float16 (IEEE 754 binary16):  s eeeee mmmmmmmmmm       bias 15
 *     e = 0:        (−1)^s · 2^−14 · m/1024     (subnormal, ±0)
 *     0 < e < 31:   (−1)^s · 2^(e−15) · (1 + m/1024)
 *     e = 31:       ±∞ (m = 0), NaN (m ≠ 0)
 *   bfloat16:  the upper 16 bits of a float32 (s, 8 exponent bits, 7 mantissa bits)
 *
 * Every float16 and bfloat16 value is exactly a float32, so up-casting loses nothing.
 */

let halfTable: Float32Array | undefined;

/** float32 value of each of the 2¹⁶ float16 bit patterns (256 KiB, built once). */
function table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfBitsToFloat(h);
  return (halfTable = t);
}

/** The float16 bit pattern h (0 ≤ h < 2¹⁶) as a number. */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24; // 2^−14 · m/2^10
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bfloat16 bit pattern b as a number: b · 2¹⁶ read as float32 bits. */
export function bfloat16BitsToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** float16 bits → float32, element-wise into `out` (same length). */
export function halfToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const t = table();
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** bfloat16 bits → float32, element-wise into `out` (same length): out bits = b << 16. */
export function bfloat16ToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) o[i] = bits[i] << 16;
  return out;
}

/**
 * float32 → float16 bits, rounded to nearest, ties to even; beyond ±65504 (+ half an ulp) → ±∞,
 * NaN stays NaN (quiet), below 2^−25 → ±0.
 */
export function floatToHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 255) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000; // 1.mant · 2^23
    const shift = 14 - e; // 14 … 24
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still right (up to ∞)
  return sign | h;
}

/** float32 → bfloat16 bits, rounded to nearest, ties to even; NaN stays NaN (quiet). */
export function floatToBfloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

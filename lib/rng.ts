/** A saved generator: its stream and the 64-bit LCG state as uint32 halves. */
export interface RngState {
  stream: number;
  hi: number;
  lo: number;
}

/**
 * The project's one seeded random number generator.
 *
 * PCG-XSH-RR 32 (O'Neill 2014) on a 64-bit LCG state kept as two uint32 halves, so it
 * needs no BigInt in the hot loop. `stream` selects one of 2^31 independent sequences:
 * a sequence's samples depend only on (seed, stream), never on who else draws.
 */
export class Rng {
  private hi = 0;
  private lo = 0;
  private readonly stream: number;
  private readonly incHi: number;
  private readonly incLo: number;

  constructor(seed: number, stream = 0) {
    if (!Number.isInteger(seed) || !Number.isInteger(stream)) {
      throw new Error(`Rng: seed and stream must be integers, got seed=${seed} stream=${stream}`);
    }
    this.stream = stream;
    // increment must be odd: (stream << 1) | 1, spread over 64 bits
    this.incHi = (stream >>> 0) >>> 31;
    this.incLo = (((stream >>> 0) << 1) | 1) >>> 0;
    this.step();
    this.add(Math.floor(seed / 2 ** 32) >>> 0, seed >>> 0);
    this.step();
  }

  /** The generator's whole state (JSON-serialisable): `Rng.restore` continues the same sequence. */
  save(): RngState {
    return { stream: this.stream, hi: this.hi, lo: this.lo };
  }

  /** A generator that draws exactly what the saved one would have drawn next. */
  static restore(s: RngState): Rng {
    const ok = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
    if (!s || !Number.isInteger(s.stream) || !ok(s.hi) || !ok(s.lo)) throw new RangeError(`Rng.restore: not a saved state: ${JSON.stringify(s)}`);
    const r = new Rng(0, s.stream);
    r.hi = s.hi;
    r.lo = s.lo;
    return r;
  }

  /** Uniform uint32. */
  nextUint32(): number {
    const oldHi = this.hi;
    const oldLo = this.lo;
    this.step();
    // output function on the old state: xorshifted = ((old >> 18) ^ old) >> 27; rot = old >> 59
    const xHi = (oldHi >>> 18) ^ oldHi;
    const xLo = ((oldLo >>> 18) | (oldHi << 14)) ^ oldLo;
    const xorshifted = ((xLo >>> 27) | (xHi << 5)) >>> 0;
    const rot = oldHi >>> 27;
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0) || !Number.isInteger(n)) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Standard normal by Box–Muller (one value per call; the pair's second half is dropped for simplicity of state). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fills `out` with N(0, std²) samples. */
  fillNormal(out: Float32Array | Float64Array, std = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(arr: T[] | Int32Array | Uint32Array): void {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
  }

  /** state ← state · 6364136223846793005 + inc (mod 2^64) */
  private step(): void {
    const mulHi = 0x5851f42d;
    const mulLo = 0x4c957f2d;
    const lo = this.lo;
    const hi = this.hi;
    // 64×64 → low 64 bits, via 16-bit limbs for the low×low product
    const lo0 = lo & 0xffff;
    const lo1 = lo >>> 16;
    const m0 = mulLo & 0xffff;
    const m1 = mulLo >>> 16;
    const p00 = lo0 * m0;
    const p01 = lo0 * m1;
    const p10 = lo1 * m0;
    const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    const newLo = ((mid << 16) | (p00 & 0xffff)) >>> 0;
    const carry = Math.floor(mid / 65536) + Math.floor(p01 / 65536) + Math.floor(p10 / 65536) + lo1 * m1;
    const newHi = (Math.imul(hi, mulLo) + Math.imul(lo, mulHi) + carry) >>> 0;
    this.hi = newHi;
    this.lo = newLo;
    this.add(this.incHi, this.incLo);
  }

  private add(hi: number, lo: number): void {
    const sumLo = this.lo + lo;
    this.lo = sumLo >>> 0;
    this.hi = (this.hi + hi + (sumLo > 0xffffffff ? 1 : 0)) >>> 0;
  }
}

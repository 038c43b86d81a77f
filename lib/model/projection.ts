import { Rng } from '../rng';
import { GradientScale, checkOffsets, checkRows, dotTile4x4 } from './head-gradient';

/** RNG stream of the projection matrices ("gprj"), so they never share draws with other users of a seed. */
const PROJECTION_STREAM = 0x6770726a;

/**
 * Seeded Johnson–Lindenstrauss projection of a head gradient G = s Σ_t a_t h_tᵀ
 * (G [V, d], docs/goracs.md "Stage 1 — gradient embedding") to k = kA·kH numbers, without forming G:
 *   proj(G) = Ra G Rhᵀ / √(kA·kH) = s/√(kA·kH) · Σ_t (Ra a_t)(Rh h_t)ᵀ   → [kA, kH] flattened row-major
 *   Ra [kA, V], Rh [kH, d]: i.i.d. N(0, 1), Ra then Rh drawn from Rng(seed, PROJECTION_STREAM).
 * This is the Kronecker-structured map vec(G) ↦ (Ra ⊗ Rh) vec(G) / √k. Each output is
 * raᵢᵀ G rhⱼ with E[(raᵢᵀ G rhⱼ)²] = ‖G‖²_F, so E‖proj(G)‖² = ‖G‖²_F exactly (norms are
 * preserved in expectation) and E⟨proj G, proj G'⟩ = ⟨G, G'⟩_F (inner products are
 * preserved approximately, with a larger variance than a dense Gaussian map of the same k
 * because the k outputs share rows of Ra and Rh).
 * Cost per sample: 2T(kA·V + kH·d + kA·kH) flops instead of 2T·V·d for forming G.
 */
export class GradientProjector {
  /** Ra [kA, V], N(0, 1), row-major. */
  readonly ra: Float32Array;
  /** Rh [kH, d], N(0, 1), row-major. */
  readonly rh: Float32Array;
  /** k = kA·kH, the projected dimension. */
  readonly k: number;
  private pa = new Float64Array(0);
  private ph = new Float64Array(0);
  private readonly acc: Float64Array;
  private readonly tile = new Float64Array(16);

  constructor(readonly V: number, readonly d: number, readonly kA: number, readonly kH: number, readonly seed: number) {
    for (const [name, n] of [['V', V], ['d', d], ['kA', kA], ['kH', kH]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`GradientProjector: ${name} must be a positive integer, found ${n}`);
    }
    const rng = new Rng(seed, PROJECTION_STREAM);
    this.ra = new Float32Array(kA * V);
    this.rh = new Float32Array(kH * d);
    rng.fillNormal(this.ra);
    rng.fillNormal(this.rh);
    this.k = kA * kH;
    this.acc = new Float64Array(this.k);
  }

  /**
   * out[outOffset .. outOffset+k) = proj(G), G = s Σ_t a_t h_tᵀ over a [T, V], h [T, d];
   * s = 1/T for 'mean', 1 for 'sum' (T = 0 gives zeros).
   */
  project(a: Float32Array, h: Float32Array, T: number, out: Float32Array, outOffset = 0, scale: GradientScale = 'mean'): void {
    checkRows('GradientProjector.project', 'a', a, T, this.V);
    checkRows('GradientProjector.project', 'h', h, T, this.d);
    if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + this.k > out.length) {
      throw new RangeError(`GradientProjector.project: out needs k = ${this.k} floats from offset ${outOffset}, found length ${out.length}`);
    }
    this.projectRows(a, h, 0, T, out, outOffset, scale);
  }

  /**
   * proj(G_i) for every sample: a [N, V], h [N, d]; sample i owns rows
   * offsets[i] .. offsets[i+1]−1 (offsets [n+1], offsets[n] = N). Returns Float32Array [n, k].
   */
  projectSamples(a: Float32Array, h: Float32Array, offsets: Int32Array, scale: GradientScale = 'mean'): Float32Array {
    const n = checkOffsets('GradientProjector.projectSamples', offsets);
    checkRows('GradientProjector.projectSamples', 'a', a, offsets[n], this.V);
    checkRows('GradientProjector.projectSamples', 'h', h, offsets[n], this.d);
    const out = new Float32Array(n * this.k);
    for (let i = 0; i < n; i++) this.projectRows(a, h, offsets[i], offsets[i + 1] - offsets[i], out, i * this.k, scale);
    return out;
  }

  private projectRows(a: Float32Array, h: Float32Array, row0: number, T: number, out: Float32Array, outOffset: number, scale: GradientScale): void {
    const { V, d, kA, kH, k, acc } = this;
    if (T === 0) {
      out.fill(0, outOffset, outOffset + k);
      return;
    }
    if (this.pa.length < T * kA) this.pa = new Float64Array(T * kA);
    if (this.ph.length < T * kH) this.ph = new Float64Array(T * kH);
    const pa = this.pa;
    const ph = this.ph;
    rowProducts(a, row0, T, V, this.ra, kA, pa, this.tile); // pa [T, kA] = a Raᵀ
    rowProducts(h, row0, T, d, this.rh, kH, ph, this.tile); // ph [T, kH] = h Rhᵀ
    acc.fill(0);
    for (let t = 0; t < T; t++) {
      const pr = t * kA;
      const hr = t * kH;
      for (let i = 0; i < kA; i++) {
        const p = pa[pr + i];
        const o = i * kH;
        for (let j = 0; j < kH; j++) acc[o + j] += p * ph[hr + j];
      }
    }
    const c = (scale === 'mean' ? 1 / T : 1) / Math.sqrt(k);
    for (let e = 0; e < k; e++) out[outOffset + e] = acc[e] * c;
  }
}

/**
 * p [T, m] = x[row0 .. row0+T) · rᵀ, x [·, K], r [m, K] (dot products of rows), by 4×4 tiles;
 * rows past the end are clamped to the last one and not stored.
 */
function rowProducts(x: Float32Array, row0: number, T: number, K: number, r: Float32Array, m: number, p: Float64Array, tile: Float64Array): void {
  const last = row0 + T - 1;
  for (let tb = row0; tb <= last; tb += 4) {
    const x0 = tb * K, x1 = Math.min(tb + 1, last) * K, x2 = Math.min(tb + 2, last) * K, x3 = Math.min(tb + 3, last) * K;
    const nt = Math.min(4, last - tb + 1);
    for (let ib = 0; ib < m; ib += 4) {
      const r0 = ib * K, r1 = Math.min(ib + 1, m - 1) * K, r2 = Math.min(ib + 2, m - 1) * K, r3 = Math.min(ib + 3, m - 1) * K;
      const ni = Math.min(4, m - ib);
      dotTile4x4(x, x0, x1, x2, x3, r, r0, r1, r2, r3, K, tile);
      for (let u = 0; u < nt; u++) {
        const o = (tb - row0 + u) * m + ib;
        for (let w = 0; w < ni; w++) p[o + w] = tile[4 * u + w];
      }
    }
  }
}

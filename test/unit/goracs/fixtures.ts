/**
 * Test instances for GORACS: random and planted point clouds in the plane, their
 * Euclidean cost matrices (min-max scaled like costMatrix with λ = 0), all from the project Rng.
 */
import { costMatrix } from '../../../lib/goracs/cost';
import { Rng } from '../../../lib/rng';

export interface Instance {
  cost: Float64Array;
  nT: number;
  nV: number;
}

/** nT pool and nV validation points uniform in the unit square. */
export function randomInstance(nT: number, nV: number, seed: number): Instance {
  const rng = new Rng(seed, 11);
  const eT = new Float32Array(nT * 2).map(() => rng.next());
  const eV = new Float32Array(nV * 2).map(() => rng.next());
  return { cost: costMatrix(eT, eV, 2, new Float64Array(nT), 0).cost, nT, nV };
}

/**
 * Planted: `centres` pool rows 0…centres−1 sit at well separated points; the other pool rows
 * are uniform in the unit square away from the centres; every validation point lies within 0.01 of a centre
 * (validation point j near centre j mod centres).
 */
export function plantedInstance(nT: number, nV: number, centres: number, seed: number): Instance {
  const rng = new Rng(seed, 12);
  const eT = new Float32Array(nT * 2);
  for (let i = 0; i < nT; i++) {
    if (i < centres) {
      eT[2 * i] = 0.5 + 0.4 * Math.cos((2 * Math.PI * i) / centres);
      eT[2 * i + 1] = 0.5 + 0.4 * Math.sin((2 * Math.PI * i) / centres);
    } else {
      // uniform, but at least 0.05 away from every centre, so the centres are the best rows
      do {
        eT[2 * i] = rng.next();
        eT[2 * i + 1] = rng.next();
      } while (nearCentre(eT[2 * i], eT[2 * i + 1], eT, centres));
    }
  }
  const eV = new Float32Array(nV * 2);
  for (let j = 0; j < nV; j++) {
    const c = j % centres;
    eV[2 * j] = eT[2 * c] + 0.01 * (2 * rng.next() - 1);
    eV[2 * j + 1] = eT[2 * c + 1] + 0.01 * (2 * rng.next() - 1);
  }
  return { cost: costMatrix(eT, eV, 2, new Float64Array(nT), 0).cost, nT, nV };
}

function nearCentre(x: number, y: number, eT: Float32Array, centres: number): boolean {
  for (let c = 0; c < centres; c++) if (Math.hypot(x - eT[2 * c], y - eT[2 * c + 1]) < 0.05) return true;
  return false;
}

/** `n` distinct rows of [0, nT), drawn with the project Rng. */
export function randomRows(nT: number, n: number, seed: number): Int32Array {
  const all = new Int32Array(nT).map((_, i) => i);
  new Rng(seed, 13).shuffle(all);
  return all.slice(0, n);
}

/** Costs in {0, 1/8, …, 1}: exact sums, many ties. */
export function levelInstance(nT: number, nV: number, seed: number): Instance {
  const rng = new Rng(seed, 14);
  const cost = new Float64Array(nT * nV).map(() => rng.int(9) / 8);
  return { cost, nT, nV };
}

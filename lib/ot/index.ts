/** Optimal transport solvers: exact (network simplex) and entropic (log-domain Sinkhorn). */
export { emd, EMD_DEFAULT_MAX_ITERATIONS } from './emd';
export type { EmdOptions, EmdResult, EmdStatus } from './emd';
export { sinkhorn } from './sinkhorn';
export type { SinkhornOptions, SinkhornResult } from './sinkhorn';
export { MASS_RELATIVE_TOLERANCE } from './transport-inputs';

/** GORACS coreset selection: cost matrix, POO, greedy start, dual scores, swap refinement, label-enhanced variant. */
export { costMatrix, gradientCost } from './cost';
export type { CostMatrix, CostScale } from './cost';
export { poo } from './poo';
export type { PooOptions, PooResult } from './poo';
export { greedyStart } from './greedy';
export type { GreedyStart } from './greedy';
export { dualScores } from './scores';
export { acceptedSwaps, applySwaps, IMPROVEMENT_RELATIVE_TOLERANCE, isImprovement, refine, RefineSession } from './refine';
export type { RangeVerdict, RefineConfig, RefineHooks, RefineState, RefineStats, RefineTraceEntry, Swap } from './refine';
export { PooChain } from './swap-chain';
export { classCost, labelEnhancedSelect, labelPlan, roundHalfEven } from './label-enhanced';
export type { LabelClassPlan, LabelEnhancedResult, LabelEnhancedState } from './label-enhanced';

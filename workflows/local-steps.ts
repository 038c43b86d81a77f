/**
 * Bookkeeping steps run as local activities (docs/architecture.md "Local activities"): shared by
 * the workflows, which start them, and by the audit commands, which read them back from the
 * MarkerRecorded events Temporal records for them. No imports: workflow and client code use it.
 */

/**
 * The patch that turned the bookkeeping steps (icrlvrPlan, icrlvrCompare, goracsCompare) into
 * local activities. A step a history already holds as a regular activity replays as one
 * (test/histories); every step the patched code executes afterwards, in a run started before the
 * patch too, is a local activity (patched() is true past the replayed history). Can be deprecated
 * (deprecatePatch) once no open run and no kept history predates it.
 */
export const LOCAL_STEPS_PATCH = 'local-bookkeeping-steps';

/** The name Temporal's core SDK gives the marker of a local activity's result. */
export const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

const ARROW = ' ← ';

/**
 * The summary a local step carries (Temporal records it as the marker's user metadata, and the
 * UI shows it): its stage and the sha256 of the artifacts it reads — what a regular activity's
 * recorded input gives the audit trail, which a local activity's marker does not record.
 */
export function localStepSummary(stage: string, inputs: string[]): string {
  return inputs.length ? `${stage}${ARROW}${inputs.join(' ')}` : stage;
}

/** localStepSummary, read back. */
export function parseLocalStepSummary(summary: string): { stage: string; inputs: string[] } {
  const at = summary.indexOf(ARROW);
  if (at < 0) return { stage: summary, inputs: [] };
  return { stage: summary.slice(0, at), inputs: summary.slice(at + ARROW.length).split(' ').filter((s) => /^[0-9a-f]{64}$/.test(s)) };
}

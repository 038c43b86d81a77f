import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes every dlab run carries, so `dlab runs` lists thousands of runs from
 * Temporal's visibility store without asking any workflow: the kind (set when the run
 * starts), the current step, the headline metric and the pause flag (upserted by the run).
 */
export const DLAB_KIND = defineSearchAttributeKey('DlabKind', SearchAttributeType.KEYWORD);
export const DLAB_STEP = defineSearchAttributeKey('DlabStep', SearchAttributeType.INT);
export const DLAB_HEADLINE = defineSearchAttributeKey('DlabHeadline', SearchAttributeType.DOUBLE);
export const DLAB_PAUSED = defineSearchAttributeKey('DlabPaused', SearchAttributeType.BOOL);
export const DLAB_SEARCH_ATTRIBUTES = [DLAB_KIND, DLAB_STEP, DLAB_HEADLINE, DLAB_PAUSED] as const;

/** Memo key holding when the experiment started (kept across continue-as-new, unlike a run's start time). */
export const STARTED_AT_MEMO = 'dlabStartedAt';

/** `patched()` id of the workflow change that sets the attributes (histories recorded before it replay without). */
export const SEARCH_ATTRIBUTES_PATCH = 'dlab-search-attributes';

/**
 * The one number `dlab runs` shows per kind: icrlvr the latest held-out accuracy (avg@k),
 * goracs the current POO of the selected subset (lower is better; the greedy start's, then
 * the refined one's), smoke its step.
 */
export const HEADLINE_METRIC: Readonly<Record<string, string>> = { smoke: 'step', icrlvr: 'heldOutAccuracy', goracs: 'poo' };

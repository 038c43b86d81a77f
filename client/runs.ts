import { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { DLAB_HEADLINE, DLAB_KIND, DLAB_PAUSED, DLAB_STEP, HEADLINE_METRIC, STARTED_AT_MEMO } from '../workflows/search-attributes';
import { RunState, stateOf } from './events';

/** One experiment as `dlab runs` lists it. */
export interface RunListing {
  id: string;
  kind: string;
  state: RunState;
  /** when the experiment started (its first run, across continue-as-new) */
  started: string;
  /** when it ended, if it has */
  closed: string | null;
  step: number | null;
  /** the kind's headline metric (HEADLINE_METRIC: icrlvr heldOutAccuracy, goracs poo, smoke step) */
  headline: number | null;
  headlineMetric: string | null;
  /** the sweep that started it, for a sweep's runs */
  parent?: string;
}

export interface RunsOptions {
  /** only this kind (`icrlvr` includes icrlvr sweeps) */
  kind?: string;
  /** newest first, at most this many */
  limit: number;
}

/**
 * The experiments on the server, newest first, from Temporal's visibility store alone
 * (search attributes DlabKind, DlabStep, DlabHeadline, DlabPaused and the start-time memo):
 * no workflow is queried, so it stays one paged list call for thousands of runs. Runs that
 * continued as new are listed once, by their latest run. The SQL visibility store of the dev
 * server cannot ORDER BY, so every matching row is read (1000 per page) and sorted here.
 */
export async function listRuns(client: Client, opts: RunsOptions): Promise<{ runs: RunListing[]; total: number }> {
  const conditions = [`${DLAB_KIND.name} IS NOT NULL`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (opts.kind) conditions.push(`${DLAB_KIND.name} IN (${[opts.kind, `${opts.kind}-sweep`].map(quote).join(', ')})`);
  const runs: RunListing[] = [];
  for await (const info of client.workflow.list({ query: conditions.join(' AND '), pageSize: 1000 })) runs.push(listing(info));
  runs.sort((a, b) => (a.started < b.started ? 1 : a.started > b.started ? -1 : a.id.localeCompare(b.id)));
  return { runs: runs.slice(0, Math.max(0, opts.limit)), total: runs.length };
}

function listing(info: WorkflowExecutionInfo): RunListing {
  const sa = info.typedSearchAttributes;
  const kind = sa.get(DLAB_KIND) ?? info.type;
  const state = stateOf(info);
  const startedAt = info.memo?.[STARTED_AT_MEMO];
  return {
    id: info.workflowId,
    kind,
    state: state === 'running' && sa.get(DLAB_PAUSED) ? 'paused' : state,
    started: typeof startedAt === 'string' ? startedAt : info.startTime.toISOString(),
    closed: info.closeTime ? info.closeTime.toISOString() : null,
    step: sa.get(DLAB_STEP) ?? null,
    headline: sa.get(DLAB_HEADLINE) ?? null,
    headlineMetric: HEADLINE_METRIC[kind] ?? null,
    ...(info.parentExecution?.workflowId ? { parent: info.parentExecution.workflowId } : {}),
  };
}

/** A string literal in a visibility query. */
function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

import { Table } from 'apache-arrow';
import { Client } from '@temporalio/client';
import { ArtifactStore } from '../lib/store/artifact-store';
import { readStoredArtifact } from '../lib/store/catalog';
import { buildReport, writeReport } from '../lib/report';
import type { ModeSummary } from '../lib/icrlvr/summary';
import { goracsEvalRows, icrlvrEvalPoint, icrlvrTrainingPoint, pooTrace, smokeSummary, sweepRows } from '../lib/report/extract';
import type { IcrlvrTrainingPoint, ReportArtifact, RunDescription } from '../lib/report/run';
import { completedOutputs, decodeFirst, fetchRunChain } from './events';
import { runHistory } from './history';
import { runStatus } from './status';

/** `dlab report ID… --out DIR`: gathers every run, renders the page and its figures, writes them under `dir`. */
export async function writeRunReport(client: Client, store: ArtifactStore, ids: string[], dir: string) {
  const runs: RunDescription[] = [];
  for (const id of ids) runs.push(await describeRun(client, store, id));
  const written = await writeReport(dir, await buildReport(runs, new Date().toISOString()));
  // what the page shows next to an artifact, also for the caller to say (the CLI: on stderr)
  const problems = runs.flatMap((r) => r.artifacts.flatMap((a) => (a.problem ? [`${r.id}: artifact ${a.name} ${a.sha256}: ${a.problem}`] : [])));
  return { ...written, problems };
}

/**
 * Everything `dlab report` shows about one run, whatever its state: status (query, result
 * or events), the config the workflow was started with, every artifact its activities
 * returned with the lineage in each file, the numbers behind the plots read from those
 * artifacts in `store`, and the audit trail of activity attempts.
 */
export async function describeRun(client: Client, store: ArtifactStore, id: string): Promise<RunDescription> {
  const status = await runStatus(client, id);
  const history = await runHistory(client, id);
  const chain = await fetchRunChain(client, id);
  const input = decodeFirst(chain[0]?.events[0]?.workflowExecutionStartedEventAttributes?.input) as WorkflowInput | undefined;
  const kind = status.kind;

  // the status lists the latest of some artifacts (rollouts, scored, checkpoint); the events list every one
  const listed = new Map<string, ReportArtifact>();
  for (const a of status.artifacts) listed.set(a.sha256, { name: a.name, step: a.step, sha256: a.sha256, schema: a.schema, rows: a.rows, bytes: a.bytes });
  for (const { name, ref } of completedOutputs(chain)) if (!listed.has(ref.sha256)) listed.set(ref.sha256, { name, step: null, sha256: ref.sha256, schema: ref.schema, rows: ref.rows, bytes: ref.bytes });
  const artifacts = [...listed.values()];
  for (const a of artifacts) {
    try {
      const stored = await readStoredArtifact(store, a.sha256); // the schema's metadata only, not the record batches
      if (!stored) {
        a.problem = `missing from the store (${store.locate(a.sha256)})`;
        continue;
      }
      a.lineage = { stage: stored.stage, producer: stored.producer, configHash: stored.configHash, codeVersion: stored.codeVersion, parents: stored.parents };
      const found = await store.verify(a); // the stored bytes themselves (for S3, the object, not a cache)
      if (!found.ok) a.problem = found.actual ? `${stored.file}: sha256 is ${found.actual}: the file changed after it was written` : `missing from the store (${found.file})`;
    } catch (err) {
      a.problem = (err as Error).message;
    }
  }

  // the artifacts of one kind, every version (the extractors read each version's columns)
  const tables = async (kind: string) => {
    const out: Table[] = [];
    for (const a of artifacts) {
      if (!a.schema.startsWith(`${kind}@`) || !a.lineage) continue;
      try {
        out.push(await store.get(a));
      } catch (err) {
        a.problem = (err as Error).message; // shown next to the artifact; its numbers are left out of the plots
      }
    }
    return out;
  };
  const description: RunDescription = {
    id,
    kind,
    state: status.state,
    stage: status.stage,
    step: status.step,
    progress: status.progress,
    ...(status.error ? { error: status.error } : {}),
    ...(status.metrics ? { metrics: status.metrics } : {}),
    config: configOf(input),
    configHash: input?.configHash ?? null,
    artifacts,
    attempts: history.entries,
  };

  if (kind === 'icrlvr') {
    const groupSize = (input?.config as { groupSize?: number } | undefined)?.groupSize ?? 1;
    const evaluations = (await tables('icrlvr.eval')).map(icrlvrEvalPoint).sort((a, b) => a.step - b.step);
    const training: IcrlvrTrainingPoint[] = (await tables('icrlvr.scored'))
      .map((t) => icrlvrTrainingPoint(t, groupSize))
      .filter((p) => p.round === 0) // the workflow's metrics, too, come from a step's first sampling round
      .map(({ round: _round, ...p }) => p)
      .sort((a, b) => a.step - b.step);
    description.icrlvr = { evaluations, training };
  } else if (kind === 'icrlvr-sweep') {
    // the summary over seeds is in the sweep's result (its status query answers without it)
    const result = status.state === 'completed' ? ((await client.workflow.getHandle(id).result().catch(() => undefined)) as { results?: { summary?: ModeSummary[] } } | undefined) : undefined;
    const summary = result?.results?.summary;
    description.sweep = { rows: (await tables('icrlvr.comparison')).flatMap(sweepRows), ...(summary ? { summary } : {}) };
  } else if (kind === 'goracs') {
    description.goracs = { trace: (await tables('goracs.poo-trace')).flatMap(pooTrace), evaluation: (await tables('goracs.eval')).flatMap(goracsEvalRows) };
  } else if (kind === 'smoke') {
    description.smoke = { summary: (await tables('smoke.summary')).flatMap(smokeSummary) };
  }
  return description;
}

type WorkflowInput = { config?: unknown; configHash?: string; runs?: { mode: string; seed: number; arm?: string; config: Record<string, unknown> }[] };

/** The config as the user wrote it; a sweep's as its base config plus `sweep: {modes, seeds}` (with arms: each arm's whole config). */
function configOf(input: WorkflowInput | undefined): unknown {
  if (!input) return null;
  if (input.runs?.length) {
    const { mode: _mode, seed: _seed, ...baseConfig } = input.runs[0].config;
    // with arms: each arm's config (less mode and seed), as the runs ran it
    const arms = Object.fromEntries(input.runs.flatMap((r) => (r.arm ? [[r.arm, (({ mode: _m, seed: _s, ...c }) => c)(r.config)]] : [])));
    const sweep = { modes: [...new Set(input.runs.map((r) => r.mode))], seeds: [...new Set(input.runs.map((r) => r.seed))] };
    return Object.keys(arms).length ? { sweep: { ...sweep, arms } } : { ...baseConfig, sweep };
  }
  return input.config ?? null;
}

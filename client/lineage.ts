import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFiles as storedModelFiles } from '../lib/model/model-store';
import { Client } from '@temporalio/client';
import { ArtifactStore, sha256Hex } from '../lib/store/artifact-store';
import { DlabInputError } from '../lib/errors';
import { storeFromEnv } from '../lib/store/from-env';
import { readStoredArtifact, resolveArtifactSha } from '../lib/store/catalog';
import { buildLineageTree, collectAncestry, LineageNode, ProducingAttempt } from '../lib/store/lineage';
import type { ModelJson } from '../lib/model/model-dir';
import { collectShas, decodeFirst, fetchRunChain, HistoryEvent, localActivities } from './events';

/** `dlab lineage --json`. */
export interface LineageReport {
  sha256: string;
  tree: LineageNode;
  /** why some attempts are unknown (server unreachable, a run's history gone, …) */
  notes: string[];
  /** files in the tree whose bytes no longer hash to their address, or that are gone */
  problems: string[];
}

/**
 * Which run, stage and activity attempt produced an artifact, from which inputs, with which
 * config and code: the inputs recursively from the store's metadata (works offline), the
 * attempts from the Temporal history of each run involved (the artifact bytes cannot hold
 * the attempt: they are identical across retries). `connect` is called once, lazily.
 */
export async function artifactLineage(dlabHome: string, shaOrPrefix: string, connect: () => Promise<Client>): Promise<LineageReport> {
  const store = storeFromEnv(dlabHome); // DLAB_STORE, as the workers that wrote the artifacts
  const sha256 = await resolveArtifactSha(store, shaOrPrefix);
  const artifacts = await collectAncestry(sha256, (sha) => readStoredArtifact(store, sha));
  const experiments = [...new Set([...artifacts.values()].flatMap((a) => (a?.experimentId ? [a.experimentId] : [])))];
  const attempts = new Map<string, ProducingAttempt>();
  const modelDirs = new Set<string>();
  const modelShas = new Set<string>(); // stored models (their addresses in the prepare steps' results)
  const notes: string[] = [];

  let client: Client | undefined;
  try {
    client = await connect();
  } catch (err) {
    notes.push(`attempts unknown: ${(err as Error).message}`);
  }
  const inputs = new Map<string, string>(); // input file → sha256 when the run started
  for (const id of client ? experiments : []) {
    try {
      const chain = await fetchRunChain(client!, id);
      indexAttempts(id, chain, new Set(artifacts.keys()), attempts, modelDirs, modelShas);
      const start = decodeFirst(chain[0]?.events[0]?.workflowExecutionStartedEventAttributes?.input) as { inputFiles?: Record<string, string> } | undefined;
      for (const [f, sha] of Object.entries(start?.inputFiles ?? {})) inputs.set(f, sha);
    } catch (err) {
      notes.push(`attempts of run ${id} unknown: its history is not on the server (${(err as Error).message})`);
    }
  }
  const missing = [...artifacts.entries()].filter(([sha, a]) => a && !attempts.has(sha)).length;
  if (client && missing) notes.push(`${missing} artifact(s) appear in no completed activity's result (written mid-stage, e.g. a heartbeat chunk): attempt unknown`);
  const outside = [...artifacts.entries()].filter(([, a]) => !a).map(([sha]) => sha);
  const { files, stored, names } = await modelFiles(dlabHome, modelDirs, outside, store, modelShas);
  // every file of the tree as it is now: an artifact or model file whose bytes changed is named
  const problems: string[] = [];
  for (const [sha, a] of artifacts) {
    const file = a?.file ?? files.get(sha);
    if (!file) continue;
    const actual = stored.has(sha)
      ? await store.verifyFile(sha).then((v) => v.actual ?? 'missing', (err: Error) => `unreadable (${err.message})`)
      : file.startsWith('s3://')
        ? await store.verify({ sha256: sha }).then((v) => v.actual ?? 'missing', (err: Error) => `unreadable (${err.message})`)
        : await readFile(file).then(sha256Hex, (err: NodeJS.ErrnoException) => `unreadable (${err.code ?? err.message})`);
    if (actual !== sha) problems.push(`${file}: expected sha256 ${sha}, ${actual.length === 64 ? `found ${actual}` : actual}`);
  }
  // the input files the runs started from, as they were then and as they are now
  for (const [f, sha] of inputs) {
    const now = await readFile(f).then(sha256Hex, (err: NodeJS.ErrnoException) => `unreadable (${err.code ?? err.message})`);
    notes.push(`input ${f}: sha256 ${sha} when the run started${now === sha ? ', unchanged' : `; now ${now.length === 64 ? `sha256 ${now}: changed since` : now}`}`);
  }
  return { sha256, tree: buildLineageTree(sha256, artifacts, attempts, files, names), notes, problems };
}

/** For each wanted sha256 in a completed activity's result: the attempt that returned it (its `outputs` first). */
function indexAttempts(
  workflowId: string,
  chain: { runId: string; events: HistoryEvent[] }[],
  wanted: Set<string>,
  into: Map<string, ProducingAttempt>,
  modelDirs: Set<string>,
  modelShas: Set<string>,
): void {
  for (const { runId, events } of chain) {
    const scheduled = new Map<string, { activityType: string; activityId: string }>();
    const started = new Map<string, { attempt: number; worker: string | null }>();
    for (const ev of events) {
      const id = String(ev.eventId);
      const s = ev.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(id, { activityType: s.activityType?.name ?? '?', activityId: s.activityId ?? '?' });
      const st = ev.activityTaskStartedEventAttributes;
      if (st) started.set(id, { attempt: st.attempt ?? 1, worker: st.identity || null });
      const done = ev.activityTaskCompletedEventAttributes;
      if (!done) continue;
      const result = decodeFirst(done.result) as { outputs?: unknown; modelDir?: unknown; modelSha256?: unknown } | undefined;
      if (typeof result?.modelDir === 'string') modelDirs.add(result.modelDir);
      if (typeof result?.modelSha256 === 'string') modelShas.add(result.modelSha256);
      const act = scheduled.get(String(done.scheduledEventId));
      const attempt = started.get(String(done.startedEventId));
      if (!act || !attempt) continue;
      for (const sha of [...collectShas(result?.outputs), ...collectShas(result)]) {
        if (wanted.has(sha) && !into.has(sha)) into.set(sha, { workflowId, runId, ...act, ...attempt });
      }
    }
    // bookkeeping steps run as local activities: their results are in markers (docs/architecture.md)
    for (const l of localActivities(events)) {
      const result = l.result as { outputs?: unknown } | undefined;
      for (const sha of [...collectShas(result?.outputs), ...collectShas(result)]) {
        if (wanted.has(sha) && !into.has(sha)) into.set(sha, { workflowId, runId, activityType: l.activityType, activityId: l.activityId, attempt: l.attempt, worker: l.worker });
      }
    }
  }
}

/**
 * sha256 → path of the model files: the store's copies of the stored models' files (`stored`:
 * verified through the store), then the files of the model directories the runs used (their
 * model.json lists them) where this machine has them, and content-addressed models under
 * DLAB_HOME/models among `shas`.
 */
async function modelFiles(
  dlabHome: string,
  dirs: Set<string>,
  shas: string[],
  store: ArtifactStore,
  models: Set<string>,
): Promise<{ files: Map<string, string>; stored: Set<string>; names: Map<string, string> }> {
  const files = new Map<string, string>();
  const stored = new Set<string>();
  const names = new Map<string, string>();
  // a stored model's files: the store's copies, the record every machine reads alike
  for (const model of models) {
    const scratch = await mkdtemp(join(tmpdir(), 'dlab-lineage-'));
    try {
      if (!(await store.fetchFile(model, join(scratch, 'model.json')))) continue;
      const json = JSON.parse(await readFile(join(scratch, 'model.json'), 'utf8')) as ModelJson;
      for (const [name, sha] of storedModelFiles(json)) {
        files.set(sha, store.locateFile(sha));
        names.set(sha, name);
        stored.add(sha);
      }
    } catch (err) {
      // a stored model.json that is damaged or gone: `dlab verify` names it; a store out of reach is an error
      if (!(err instanceof DlabInputError)) throw err;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  // runs recorded before models were stored: the directories, where this machine has them
  for (const dir of dirs) {
    try {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
      for (const part of ['backbone', 'head', 'tokenizer'] as const) if (!files.has(json.sha256[part])) files.set(json.sha256[part], join(dir, json[part]));
    } catch {
      /* a model directory that is not on this machine: its files stay anonymous leaves */
    }
  }
  for (const sha of shas) {
    const file = join(dlabHome, 'models', `${sha}.onnx`); // lib/model/model-files.ts: models by content
    if (!files.has(sha) && (await access(file).then(() => true, () => false))) files.set(sha, file);
  }
  return { files, stored, names };
}

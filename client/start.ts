import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { pushModel } from '../lib/model/model-store';
import type { ArtifactStore } from '../lib/store/artifact-store';
import { precheckExperiment, resolveConfigPaths } from './precheck';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { configHash } from '../lib/config/canonical';
import { DlabInputError } from '../lib/errors';
import { z } from 'zod';
import { EXPERIMENT_KINDS, ExperimentKind, isExperimentKind, parseConfig, parseWith } from '../schemas/config';
import { ICRLVR_MODES } from '../schemas/config/icrlvr';
import { DLAB_KIND, STARTED_AT_MEMO } from '../workflows/search-attributes';
import { QueueMap, routedQueues } from '../lib/queues';

/** Reads a JSON config file, naming the file (and the position) when it cannot. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DlabInputError(`config file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, file);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DlabInputError(`config file ${file}: not valid JSON (${(err as Error).message})`, file);
  }
}

export interface StartOptions {
  kind: string;
  config: unknown;
  configSource?: string;
  id?: string;
  taskQueue: string;
  /**
   * Task queue per activity group (DLAB_QUEUES): the groups routed away from `taskQueue` go
   * into the workflow input, so the run keeps them whatever its workers' settings later.
   */
  queues?: QueueMap;
  /**
   * Start again under the id of an experiment that has closed (completed, failed, cancelled):
   * its earlier runs stay in the history under the same id. Without it such an id is refused.
   */
  rerun?: boolean;
  /** the workers' artifact store: where a config's model by sha256 is looked up */
  store?: ArtifactStore;
  /**
   * Store the model directory and input files there too (by their sha256, already there: not
   * sent again), so that workers on other machines can read them: `dlab run` does when
   * DLAB_STORE is set.
   */
  publish?: boolean;
}

/**
 * The workflow and its input for a config. An icrlvr config with `"sweep": {"modes": [...],
 * "seeds": [...]}` is a sweep: every (mode, seed) child config is validated here, before
 * anything starts.
 */
export function workflowArgs(kind: ExperimentKind, raw: unknown, source?: string): { workflowType: string; args: object; hash: string; checked: unknown[] } {
  if (kind === 'icrlvr' && raw && typeof raw === 'object' && 'sweep' in raw) {
    const { sweep, ...base } = raw as { sweep: unknown } & Record<string, unknown>;
    const s = parseWith(SweepSpec, sweep, `icrlvr sweep in ${source ?? 'config'} (field "sweep")`);
    // arms: named config overrides (e.g. {"full": {"trainable": "full", "lr": 3e-4}, "head": {}}), each × mode × seed
    const arms: [string | undefined, Record<string, unknown>][] = s.arms ? Object.entries(s.arms) : [[undefined, {}]];
    for (const [name, over] of arms) {
      for (const k of ['mode', 'seed', 'sweep']) if (k in over) throw new DlabInputError(`icrlvr sweep in ${source ?? 'config'}: arm "${name}" sets ${k}, which the sweep itself supplies`, `sweep.arms.${name}.${k}`);
    }
    const runs = arms.flatMap(([arm, over]) =>
      s.modes.flatMap((mode) =>
        s.seeds.map((seed) => {
          const label = `mode ${mode}${arm ? `, arm ${arm}` : ''}, seed ${seed}`;
          const config = parseConfig('icrlvr', { ...base, ...over, mode, seed }, `${source ?? 'config'} (${label})`);
          return { mode, seed, ...(arm ? { arm } : {}), config, configHash: configHash(config) };
        }),
      ),
    );
    const keys = runs.map((r) => `${r.mode}${r.arm ? `.${r.arm}` : ''}.s${r.seed}`);
    const twice = keys.find((k, i) => keys.indexOf(k) !== i);
    if (twice) throw new DlabInputError(`icrlvr sweep in ${source ?? 'config'}: the run ${twice} is listed twice (field "sweep": each mode, seed and arm once)`, 'sweep');
    // two arms that run the same config would only repeat each other
    for (const mode of s.modes) {
      const same = runs.filter((r) => r.mode === mode && r.seed === s.seeds[0]);
      const dup = same.find((r, i) => same.findIndex((q) => q.configHash === r.configHash) !== i);
      if (dup) throw new DlabInputError(`icrlvr sweep in ${source ?? 'config'}: arms "${same.find((q) => q.configHash === dup.configHash)!.arm}" and "${dup.arm}" run the same config`, 'sweep.arms');
    }
    // the arms' names are part of what the sweep is (its runs' ids)
    const hash = configHash(runs.map((r) => (r.arm ? { arm: r.arm, config: r.configHash } : r.configHash)));
    // the data checks depend on the mode (demonstrations in prompts) and the arm, not on the seed: one config per mode and arm
    const perMode = runs.filter((r) => r.seed === s.seeds[0]).map((r) => r.config);
    return { workflowType: 'icrlvrSweep', args: { configHash: hash, runs }, hash, checked: perMode };
  }
  const config = parseConfig(kind, raw, source);
  const hash = configHash(config);
  return { workflowType: kind, args: { config, configHash: hash }, hash, checked: [config] };
}

/**
 * The input files `dlab run` checked, into the store by their sha256: a model directory (its
 * model.json listed in `inputFiles`) as a stored model, data files as stored files.
 */
async function publishInputs(store: ArtifactStore, inputFiles: Record<string, string>): Promise<{ files: number; bytes: number; sent: number }> {
  const total = { files: 0, bytes: 0, sent: 0 };
  for (const [path, sha256] of Object.entries(inputFiles)) {
    if (basename(path) === 'model.json') {
      const m = await pushModel(store, dirname(path));
      if (m.sha256 !== sha256) throw new DlabInputError(`${path}: the model changed while \`dlab run\` was checking it (sha256 ${sha256}, then ${m.sha256}); run it again`, path);
      total.files += m.files;
      total.bytes += m.bytes;
      total.sent += m.sent;
    } else {
      const r = await store.putFile(path, sha256);
      total.files += 1;
      total.bytes += r.bytes;
      if (r.stored) total.sent += r.bytes;
    }
  }
  return total;
}

const SweepSpec = z
  .object({
    modes: z.array(z.enum(ICRLVR_MODES)).min(1),
    seeds: z.array(z.number().int().min(0)).min(1),
    /** optional third dimension: named arms, each a set of config fields over the base config (e.g. `trainable` and its `lr`) */
    arms: z
      .record(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'an arm name: letters, digits, _ or -, at most 32'), z.record(z.string(), z.unknown()))
      .refine((a) => Object.keys(a).length > 0, { message: 'at least one arm' })
      .optional(),
  })
  .strict();

/**
 * Validates the config for `kind` and starts the experiment's workflow. Nothing is started
 * when the kind or the config is wrong.
 */
export async function startExperiment(
  client: Client,
  opts: StartOptions,
): Promise<{ id: string; runId: string; configHash: string; warnings: string[]; published?: { files: number; bytes: number; sent: number } }> {
  if (!isExperimentKind(opts.kind)) {
    throw new DlabInputError(`unknown experiment kind "${opts.kind}" (expected one of: ${EXPERIMENT_KINDS.join(', ')})`, 'kind');
  }
  // paths in a config file mean files beside it, wherever dlab runs
  const raw = opts.configSource ? resolveConfigPaths(opts.kind, opts.config, dirname(opts.configSource)) : opts.config;
  const { workflowType, args, hash, checked } = workflowArgs(opts.kind, raw, opts.configSource);
  const queues = routedQueues(opts.queues ?? {}, opts.taskQueue);
  const inputFiles: Record<string, string> = {};
  const warnings: string[] = [];
  for (const c of checked) {
    const r = await precheckExperiment(opts.kind, c, opts.store);
    Object.assign(inputFiles, r.inputFiles);
    for (const w of r.warnings) if (!warnings.includes(w)) warnings.push(w);
  }
  if (opts.id !== undefined && !/^[^\s/][^\s]{0,199}$/.test(opts.id)) {
    throw new DlabInputError(`--id: expected 1 to 200 characters without spaces, not starting with "/", found ${JSON.stringify(opts.id)}`, 'id');
  }
  const id = opts.id ?? `${opts.kind}-${hash.slice(0, 8)}-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  const published = opts.publish && opts.store ? await publishInputs(opts.store, inputFiles) : undefined;
  try {
    const handle = await client.workflow.start(workflowType, {
      taskQueue: opts.taskQueue,
      workflowId: id,
      workflowIdReusePolicy: opts.rerun ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
      args: [{ ...args, ...(Object.keys(queues).length ? { queues } : {}), ...(Object.keys(inputFiles).length ? { inputFiles } : {}) }],
      // what `dlab runs` lists from the visibility store; the run upserts its step and headline
      typedSearchAttributes: [{ key: DLAB_KIND, value: workflowType === 'icrlvrSweep' ? 'icrlvr-sweep' : opts.kind }],
      memo: { [STARTED_AT_MEMO]: new Date().toISOString() },
    });
    return { id, runId: handle.firstExecutionRunId, configHash: hash, warnings, ...(published ? { published } : {}) };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const open = await client.workflow
        .getHandle(id)
        .describe()
        .then((d) => d.status.name === 'RUNNING', () => true);
      throw new DlabInputError(
        open
          ? `an experiment with id "${id}" is already running; pick another --id`
          : `an experiment with id "${id}" has already run; pass --rerun to run it again under the same id (its earlier run stays in the history), or pick another --id`,
        'id',
      );
    }
    throw err;
  }
}

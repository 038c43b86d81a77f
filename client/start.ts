import { readFileSync } from 'node:fs';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { configHash } from '../lib/config/canonical';
import { DlabInputError } from '../lib/errors';
import { EXPERIMENT_KINDS, isExperimentKind, parseConfig } from '../schemas/config';

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
}

/**
 * Validates the config for `kind` and starts the experiment's workflow. Nothing is started
 * when the kind or the config is wrong.
 */
export async function startExperiment(client: Client, opts: StartOptions): Promise<{ id: string; runId: string; configHash: string }> {
  if (!isExperimentKind(opts.kind)) {
    throw new DlabInputError(`unknown experiment kind "${opts.kind}" (expected one of: ${EXPERIMENT_KINDS.join(', ')})`, 'kind');
  }
  const config = parseConfig(opts.kind, opts.config, opts.configSource);
  const hash = configHash(config);
  const id = opts.id ?? `${opts.kind}-${hash.slice(0, 8)}-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  try {
    const handle = await client.workflow.start(opts.kind, {
      taskQueue: opts.taskQueue,
      workflowId: id,
      args: [{ config, configHash: hash }],
    });
    return { id, runId: handle.firstExecutionRunId, configHash: hash };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new DlabInputError(`an experiment with id "${id}" is already running; pick another --id`, 'id');
    }
    throw err;
  }
}

import { z } from 'zod';
import { DlabInputError } from '../../lib/errors';
import { SmokeConfig } from './smoke';

/** Experiment kinds and their config schemas; `dlab run <kind>` accepts exactly these. */
export const CONFIG_SCHEMAS = {
  smoke: SmokeConfig,
} as const;

export type ExperimentKind = keyof typeof CONFIG_SCHEMAS;
export const EXPERIMENT_KINDS = Object.keys(CONFIG_SCHEMAS) as ExperimentKind[];

export function isExperimentKind(kind: string): kind is ExperimentKind {
  return Object.prototype.hasOwnProperty.call(CONFIG_SCHEMAS, kind);
}

/**
 * Validates a config for `kind`; throws DlabInputError naming every bad field, what was
 * expected and what was found (`source` is the file it came from).
 */
export function parseConfig<K extends ExperimentKind>(kind: K, raw: unknown, source = 'config'): z.infer<(typeof CONFIG_SCHEMAS)[K]> {
  const result = CONFIG_SCHEMAS[kind].safeParse(raw);
  if (result.success) return result.data as z.infer<(typeof CONFIG_SCHEMAS)[K]>;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    const found = lookup(raw, issue.path);
    return `  ${path}: ${issue.message}${issue.code === 'unrecognized_keys' ? '' : ` (found ${JSON.stringify(found) ?? 'nothing'})`}`;
  });
  throw new DlabInputError(`invalid ${kind} config in ${source}:\n${lines.join('\n')}`, source);
}

function lookup(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

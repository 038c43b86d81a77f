import { z } from 'zod';
import { DlabInputError } from '../../lib/errors';
import { GoracsConfig } from './goracs';
import { IcrlvrConfig } from './icrlvr';
import { SmokeConfig } from './smoke';

/** Experiment kinds and their config schemas; `dlab run <kind>` accepts exactly these. */
export const CONFIG_SCHEMAS = {
  smoke: SmokeConfig,
  icrlvr: IcrlvrConfig,
  goracs: GoracsConfig,
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
  return parseWith(CONFIG_SCHEMAS[kind] as z.ZodType<unknown>, raw, `${kind} config in ${source}`) as z.infer<(typeof CONFIG_SCHEMAS)[K]>;
}

/** Validates `raw` with a zod schema; the error names every bad field and what was found. */
export function parseWith<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    const found = lookup(raw, issue.path);
    // JSON has no Infinity or NaN (1e999 parses to Infinity): show them as such, not as null
    const shown = typeof found === 'number' && !Number.isFinite(found) ? String(found) : (JSON.stringify(found) ?? 'nothing');
    // a cross-field rule may name a field the config leaves to its default
    const note = issue.code === 'unrecognized_keys' ? '' : found === undefined && issue.code === 'custom' ? ' (not set: its default applies)' : ` (found ${shown})`;
    return `  ${path}: ${issue.message}${note}`;
  });
  throw new DlabInputError(`invalid ${what}:\n${lines.join('\n')}`, what);
}

function lookup(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** Where the configs of several runs differ: one row per dotted path whose values are not all equal. */
export function configDifferences(configs: unknown[]): { path: string; values: (string | undefined)[] }[] {
  const flat = configs.map((c) => flatten(c));
  const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
  return paths
    .map((path) => ({ path, values: flat.map((f) => f.get(path)) }))
    .filter((row) => row.values.some((v) => v !== row.values[0]));
}

/** Leaves of a JSON value by dotted path (arrays are leaves: a list of modes is one setting), values as JSON text. */
export function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix || '(config)', JSON.stringify(value));
  }
  return out;
}

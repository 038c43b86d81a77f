/**
 * Vega-Lite spec → SVG string, in Node (no browser, no canvas): vega-lite compiles the
 * spec to Vega, a headless Vega view renders it. Data must be inline (`values`): the
 * loader refuses every URL and file, so rendering never touches the network.
 */

/** A Vega-Lite spec as JSON (the subset of typing we rely on: plain data). */
export type VegaLiteSpec = Record<string, unknown>;

interface VegaLiteModule {
  compile(spec: VegaLiteSpec): { spec: object };
}

interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}

interface VegaModule {
  parse(spec: object): unknown;
  View: new (runtime: unknown, options: { renderer: 'none'; loader: object }) => VegaView;
}

// vega and vega-lite 6 are ES modules with top-level await, which require() cannot load, and
// TypeScript compiles `import()` to require() under "module": "commonjs": keep a real import().
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

let modules: Promise<{ vl: VegaLiteModule; vega: VegaModule }> | undefined;

function loadVega(): Promise<{ vl: VegaLiteModule; vega: VegaModule }> {
  modules ??= Promise.all([importEsm('vega-lite'), importEsm('vega')]).then(([vl, vega]) => ({ vl: vl as VegaLiteModule, vega: vega as VegaModule }));
  return modules;
}

const noLoads = {
  load: (uri: string) => Promise.reject(new Error(`report plots use inline data only; refused to load ${uri}`)),
  sanitize: (uri: string) => Promise.reject(new Error(`report plots use inline data only; refused to load ${uri}`)),
  http: (uri: string) => Promise.reject(new Error(`report plots use inline data only; refused to fetch ${uri}`)),
  file: (uri: string) => Promise.reject(new Error(`report plots use inline data only; refused to read ${uri}`)),
};

/** Renders a Vega-Lite spec (inline data) to a standalone SVG document string. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vl, vega } = await loadVega();
  // a copy: vega tags the data objects it ingests, and the caller's spec is written out as-is
  const view = new vega.View(vega.parse(vl.compile(JSON.parse(JSON.stringify(spec)) as VegaLiteSpec).spec), { renderer: 'none', loader: noLoads });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

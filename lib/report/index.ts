import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../store/atomic';
import { Figure, goracsFigures, icrlvrFigures, smokeFigure, sweepFigure, timelineFigure } from './figures';
import { RenderedFigure, reportHtml } from './html';
import type { RunDescription } from './run';
import { renderSvg } from './vega';

export type { RunDescription } from './run';

export interface Report {
  html: string;
  figures: RenderedFigure[];
}

/**
 * Runs → the report page and its figures (specs with inline data, rendered to SVG).
 * One run: its learning curves / POO / method comparison sit in its own section. Several:
 * the curves of all runs of a kind are overlaid in a comparison section, coloured by run.
 */
export async function buildReport(runs: RunDescription[], generatedAt: string): Promise<Report> {
  const many = runs.length > 1;
  const perRun = new Map<string, RenderedFigure[]>();
  const comparison: RenderedFigure[] = [];
  const all: RenderedFigure[] = [];
  const render = async (f: Figure): Promise<RenderedFigure> => {
    const r = { ...f, svg: await renderSvg(f.spec) };
    all.push(r);
    return r;
  };

  const shared = [...icrlvrFigures(runs), ...goracsFigures(runs)];
  for (const f of shared) {
    const rendered = await render(f);
    if (many) comparison.push(rendered);
    else perRun.set(runs[0].id, [...(perRun.get(runs[0].id) ?? []), rendered]);
  }
  for (const run of runs) {
    const own = [sweepFigure(run), smokeFigure(run), timelineFigure(run)].filter((f): f is Figure => f !== undefined);
    for (const f of own) perRun.set(run.id, [...(perRun.get(run.id) ?? []), await render(f)]);
  }
  uniqueNames(all);
  return { html: reportHtml(runs, { comparison, perRun }, generatedAt), figures: all };
}

/** Two runs whose ids slug the same would share a file name: number the later ones. */
function uniqueNames(figs: RenderedFigure[]): void {
  const seen = new Map<string, number>();
  for (const f of figs) {
    const n = seen.get(f.name) ?? 0;
    seen.set(f.name, n + 1);
    if (n > 0) f.name = `${f.name}-${n + 1}`;
  }
}

/**
 * Writes DIR/index.html, and for every figure DIR/plots/<name>.vl.json (the Vega-Lite spec
 * with its data inline) and DIR/plots/<name>.svg. Returns the paths written.
 */
export async function writeReport(dir: string, report: Report): Promise<{ html: string; plots: { name: string; spec: string; svg: string }[] }> {
  const root = resolve(dir);
  await fs.mkdir(join(root, 'plots'), { recursive: true });
  const plots = [];
  for (const f of report.figures) {
    const spec = join(root, 'plots', `${f.name}.vl.json`);
    const svg = join(root, 'plots', `${f.name}.svg`);
    await writeFileAtomic(spec, JSON.stringify(f.spec, null, 2) + '\n');
    await writeFileAtomic(svg, f.svg);
    plots.push({ name: f.name, spec, svg });
  }
  const html = join(root, 'index.html');
  await writeFileAtomic(html, report.html);
  return { html, plots };
}

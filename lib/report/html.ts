import { configDifferences } from './config-diff';
import type { Figure } from './figures';
import { armLabel, intervalText, type ReportAttempt, type RunDescription, type SweepRow } from './run';
import { ModeSummary, SUMMARY_FIGURES, SummaryFigure } from '../icrlvr/summary';
import type { Interval } from '../stats/bootstrap';

/** A figure with its SVG, as the page embeds it. */
export interface RenderedFigure extends Figure {
  svg: string;
}

/**
 * The report page: one self-contained HTML document (inline CSS and SVG; the
 * Content-Security-Policy forbids every fetch, so opening it never touches the network).
 */
export function reportHtml(runs: RunDescription[], figures: { comparison: RenderedFigure[]; perRun: Map<string, RenderedFigure[]> }, generatedAt: string): string {
  const ids = runs.map((r) => r.id);
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>dlab report: ${esc(ids.join(', '))}</title>`,
    `<style>${CSS}</style>`,
    '</head><body>',
    `<header><h1>dlab report</h1><p>${ids.map((id) => `<a href="#run-${esc(anchor(id))}">${esc(id)}</a>`).join(' · ')} — generated ${esc(generatedAt)}</p></header>`,
    runs.length > 1 ? comparisonSection(runs, figures.comparison) : '',
    ...runs.map((r) => runSection(r, figures.perRun.get(r.id) ?? [])),
    '</body></html>',
  ].join('\n');
}

function comparisonSection(runs: RunDescription[], figs: RenderedFigure[]): string {
  const kinds = [...new Set(runs.map((r) => r.kind))];
  return section('comparison', `Comparison of ${runs.length} runs`, [
    table(
      ['run', 'kind', 'state', 'stage', 'step', 'progress', 'config hash', 'code version'],
      runs.map((r) => [link(r.id), esc(r.kind), stateBadge(r.state), esc(r.stage), String(r.step), `${r.progress.done}/${r.progress.total}`, code(short(r.configHash)), esc(codeVersions(r).join(', ') || '—')]),
    ),
    ...kinds.map((kind) => sameKind(runs.filter((r) => r.kind === kind))),
    figures(figs),
  ]);
}

/** Metrics and config differences of the runs of one kind (configs of different kinds have nothing to compare). */
function sameKind(runs: RunDescription[]): string {
  if (runs.length < 2) return '';
  const diffs = configDifferences(runs.map((r) => r.config));
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))];
  const ids = runs.map((r) => esc(r.id));
  return [
    metricKeys.length ? `<h3>${esc(runs[0].kind)} runs: metrics</h3>${table(['metric', ...ids], metricKeys.map((k) => [esc(k), ...runs.map((r) => fmt(r.metrics?.[k]))]))}` : '',
    `<h3>${esc(runs[0].kind)} runs: config differences</h3>`,
    diffs.length
      ? table(['field', ...ids], diffs.map((d) => [code(d.path), ...d.values.map((v) => (v === undefined ? '<span class="muted">(absent)</span>' : code(v)))]), 'config-diff')
      : '<p class="muted">The configs are identical.</p>',
  ].join('\n');
}

function runSection(r: RunDescription, figs: RenderedFigure[]): string {
  return section(`run-${anchor(r.id)}`, `${esc(r.id)} <span class="kind">${esc(r.kind)}</span> ${stateBadge(r.state)}`, [
    table(
      ['stage', 'step', 'progress', 'config hash', 'code version'],
      [[esc(r.stage), String(r.step), `${r.progress.done}/${r.progress.total}`, code(r.configHash ?? '—'), esc(codeVersions(r).join(', ') || '—')]],
    ),
    r.error ? `<p class="error">${esc(r.error)}</p>` : '',
    r.metrics && Object.keys(r.metrics).length ? `<h3>Metrics</h3>${table(Object.keys(r.metrics).map(esc), [Object.values(r.metrics).map(fmt)])}` : '',
    r.sweep?.summary?.length ? `<h3>Modes over seeds</h3>${summaryTable(r.sweep.summary)}` : '',
    r.sweep?.rows.length ? `<h3>Comparison per mode</h3>${sweepTable(r.sweep.rows)}` : '',
    r.goracs?.evaluation.length ? `<h3>Selection methods</h3>${goracsTable(r)}` : '',
    figures(figs),
    `<h3>Config</h3><pre>${esc(JSON.stringify(r.config, null, 2))}</pre>`,
    `<h3>Artifacts (${r.artifacts.length})</h3>`,
    table(
      ['name', 'step', 'sha256', 'schema', 'rows', 'bytes', 'stage', 'producer', 'config hash', 'code version', 'parents'],
      r.artifacts.map((a) => [
        esc(a.name),
        a.step === null ? '—' : String(a.step),
        `<code title="${esc(a.sha256)}">${esc(a.sha256.slice(0, 16))}</code>`,
        esc(a.schema),
        String(a.rows),
        String(a.bytes),
        esc(a.lineage?.stage ?? ''),
        esc(a.lineage?.producer ?? ''),
        a.problem ? `<span class="error">${esc(a.problem)}</span>` : a.lineage ? code(short(a.lineage.configHash)) : '<span class="muted">not in this store</span>',
        esc(a.lineage?.codeVersion ?? ''),
        a.lineage ? a.lineage.parents.map((p) => `<code title="${esc(p)}">${esc(p.slice(0, 8))}</code>`).join(' ') : '',
      ]),
      'artifacts',
    ),
    `<h3>Step durations</h3>${durationTable(r.attempts)}`,
    `<details><summary>Audit trail: ${r.attempts.length} activity attempts</summary>${attemptTable(r.attempts)}</details>`,
  ]);
}

/** Per stage and activity: attempts, how many failed and were retried, durations of the completed ones. */
function durationTable(attempts: ReportAttempt[]): string {
  const groups = new Map<string, ReportAttempt[]>();
  for (const a of attempts) {
    const key = `${a.stage}\u0000${a.activity}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  const rows = [...groups.values()].map((g) => {
    const done = g.filter((a) => a.status === 'completed' && a.durationMs !== null).map((a) => a.durationMs!);
    const total = done.reduce((s, d) => s + d, 0);
    return [
      esc(g[0].stage),
      esc(g[0].activity),
      String(g.length),
      String(g.filter((a) => a.status === 'completed').length),
      String(g.filter((a) => a.status === 'failed' || a.status === 'timed_out' || a.status === 'abandoned').length),
      String(g.filter((a) => a.attempt > 1).length),
      String(g.filter((a) => a.status === 'running').length),
      secs(total),
      done.length ? secs(total / done.length) : '—',
      done.length ? secs(Math.max(...done)) : '—',
    ];
  });
  return table(['stage', 'activity', 'attempts', 'completed', 'failed', 'retries', 'running', 'total', 'mean', 'max'], rows, 'durations');
}

function attemptTable(attempts: ReportAttempt[]): string {
  const children = attempts.some((a) => a.workflowId);
  return table(
    [...(children ? ['workflow'] : []), 'started', 'stage', 'activity', 'attempt', 'status', 'duration', 'worker', 'resumed from batch', 'error'],
    attempts.map((a) => [
      ...(children ? [esc(a.workflowId ?? '')] : []),
      esc(a.startedAt ?? '?'),
      esc(a.stage),
      esc(a.activity),
      String(a.attempt),
      esc(a.status),
      a.durationMs === null ? '?' : secs(a.durationMs),
      esc(a.worker ?? '?'),
      a.resumedFromBatch ? String(a.resumedFromBatch) : '',
      esc(a.error ?? ''),
    ]),
    'attempts',
  );
}

/** Per mode: each figure's mean over seeds [95 % bootstrap interval], and its paired difference to rlvr. */
function summaryTable(modes: ModeSummary[]): string {
  const labels: Record<SummaryFigure, string> = {
    avgAtK: 'avg@k',
    passAtK: 'pass@k',
    processScoreCorrect: 'process score of correct',
    heldOutLuckyShareCorrect: 'held-out: lucky of correct',
    luckyShareCorrect: 'train: lucky of correct',
    egLuckAuc: 'EG-vs-luck AUC',
  };
  const cell = (i: Interval | undefined, signed = false) => intervalText(i, signed) + (i && i.n <= 1 ? ' (1 seed)' : '');
  const body = modes.flatMap((m) => [
    [esc(armLabel(m)), String(m.seeds.length), ...SUMMARY_FIGURES.map((f) => cell(m.figures[f]))],
    ...(m.vsRlvr ? [[`${esc(armLabel(m))} − ${esc(armLabel({ mode: 'rlvr', arm: m.arm }))}`, String(m.seeds.length), ...SUMMARY_FIGURES.map((f) => cell(m.vsRlvr![f], true))]] : []),
  ]);
  return table(['mode', 'seeds', ...SUMMARY_FIGURES.map((f) => esc(labels[f]))], body, 'sweep-summary');
}

/** Mean ± sd over seeds, per mode and evaluation step. */
function sweepTable(rows: SweepRow[]): string {
  const keys = [...new Set(rows.map((r) => `${r.step}\u0000${armLabel(r)}`))];
  const cols: [keyof SweepRow, string][] = [
    ['avgAtK', 'avg@k'],
    ['passAtK', 'pass@k'],
    ['processScoreCorrect', 'process score of correct'],
    ['rewardMean', 'train reward'],
    ['egCorrect', 'EG correct'],
    ['egIncorrect', 'EG incorrect'],
    ['luckyShareCorrect', 'train: lucky of correct'],
    ['heldOutLuckyShareCorrect', 'held-out: lucky of correct'],
    ['egSound', 'EG sound'],
    ['egLucky', 'EG lucky'],
    ['egLuckAuc', 'EG-vs-luck AUC'],
  ];
  const body = keys
    .map((k) => k.split('\u0000'))
    .sort((a, b) => Number(a[0]) - Number(b[0]) || a[1].localeCompare(b[1]))
    .map(([step, mode]) => {
      const mine = rows.filter((r) => String(r.step) === step && armLabel(r) === mode);
      return [step, esc(mode), String(mine.length), ...cols.map(([c]) => meanSd(mine.map((r) => r[c] as number | null)))];
    });
  return table(['step', 'mode', 'seeds', ...cols.map(([, t]) => esc(t))], body, 'sweep');
}

function goracsTable(r: RunDescription): string {
  const ev = r.goracs!.evaluation;
  const methods = [...new Set(ev.map((e) => e.method))];
  const metrics = [...new Set(ev.map((e) => e.metric))];
  return table(
    ['method', 'budget', 'seeds', ...metrics.map(esc)],
    methods.map((m) => {
      const mine = ev.filter((e) => e.method === m);
      return [esc(m), String(mine[0].budget), String(new Set(mine.map((e) => e.seed)).size), ...metrics.map((k) => meanSd(mine.filter((e) => e.metric === k).map((e) => e.value)))];
    }),
    'goracs',
  );
}

function figures(figs: RenderedFigure[]): string {
  return figs
    .map(
      (f) =>
        `<figure class="plot" id="plot-${esc(f.name)}" data-plot="${esc(f.name)}">${stripProlog(f.svg)}` +
        `<figcaption><b>${esc(f.title)}</b> — ${esc(f.caption)} <span class="muted">(spec and data: plots/${esc(f.name)}.vl.json)</span></figcaption></figure>`,
    )
    .join('\n');
}

function section(id: string, titleHtml: string, parts: string[]): string {
  return `<section id="${esc(id)}"><h2>${titleHtml}</h2>\n${parts.filter(Boolean).join('\n')}\n</section>`;
}

function table(headers: string[], rows: string[][], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function codeVersions(r: RunDescription): string[] {
  return [...new Set(r.artifacts.map((a) => a.lineage?.codeVersion).filter((v): v is string => !!v))];
}

function meanSd(xs: (number | null)[]): string {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (!v.length) return '—';
  const m = v.reduce((s, x) => s + x, 0) / v.length;
  if (v.length === 1) return fmt(m);
  const sd = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1));
  return `${fmt(m)} ± ${fmt(sd)}`;
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return Number.isInteger(x) ? String(x) : Number(x.toPrecision(4)).toString();
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const short = (hash: string | null) => (hash ? hash.slice(0, 16) : '—');
const code = (s: string) => `<code>${esc(s)}</code>`;
const link = (id: string) => `<a href="#run-${esc(anchor(id))}">${esc(id)}</a>`;
const anchor = (id: string) => id.replace(/[^A-Za-z0-9_-]+/g, '_');
const stateBadge = (state: string) => `<span class="state state-${esc(state)}">${esc(state)}</span>`;

function stripProlog(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; } h3 { margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
pre { background: #f7f7f7; border: 1px solid #e4e4e4; padding: 0.6em; overflow: auto; max-height: 30em; font-size: 12px; }
figure.plot { display: inline-block; margin: 0.6em 1em 0.6em 0; vertical-align: top; } figure.plot svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; max-width: 440px; } .muted { color: #888; } .error { color: #b00020; } .kind { font-weight: normal; color: #666; font-size: 0.8em; }
.state { font-size: 0.7em; padding: 1px 6px; border-radius: 3px; color: white; background: #888; vertical-align: middle; }
.state-completed { background: #2e7d32; } .state-running { background: #1565c0; } .state-paused { background: #f9a825; } .state-failed { background: #c62828; } .state-cancelled { background: #6d4c41; }
details { margin: 0.6em 0; }
`;

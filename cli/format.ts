import { armLabel, intervalText, type ActivityAttempt } from '../lib/report/run';
import type { RunListing } from '../client/runs';
import type { StatusReport } from '../client/status';
import { formatWaiting } from '../client/waiting';

/** Human-readable `dlab status`. */
export function formatStatus(s: StatusReport): string {
  const lines = [
    `${s.id}  (${s.kind})`,
    `  state     ${s.state}${s.error ? ` — ${s.error}` : ''}`,
    `  stage     ${s.stage}  (step ${s.step})`,
    `  progress  step ${s.progress.done}/${s.progress.total}${s.stageProgress ? `, ${s.stage} batch ${s.stageProgress.done}/${s.stageProgress.total}` : ''}`,
  ];
  for (const w of s.waiting ?? []) lines.push(`  waiting   ${formatWaiting(w)}`);
  if (s.metrics) {
    lines.push(`  metrics   ${Object.entries(s.metrics).map(([k, v]) => `${k}=${v === null ? '—' : Number(v).toPrecision(4)}`).join('  ')}`);
  }
  if (s.kind === 'icrlvr-sweep' && s.summary?.length) {
    // per (arm,) mode: mean [95 % interval] over seeds; "vs rlvr": the paired difference
    const f = intervalText;
    lines.push('  summary   (mean [95 % interval] over seeds; vs rlvr: paired by seed)');
    for (const m of s.summary) {
      const name = armLabel(m);
      lines.push(`    ${name.padEnd(20)} avg@k ${f(m.figures.avgAtK)}  process ${f(m.figures.processScoreCorrect)}  lucky ${f(m.figures.luckyShareCorrect)}  EG-luck AUC ${f(m.figures.egLuckAuc)}  (${m.seeds.length} seeds)`);
      if (m.vsRlvr) lines.push(`    ${''.padEnd(20)} vs rlvr: avg@k ${f(m.vsRlvr.avgAtK, true)}  process ${f(m.vsRlvr.processScoreCorrect, true)}  lucky ${f(m.vsRlvr.luckyShareCorrect, true)}  EG-luck AUC ${f(m.vsRlvr.egLuckAuc, true)}`);
    }
  }
  if (s.artifacts.length) {
    lines.push('  artifacts');
    for (const a of s.artifacts) lines.push(`    ${a.name.padEnd(12)} step ${String(a.step).padEnd(4)} ${a.sha256.slice(0, 16)}  ${a.schema.padEnd(20)} ${a.rows} rows  ${a.bytes} B`);
  }
  return lines.join('\n');
}

/** Human-readable `dlab history`: one line per activity attempt. */
export function formatHistory(id: string, entries: ActivityAttempt[]): string {
  const lines = [`${id}: ${entries.length} activity attempts`];
  for (const e of entries) {
    const dur = e.durationMs === null ? '?' : `${(e.durationMs / 1000).toFixed(2)}s`;
    const resumed = e.resumedFromBatch ? ` resumed@batch ${e.resumedFromBatch}` : '';
    lines.push(
      `  ${(e.startedAt ?? '?').padEnd(24)} ${e.stage.padEnd(10)} ${e.activity.padEnd(16)} #${e.attempt} ${e.status.padEnd(9)} ${dur.padStart(8)}  ${e.worker ?? '?'}${resumed}` +
        (e.outputs.length ? `  → ${e.outputs.map((o) => o.slice(0, 12)).join(', ')}` : '') +
        (e.error ? `  (${e.error})` : '') +
        (e.workflowId ? `  [${e.workflowId}]` : ''),
    );
  }
  return lines.join('\n');
}

/** Human-readable `dlab runs`: one line per experiment, newest first. */
export function formatRuns(runs: RunListing[], total: number): string {
  const lines = [`${'ID'.padEnd(32)} ${'KIND'.padEnd(12)} ${'STATE'.padEnd(9)} ${'STARTED'.padEnd(20)} ${'STEP'.padStart(5)}  HEADLINE`];
  for (const r of runs) {
    const headline = r.headline === null ? '—' : `${r.headlineMetric ?? 'headline'} ${Number(r.headline.toPrecision(4))}`;
    lines.push(`${r.id.padEnd(32)} ${r.kind.padEnd(12)} ${r.state.padEnd(9)} ${r.started.slice(0, 19).replace('T', ' ').padEnd(20)} ${String(r.step ?? '—').padStart(5)}  ${headline}`);
  }
  lines.push(total > runs.length ? `${runs.length} of ${total} experiments (--limit to see more)` : `${total} experiment${total === 1 ? '' : 's'}`);
  return lines.join('\n');
}

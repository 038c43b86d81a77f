import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.History;
const { History } = temporal.api.history.v1;

/** A history as plain JSON (int64 as strings, bytes as base64), loadable by `historyFromFile`. */
export function historyToObject(h: History): object {
  return History.toObject(h, { longs: String, enums: Number, bytes: String, defaults: false });
}

/** Every recorded history under `dir`: `{workflowId: file name, history}` for Worker.runReplayHistories. */
export function loadHistories(dir: string): { workflowId: string; history: History }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f, history: History.fromObject(JSON.parse(readFileSync(join(dir, f), 'utf8'))) }));
}

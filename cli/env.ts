import { resolve } from 'node:path';
import { DEFAULT_TASK_QUEUE } from '../workers/worker';

/** DLAB_HOME (default ./.dlab): the artifact store, built models and the dev server's database. */
export function dlabHome(): string {
  return resolve(process.env.DLAB_HOME || '.dlab');
}

export function taskQueue(): string {
  return process.env.DLAB_TASK_QUEUE || DEFAULT_TASK_QUEUE;
}

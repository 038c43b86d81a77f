import { resolve } from 'node:path';
import { ensureWritableDir } from '../lib/store/atomic';
import { DEFAULT_TASK_QUEUE } from '../workers/worker';

/** DLAB_HOME (default ./.dlab): the artifact store, built models and the dev server's database. */
export function dlabHome(): string {
  return resolve(process.env.DLAB_HOME || '.dlab');
}

export function taskQueue(): string {
  return process.env.DLAB_TASK_QUEUE || DEFAULT_TASK_QUEUE;
}

/** DLAB_HOME, created if need be and checked writable: an input error naming it when it cannot be (e.g. under a file). */
export function writableDlabHome(home = dlabHome()): string {
  return ensureWritableDir(home, 'DLAB_HOME');
}

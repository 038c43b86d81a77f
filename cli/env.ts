import { resolve } from 'node:path';
import { ensureWritableDir } from '../lib/store/atomic';
import { DEFAULT_TASK_QUEUE } from '../workers/worker';
import { parseQueueMap, QueueMap } from '../lib/queues';

/** DLAB_HOME (default ./.dlab): the artifact store, built models and the dev server's database. */
export function dlabHome(): string {
  return resolve(process.env.DLAB_HOME || '.dlab');
}

export function taskQueue(): string {
  return process.env.DLAB_TASK_QUEUE || DEFAULT_TASK_QUEUE;
}

/** DLAB_QUEUES: the task queue per activity group (lib/queues.ts); a group not listed uses taskQueue(). */
export function queueMap(): QueueMap {
  return parseQueueMap(process.env.DLAB_QUEUES);
}

/** DLAB_HOME, created if need be and checked writable: an input error naming it when it cannot be (e.g. under a file). */
export function writableDlabHome(home = dlabHome()): string {
  return ensureWritableDir(home, 'DLAB_HOME');
}

import { ActivityDeps } from './resumable';
import { goracsActivities } from './goracs';
import { icrlvrActivities } from './icrlvr';
import { smokeActivities } from './smoke';

export type { ActivityDeps } from './resumable';

/** Every activity a dlab worker runs, bound to its store and identity. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...smokeActivities(deps),
    ...icrlvrActivities(deps),
    ...goracsActivities(deps),
    /** Does nothing: the platform benchmark measures a round trip through the server with it. */
    async noop(): Promise<void> {},
  };
}

export type Activities = ReturnType<typeof createActivities>;

import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/config/code-version';

/** The Temporal CLI release `go install` accepts (later ones carry a replace directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** Where the project builds the CLI when none is installed. */
export const LOCAL_TEMPORAL_CLI = join(PACKAGE_ROOT, '.tools', 'bin', 'temporal');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$TEMPORAL_CLI`, else `temporal` on PATH, else `.tools/bin/temporal`; undefined if none exists. */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  return isExecutable(LOCAL_TEMPORAL_CLI) ? LOCAL_TEMPORAL_CLI : undefined;
}

/**
 * The Temporal CLI, built from the Go module proxy into `.tools/bin` if no binary is found
 * (a few minutes once; later calls reuse it).
 */
export function ensureTemporalCli(log: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    throw new Error(
      'no Temporal CLI found ($TEMPORAL_CLI, `temporal` on PATH, .tools/bin/temporal) and no Go toolchain to build one; ' +
        `install Go and run \`npm run setup\`, or set TEMPORAL_CLI`,
    );
  }
  const gobin = join(PACKAGE_ROOT, '.tools', 'bin');
  mkdirSync(gobin, { recursive: true });
  log(`building the Temporal CLI: GOBIN=${gobin} go install ${TEMPORAL_CLI_MODULE} (one time, a few minutes)`);
  execFileSync('go', ['install', TEMPORAL_CLI_MODULE], { env: { ...process.env, GOBIN: gobin }, stdio: ['ignore', 'inherit', 'inherit'] });
  if (!isExecutable(LOCAL_TEMPORAL_CLI)) throw new Error(`go install finished but ${LOCAL_TEMPORAL_CLI} is missing`);
  return LOCAL_TEMPORAL_CLI;
}

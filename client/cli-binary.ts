import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../lib/config/code-version';

/** The Temporal CLI release `go install` accepts (later ones carry a replace directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/**
 * The oldest Go that builds {@link TEMPORAL_CLI_MODULE}: its go.mod asks for Go 1.25, and Go ≥ 1.21
 * fetches that toolchain through the module proxy by itself (GOTOOLCHAIN=auto, the default).
 */
export const MIN_GO = '1.21';

/** Where the project builds the CLI when none is installed. */
export const LOCAL_TEMPORAL_CLI = join(PACKAGE_ROOT, '.tools', 'bin', 'temporal');

/** The full output of the one-time `go install`. */
export const GO_BUILD_LOG = join(PACKAGE_ROOT, '.tools', 'go-build.log');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$<envVar>`, else `<name>` on PATH, else `local`; undefined if none exists. */
function findBinary(envVar: string, name: string, local: string): string | undefined {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return isExecutable(local) ? local : undefined;
}

/** `$TEMPORAL_CLI`, else `temporal` on PATH, else `.tools/bin/temporal`; undefined if none exists. */
export function findTemporalCli(): string | undefined {
  return findBinary('TEMPORAL_CLI', 'temporal', LOCAL_TEMPORAL_CLI);
}

/** The Go toolchain's version ("1.26.8"), or undefined when `go` is not on PATH. */
export function goVersion(): string | undefined {
  const go = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (go.status !== 0 || go.error) return undefined;
  return go.stdout.trim().replace(/^go/, '');
}

/** a < b for dotted version strings ("1.19.8" < "1.23"). */
export function versionLess(a: string, b: string): boolean {
  const pa = a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  }
  return false;
}

export const GO_INSTALL_HINT =
  `install Go ≥ ${MIN_GO} — Debian 13 / Ubuntu 24.04+: \`apt-get install golang-go\` (Debian 12's golang-go is 1.19, too old: ` +
  'take a golang-1.2x-go package from bookworm-backports, or the tarball from go.dev) — and run `npm run setup` again; ' +
  'or point TEMPORAL_CLI=/path/to/temporal at a Temporal CLI you already have';

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * The Temporal CLI, built from the Go module proxy into `.tools/bin` if no binary is found
 * (minutes, once; later calls reuse it). While Go builds, one status line with the elapsed
 * time is kept on stderr (a line a minute when stderr is not a terminal); Go's own output
 * goes to {@link GO_BUILD_LOG}, whose tail is shown if the build fails.
 */
export async function ensureTemporalCli(out: NodeJS.WriteStream = process.stderr): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  return goInstall({ module: TEMPORAL_CLI_MODULE, binary: LOCAL_TEMPORAL_CLI, log: GO_BUILD_LOG, name: 'Temporal CLI', what: 'the Temporal CLI', lookedIn: '$TEMPORAL_CLI, `temporal` on PATH, .tools/bin/temporal', hint: GO_INSTALL_HINT }, out);
}

/** The S3-compatible server tests run the S3 artifact store against (POSIX backend: a plain directory). */
export const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';
export const LOCAL_VERSITYGW = join(PACKAGE_ROOT, '.tools', 'bin', 'versitygw');
export const VERSITYGW_BUILD_LOG = join(PACKAGE_ROOT, '.tools', 'go-build-versitygw.log');

/** `$VERSITYGW`, else `versitygw` on PATH, else `.tools/bin/versitygw`; undefined if none exists. */
export function findVersitygw(): string | undefined {
  return findBinary('VERSITYGW', 'versitygw', LOCAL_VERSITYGW);
}

/** versitygw, found or built like {@link ensureTemporalCli} (Go's log: {@link VERSITYGW_BUILD_LOG}). */
export async function ensureVersitygw(out: NodeJS.WriteStream = process.stderr): Promise<string> {
  const found = findVersitygw();
  if (found) return found;
  const hint = GO_INSTALL_HINT.replace('TEMPORAL_CLI=/path/to/temporal at a Temporal CLI', 'VERSITYGW=/path/to/versitygw at a versitygw');
  return goInstall({ module: VERSITYGW_MODULE, binary: LOCAL_VERSITYGW, log: VERSITYGW_BUILD_LOG, name: 'versitygw', what: 'versitygw (the S3 server of the tests)', lookedIn: '$VERSITYGW, `versitygw` on PATH, .tools/bin/versitygw', hint }, out);
}

interface GoInstall {
  module: string;
  /** where `go install` puts it: `.tools/bin/<name>` */
  binary: string;
  log: string;
  /** as in "no <name> found" */
  name: string;
  /** as in "building <what> once" */
  what: string;
  lookedIn: string;
  hint: string;
}

/** `go install <module>` into `.tools/bin`, with a status line on `out` and Go's output in `log`. */
async function goInstall(g: GoInstall, out: NodeJS.WriteStream): Promise<string> {
  const go = goVersion();
  if (go === undefined) {
    throw new Error(`no ${g.name} found (${g.lookedIn}) and no Go toolchain to build one: ${g.hint}`);
  }
  if (versionLess(go, MIN_GO)) {
    throw new Error(`no ${g.name} found, and Go ${go} is too old to build one: ${g.hint}`);
  }
  const gobin = join(PACKAGE_ROOT, '.tools', 'bin');
  mkdirSync(gobin, { recursive: true });
  const log = relative(process.cwd(), g.log) || g.log;
  const what = `building ${g.what} once (go install ${g.module}; Go's log: ${log})`;
  const started = Date.now();
  const tty = out.isTTY === true;
  const status = (final?: string) => {
    const line = `${what}: ${final ?? formatElapsed(Date.now() - started)}`;
    out.write(tty ? `\r\x1b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
  };
  status();
  const timer = setInterval(() => status(), tty ? 1000 : 60_000);
  const fd = openSync(g.log, 'w');
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('go', ['install', g.module], { env: { ...process.env, GOBIN: gobin }, stdio: ['ignore', fd, fd] });
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
  } finally {
    clearInterval(timer);
    closeSync(fd);
  }
  if (code !== 0 || !isExecutable(g.binary)) {
    status(`failed after ${formatElapsed(Date.now() - started)}`);
    const tail = readFileSync(g.log, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
    throw new Error(`go install ${g.module} failed (exit ${code}); the last lines of ${log}:\n${tail}`);
  }
  status(`done in ${formatElapsed(Date.now() - started)}`);
  return g.binary;
}

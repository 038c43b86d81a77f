import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { ensureWritableDir } from '../lib/store/atomic';
import { delimiter, dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/config/code-version';
import { FLOAT, GraphBuilder } from '../lib/model/onnx-graph';
import { findTemporalCli, GO_INSTALL_HINT, goVersion, LOCAL_TEMPORAL_CLI, MIN_GO, versionLess } from './cli-binary';
import { connect, TemporalTarget } from './connection';

/**
 * `dlab doctor`: is this machine ready to run dlab? Each check says ok, warn (optional or not
 * meant to be there) or fail (required and missing), with what it found and how to fix it.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  required: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  /** Every required check passed. */
  ok: boolean;
  checks: Check[];
}

export interface DoctorOptions {
  dlabHome: string;
  target: TemporalTarget;
  /** TEMPORAL_ADDRESS was set: a server is meant to be there, so its absence is a failure. */
  serverExpected: boolean;
  /** Chromium for report screenshots and the browser test: $CHROMIUM_PATH or the usual places. */
  chromiumPath?: string;
  /** Below this much free space under DLAB_HOME the disk check fails (it warns below 5×). */
  minFreeBytes?: number;
}

const GIB = 1024 ** 3;

function check(name: string, required: boolean, pass: boolean | 'warn', detail: string, fix?: string): Check {
  const status: CheckStatus = pass === true ? 'ok' : pass === 'warn' || !required ? 'warn' : 'fail';
  return { name, status, required, detail, ...(status === 'ok' ? {} : { fix }) };
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return { ok: r.status === 0 && !r.error, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function nodeCheck(): Check {
  const wanted = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const min = wanted.replace(/^>=\s*/, '');
  const have = process.versions.node;
  return check('node', true, !versionLess(have, min), `v${have} (package.json wants ${wanted})`, `install Node.js ${wanted} (nodejs.org, or your distribution's nodejs package)`);
}

function npmCheck(): Check {
  const r = run('npm', ['--version']);
  return check('npm', true, r.ok, r.ok ? r.out : 'npm not found on PATH', 'install npm (it ships with Node.js; Debian: apt-get install npm)');
}

/** Loads onnxruntime-node and runs Add(x, 1) on [1, 2]: the native binding and its CPU provider work. */
async function onnxCheck(): Promise<Check> {
  const fix = 'reinstall: rm -rf node_modules && npm install (the CPU binaries ship inside the onnxruntime-node package)';
  try {
    const ort = await import('onnxruntime-node');
    const g = new GraphBuilder('doctor');
    const x = g.input('x', FLOAT, [2]);
    const one = g.floatTensor('one', [1], new Float32Array([1]));
    g.op('Add', [x, one], undefined, 'y');
    g.output('y', FLOAT, [2]);
    const session = await ort.InferenceSession.create(g.toBytes(), { executionProviders: ['cpu'] });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
    const y = Array.from(out.y.data as Float32Array);
    await session.release();
    const version = (ort as { env?: { versions?: { common?: string } } }).env?.versions?.common ?? '';
    const pass = y[0] === 2 && y[1] === 3;
    return check('onnxruntime', true, pass, pass ? `onnxruntime-node ${version} ran Add([1, 2], 1) = [2, 3] on the CPU` : `Add([1, 2], 1) gave [${y}]`, fix);
  } catch (err) {
    return check('onnxruntime', true, false, `failed to load or run: ${(err as Error).message.split('\n')[0]}`, fix);
  }
}

function temporalCliCheck(required: boolean): Check {
  let cli: string | undefined;
  try {
    cli = findTemporalCli();
  } catch (err) {
    return check('temporal-cli', required, false, (err as Error).message, 'unset TEMPORAL_CLI or point it at the temporal binary');
  }
  if (cli) {
    const r = run(cli, ['--version']);
    return check('temporal-cli', required, r.ok, r.ok ? `${r.out.split('\n')[0]} (${cli})` : `${cli} did not run: ${r.out.split('\n')[0]}`, 'rm .tools/bin/temporal && npm run setup');
  }
  const go = goVersion();
  const fix =
    go && !versionLess(go, MIN_GO)
      ? `npm run setup (builds it with your Go ${go} into ${LOCAL_TEMPORAL_CLI}, minutes, once)`
      : GO_INSTALL_HINT;
  return check('temporal-cli', required, false, `not found ($TEMPORAL_CLI, temporal on PATH, ${LOCAL_TEMPORAL_CLI})${go ? (versionLess(go, MIN_GO) ? `; Go ${go} is too old to build it` : `; Go ${go} can build it`) : '; no Go to build it'}`, fix);
}

async function serverCheck(target: TemporalTarget, expected: boolean): Promise<Check> {
  try {
    const connection = await connect(target, 2000);
    try {
      const info = await connection.workflowService.getSystemInfo({});
      await connection.workflowService.describeNamespace({ namespace: target.namespace });
      return check('server', expected, true, `${target.address} answers (server ${info.serverVersion || 'dev'}), namespace "${target.namespace}" exists`);
    } finally {
      await connection.close();
    }
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0].replace(/\. Start one with.*$/, '');
    return check(
      'server',
      expected,
      expected ? false : 'warn',
      expected ? reason : `none at ${target.address} (fine unless one should be running: npm start and the tests start their own)`,
      'start one with `npx dlab server`, or point TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE) at a running server',
    );
  }
}

/** The nearest existing directory at or above `path` (where DLAB_HOME would be created). */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

function homeCheck(home: string): Check {
  try {
    ensureWritableDir(home, 'DLAB_HOME');
    return check('dlab-home', true, true, `${home} is writable`);
  } catch (err) {
    return check('dlab-home', true, false, (err as Error).message.replace(/; set DLAB_HOME.*$/, ''), 'set DLAB_HOME to a directory you can write (artifacts, models and the dev server database go there)');
  }
}

function diskCheck(home: string, minFree: number): Check {
  try {
    const at = existingAncestor(home);
    const s = statfsSync(at);
    const free = Number(s.bavail) * Number(s.bsize);
    const gib = (free / GIB).toFixed(1);
    const pass = free >= 5 * minFree ? true : free >= minFree ? 'warn' : false;
    return check('disk', true, pass, `${gib} GiB free under ${at}`, `free space under ${at} or set DLAB_HOME elsewhere (artifacts of a long run take GBs)`);
  } catch (err) {
    return check('disk', true, false, `cannot stat ${home}: ${(err as Error).message}`, 'set DLAB_HOME to an existing, writable place');
  }
}

/** $CHROMIUM_PATH, else chromium / chromium-browser / google-chrome on PATH, else /usr/bin/chromium. */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

function chromiumCheck(path: string | undefined): Check {
  if (!path) return check('chromium', false, false, 'not found (optional: report screenshots and the browser test)', 'apt-get install chromium, or set CHROMIUM_PATH');
  const r = run(path, ['--version']);
  return check('chromium', false, r.ok, r.ok ? `${r.out.split('\n').pop()} (${path})` : `${path} did not run`, 'apt-get install chromium, or set CHROMIUM_PATH');
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const checks: Check[] = [nodeCheck(), npmCheck(), await onnxCheck()];
  // With a server of its own to reach (TEMPORAL_ADDRESS), dlab needs no local CLI.
  checks.push(temporalCliCheck(!opts.serverExpected));
  checks.push(await serverCheck(opts.target, opts.serverExpected));
  checks.push(homeCheck(opts.dlabHome));
  checks.push(diskCheck(opts.dlabHome, opts.minFreeBytes ?? GIB));
  checks.push(chromiumCheck(opts.chromiumPath ?? findChromium()));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

export function formatDoctor(report: DoctorReport): string {
  const mark = { ok: 'ok', warn: 'warn', fail: 'FAIL' } as const;
  const w = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => {
    const head = `${mark[c.status].padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}`;
    return c.fix ? `${head}\n${' '.repeat(w + 8)}fix: ${c.fix}` : head;
  });
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  lines.push(failed.length ? `not ready: ${failed.join(', ')} failed` : 'ready: every required check passed');
  return lines.join('\n');
}

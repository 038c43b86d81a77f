import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The `dlab worker` processes of this machine (this user's), so that a worker can tell at start
 * when their ONNX Runtime pools together ask for more intra-op threads than the machine has
 * cores: pools that do stall each other at every op (docs/benchmarks.md, "Scaling out": two
 * workers at two threads each on two cores ran slower than one).
 *
 * While it runs, each worker that runs models keeps a file `<pid>.json` in
 * `<os.tmpdir()>/dlab-workers-<uid>` saying its pid, the start time of that process and its
 * thread count; it removes the file when it exits. A file whose process is gone (killed, the
 * machine restarted) or whose pid now belongs to another process (another start time) is
 * removed by the next worker that looks. Only a warning depends on it: a directory that cannot
 * be written means no warning, never a failed start.
 */
export interface LocalWorker {
  pid: number;
  threads: number;
  /** the process's start time (/proc/<pid>/stat, clock ticks after boot), where Linux has it */
  started?: string;
}

/** Where the records are: `<base>/dlab-workers-<uid>`, base os.tmpdir() (TMPDIR). */
export function peersDir(base = tmpdir()): string {
  return join(base, `dlab-workers-${process.getuid?.() ?? 'user'}`);
}

/**
 * Registers this process (removed again at its exit), then returns the other live workers'
 * records: written first, so that of workers started at the same moment at least the last to
 * look sees all of them. The directory must be this user's alone (a directory someone else made,
 * or one others may write, is not used), and the record is written through a file created anew,
 * so that nothing another user placed there is followed.
 */
export function registerLocalWorker(threads: number, dir = peersDir()): LocalWorker[] {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) return [];
    const me: LocalWorker = { pid: process.pid, threads, started: startTime(process.pid) };
    const file = join(dir, `${process.pid}.json`);
    const tmp = `${file}.tmp`;
    rmSync(tmp, { force: true }); // left by an earlier process of this pid; a link is removed, not followed
    writeFileSync(tmp, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
    renameSync(tmp, file);
    process.once('exit', () => rmSync(file, { force: true }));
    return livePeers(dir);
  } catch {
    return []; // no record, no warning
  }
}

/** The records of live processes other than this one (none without the directory); stale ones are removed. */
export function livePeers(dir = peersDir()): LocalWorker[] {
  const out: LocalWorker[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (!/^\d+\.json$/.test(name) || name === `${process.pid}.json`) continue;
    let w: LocalWorker;
    try {
      w = JSON.parse(readFileSync(join(dir, name), 'utf8')) as LocalWorker;
    } catch {
      continue; // being written (it is renamed into place whole) or not ours
    }
    if (alive(w)) out.push(w);
    else rmSync(join(dir, name), { force: true });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

function alive(w: LocalWorker): boolean {
  if (!Number.isInteger(w.pid) || w.pid <= 0) return false;
  try {
    process.kill(w.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: it exists, under another user
  }
  const now = startTime(w.pid);
  return w.started === undefined || now === undefined || now === w.started;
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces), or undefined off Linux. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The warning for a worker asking for `threads` next to `others` on a machine of `cores`
 * physical cores, or undefined when their pools fit.
 */
export function oversubscription(threads: number, others: LocalWorker[], cores: number): string | undefined {
  const total = others.reduce((n, w) => n + w.threads, threads);
  if (total <= cores) return undefined;
  const workers = others.length + 1;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const list = others.map((w) => `pid ${w.pid}: ${plural(w.threads, 'thread')}`).join(', ');
  const fix =
    workers <= cores
      ? `Divide the cores between the workers: restart them with --ort-threads ${Math.floor(cores / workers)} each (or DLAB_ORT_THREADS=${Math.floor(cores / workers)}).`
      : `There are more workers than cores: run at most ${plural(cores, 'worker')} here, at --ort-threads 1 each.`;
  return (
    `warning: ${plural(others.length, 'other dlab worker')} on this machine (${list}) and this one (${plural(threads, 'thread')}) ` +
    `run ONNX Runtime pools of ${total} intra-op threads in all on ${plural(cores, 'physical core')}; pools that together have more threads than there are cores stall each other at every op. ${fix}`
  );
}

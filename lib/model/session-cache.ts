import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { env, InferenceSession, listSupportedBackends, Tensor } from 'onnxruntime-node';
import { DlabInputError, permanentError } from '../errors';
import { Memo } from '../memo';
import { intOption } from '../config/options';

/**
 * One InferenceSession per model per process, reused by every activity that runs it.
 * Keyed by the model's sha256 (or path), so the same model is never loaded twice.
 */
const sessions = new Memo<InferenceSession>();

export function sharedSession(key: string, load: () => Promise<InferenceSession>): Promise<InferenceSession> {
  return sessions.get(key, load);
}

/** The execution providers of every session this process creates (a worker sets them at start: `--ort-providers`). */
let providers: string[] = ['cpu'];

export function executionProviders(): readonly string[] {
  return providers;
}

/**
 * Sets the process's execution providers, in ONNX Runtime's order of preference, once checked:
 * a name this ONNX Runtime build does not know is an input error listing the ones it does, and
 * a provider it knows but cannot load here (no CUDA libraries, no GPU) is an input error naming
 * it, found by creating a one-node session with it. Sessions created earlier keep theirs.
 */
export async function setExecutionProviders(list: readonly string[], where = '--ort-providers'): Promise<void> {
  const names = list.map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (!names.length) throw new DlabInputError(`${where}: expected a comma-separated list of execution providers (e.g. cuda,cpu)`, where);
  const known = listSupportedBackends().map((b) => b.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new DlabInputError(`${where}: unknown execution provider ${unknown.map((n) => `"${n}"`).join(', ')} (this ONNX Runtime build supports: ${known.join(', ')})`, where);
  env.logLevel = 'fatal'; // as the sessions' own logSeverityLevel: a provider that cannot load is reported once, below
  for (const name of names) {
    const failure = await probeProvider(name);
    if (failure) throw new DlabInputError(`${where}: execution provider "${name}" is not available on this machine: ${failure}`, where);
  }
  providers = names;
}

/**
 * Intra-op threads of every session this process creates (each session has a pool of its own):
 * `--ort-threads` (a worker sets it at start), else DLAB_ORT_THREADS, else one per physical core
 * this process may use (physicalCores). Sessions created earlier keep theirs (a session is
 * shared by key: the backbone's sha256, the head's graph). Several workers on one machine should
 * divide its cores between them: pools that together ask for more threads than there are cores
 * stall each other at every op. (Within one process the pools take turns: onnxruntime-node runs
 * a pass synchronously on the main thread.) Results do not depend on it (the kernels split their
 * outputs, not their sums, between threads: unit test at 1–4 threads).
 */
let threadCount: number | undefined;

/** The process's intra-op thread count (see threadCount), read from DLAB_ORT_THREADS on first use. */
export function intraOpThreads(): number {
  if (threadCount === undefined) {
    const fromEnv = process.env.DLAB_ORT_THREADS;
    threadCount = fromEnv === undefined || fromEnv === '' ? physicalCores() : checkThreads(fromEnv, 'DLAB_ORT_THREADS');
  }
  return threadCount;
}

/**
 * The CPUs this process may use (os.availableParallelism: its affinity mask) counted as physical
 * cores: divided by the hyper-threads a core runs where Linux's sysfs says (each CPU's
 * topology/thread_siblings_list: the CPUs of its core), as ONNX Runtime's own default counts
 * physical cores. Elsewhere, or if sysfs cannot be read, the CPUs as they are.
 */
export function physicalCores(sysCpu = '/sys/devices/system/cpu', cpus = availableParallelism()): number {
  try {
    const siblings = readdirSync(sysCpu)
      .filter((d) => /^cpu\d+$/.test(d))
      .map((d) => readFileSync(`${sysCpu}/${d}/topology/thread_siblings_list`, 'utf8').trim());
    const perCore = siblings.length / new Set(siblings).size;
    return siblings.length ? Math.max(1, Math.floor(cpus / perCore)) : cpus;
  } catch {
    return cpus;
  }
}

/** Sets the intra-op thread count of the sessions created from now on (`where` names the setting in errors). */
export function setIntraOpThreads(value: string | number, where = '--ort-threads'): void {
  threadCount = checkThreads(String(value), where);
}

const checkThreads = (value: string, where: string) => intOption(where, value, 1, 1024, 'ONNX Runtime intra-op threads a session');

/** Creates (and releases) a session of one Identity node on `name` alone: undefined when it works, else ONNX Runtime's reason. */
async function probeProvider(name: string): Promise<string | undefined> {
  const { FLOAT, GraphBuilder } = await import('./onnx-graph');
  const g = new GraphBuilder('provider-probe');
  g.op('Identity', [g.input('x', FLOAT, [1])], undefined, 'y');
  g.output('y', FLOAT, [1]);
  try {
    const session = await InferenceSession.create(g.toBytes(), { executionProviders: [name], logSeverityLevel: 4 });
    await session.release();
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n')[0];
  }
}

/**
 * Session options for deterministic math on the process's execution providers (default CPU):
 * one intra-op thread order, no graph randomness. Intra-op threads spin between the ops of a
 * run and stop spinning when it ends (`session.force_spinning_stop`): within a run they wake
 * for each op at once (a one-token generation step is hundreds of tiny ops: 0.9 ms spinning
 * against 1.3 ms sleeping, bench:model), and between runs an idle pool does not take the cores
 * the next session's pool needs (every session has its own, and scoring alternates two; ONNX
 * Runtime's default, spinning on after the run too, made those steps several times slower, and
 * on a VM shared with other jobs took the jobs' cores too). Which thread computes what does not
 * change, so results are the same bit for bit; DLAB_ORT_SPINNING=0 (never spin) or 1 (ONNX
 * Runtime's default) for comparison (benchmarks compare them). ONNX Runtime logs only fatal
 * errors itself: every other error reaches the caller as an exception, with a message dlab adds
 * context to (the providers named when the session cannot be created on them), instead of a
 * second copy on stderr.
 */
export function sessionOptions(threads = intraOpThreads(), externalDataDir?: string): InferenceSession.SessionOptions {
  const mode = process.env.DLAB_ORT_SPINNING || 'run';
  if (!['0', '1', 'run'].includes(mode)) throw new DlabInputError(`DLAB_ORT_SPINNING "${mode}": expected 0 (never spin), 1 (spin after runs too: ONNX Runtime's default) or run (spin within a run; the default)`, 'DLAB_ORT_SPINNING');
  const session: Record<string, unknown> = { intra_op: { allow_spinning: mode === '0' ? '0' : '1' } };
  if (mode === 'run') session.force_spinning_stop = '1';
  // a model created from bytes finds its external data files in this folder (the .onnx's own)
  if (externalDataDir !== undefined) session.model_external_initializers_file_folder_path = externalDataDir;
  return {
    executionProviders: [...providers],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    extra: { session },
  };
}

/**
 * InferenceSession.create with sessionOptions; a failure names the execution providers it was
 * created on. `threads`: intra-op threads, the process's (intraOpThreads) when not given.
 * `externalDataDir`: where a model given as bytes finds its external data files.
 */
export async function createSession(model: string | Uint8Array, threads?: number, externalDataDir?: string): Promise<InferenceSession> {
  const options = sessionOptions(threads, externalDataDir);
  try {
    return typeof model === 'string' ? await InferenceSession.create(model, options) : await InferenceSession.create(model, options);
  } catch (err) {
    if (providers.length === 1 && providers[0] === 'cpu') throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw Object.assign(new Error(`ONNX Runtime session on execution providers ${providers.join(', ')} (--ort-providers / DLAB_ORT_PROVIDERS): ${message}`), { cause: err });
  }
}

/**
 * session.run (of the named outputs only, with `fetches`); an error for inputs the model cannot take (an index past its positions, a wrong
 * shape or dtype) becomes an input error naming the model file and the inputs' shapes.
 */
export async function runModel(session: InferenceSession, feeds: Record<string, Tensor>, model: string, fetches?: InferenceSession.FetchesType): Promise<InferenceSession.OnnxValueMapType> {
  try {
    return await (fetches ? session.run(feeds, fetches) : session.run(feeds));
  } catch (err) {
    const input = permanentError(err);
    if (!input) throw err;
    const shown = Object.entries(feeds).filter(([k]) => !k.startsWith('past_key_values.'));
    const cache = Object.entries(feeds).find(([k]) => k.startsWith('past_key_values.'));
    const shapes = [...shown, ...(cache ? [['past_key_values.*', cache[1]] as const] : [])].map(([k, t]) => `${k} ${t.type}[${t.dims.join(', ')}]`).join(', ');
    throw new DlabInputError(`${model}: ${input.message} (inputs: ${shapes})`, model);
  }
}

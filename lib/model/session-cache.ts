import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DlabInputError, permanentError } from '../errors';
import { Memo } from '../memo';

/**
 * One InferenceSession per model per process, reused by every activity that runs it.
 * Keyed by the model's sha256 (or path), so the same model is never loaded twice.
 */
const sessions = new Memo<InferenceSession>();

export function sharedSession(key: string, load: () => Promise<InferenceSession>): Promise<InferenceSession> {
  return sessions.get(key, load);
}

/**
 * Session options for deterministic CPU math: one intra-op thread order, no graph randomness.
 * ONNX Runtime logs only fatal errors itself: every other error reaches the caller as an
 * exception, with a message dlab adds context to, instead of a second copy on stderr.
 */
export function cpuSessionOptions(threads = 1): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    // Idle intra-op threads sleep instead of spinning. Every session has its own pool, and a
    // generation step alternates two (backbone, head): spinning threads of one took the cores
    // the other's threads needed (and on a VM shared with other jobs, the jobs' cores too).
    // Which thread computes what does not change, so results are the same bit for bit.
    // DLAB_ORT_SPINNING=1 restores ONNX Runtime's default (benchmarks compare the two).
    extra: { session: { intra_op: { allow_spinning: process.env.DLAB_ORT_SPINNING === '1' ? '1' : '0' } } },
  };
}

/**
 * session.run; an error for inputs the model cannot take (an index past its positions, a wrong
 * shape or dtype) becomes an input error naming the model file and the inputs' shapes.
 */
export async function runModel(session: InferenceSession, feeds: Record<string, Tensor>, model: string, fetches?: Record<string, Tensor | null>): Promise<InferenceSession.OnnxValueMapType> {
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

import { InferenceSession } from 'onnxruntime-node';

/**
 * One InferenceSession per model per process, reused by every activity that runs it.
 * Keyed by the model's sha256 (or path), so the same model is never loaded twice.
 */
const sessions = new Map<string, Promise<InferenceSession>>();

export function sharedSession(key: string, load: () => Promise<InferenceSession>): Promise<InferenceSession> {
  let s = sessions.get(key);
  if (!s) {
    s = load();
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/** Session options for deterministic CPU math: one intra-op thread order, no graph randomness. */
export function cpuSessionOptions(threads = 1): InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
}

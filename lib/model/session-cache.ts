import { InferenceSession } from 'onnxruntime-node';
import { Memo } from '../memo';

/**
 * One InferenceSession per model per process, reused by every activity that runs it.
 * Keyed by the model's sha256 (or path), so the same model is never loaded twice.
 */
const sessions = new Memo<InferenceSession>();

export function sharedSession(key: string, load: () => Promise<InferenceSession>): Promise<InferenceSession> {
  return sessions.get(key, load);
}

/** Session options for deterministic CPU math: one intra-op thread order, no graph randomness. */
export function cpuSessionOptions(threads = 1): InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
}

import { Policy } from '../lib/model/policy';

/** One policy per model directory per worker process (its ONNX sessions are shared underneath). */
const policies = new Map<string, Promise<Policy>>();

export function policyFor(dir: string): Promise<Policy> {
  let p = policies.get(dir);
  if (!p) {
    p = Policy.load(dir);
    policies.set(dir, p);
    p.catch(() => policies.delete(dir));
  }
  return p;
}

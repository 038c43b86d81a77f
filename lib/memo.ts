/**
 * Promises by key, made once: the first caller of `get(key, make)` runs `make`, later callers
 * share its promise; a promise that rejects is forgotten (the next caller tries again); past
 * `capacity` entries the oldest is dropped. The per-process caches of workers (loaded models,
 * ONNX sessions, GORACS problems, refinement sessions) are all one of these.
 */
export class Memo<T> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(private readonly capacity = Infinity) {}

  get(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.entries.get(key);
    if (!p) {
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
      p = make();
      this.entries.set(key, p);
      p.catch(() => {
        if (this.entries.get(key) === p) this.entries.delete(key);
      });
    }
    return p;
  }

  /** The promise under `key`, if one is kept. */
  peek(key: string): Promise<T> | undefined {
    return this.entries.get(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

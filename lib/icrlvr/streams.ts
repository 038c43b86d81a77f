/**
 * RNG stream ids for every random choice of a run, from what the choice is about (stage
 * tag, step, round, question, slot), so each draw depends only on its own coordinates:
 * never on how work was split into shards or batches, or on a retry.
 */
export function streamOf(tag: string, ...coords: number[]): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 8) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 16) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 24) & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < tag.length; i++) mix(tag.charCodeAt(i));
  mix(0x7c);
  for (const c of coords) mix(c | 0);
  return h >>> 1; // 31 bits
}

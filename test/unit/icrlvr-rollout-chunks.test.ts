import { strict as assert } from 'node:assert';
import { parseConfig } from '../../schemas/config';
import { TaskData } from '../../lib/icrlvr/data';
import { ChunkState, rolloutShard } from '../../lib/icrlvr/engine';
import { readRollouts } from '../../lib/icrlvr/records';
import type { Policy } from '../../lib/model/policy';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { localIO, tempDir } from '../helpers/tmp';

/**
 * A policy whose generation is a function of the RNG stream alone (as the real one's is of the
 * prompt, the seed and the stream): tokens [s, s+1, …] and log-probs log(1/(s+3)), which float32
 * does not hold exactly, so a row read back from a chunk differs from the generated one in memory
 * unless the encoding rounds both alike.
 */
const streamPolicy = {
  async generate(prompts: string[], opts: { streams: number[] }) {
    return prompts.map((_, i) => {
      const s = opts.streams[i];
      const n = 1 + (s % 3);
      return { text: `Answer: ${s % 10}`, tokens: Array.from({ length: n }, (_, k) => s + k), logprobs: Array.from({ length: n }, (_, k) => Math.log(1 / (s + 3 + k))), finish: 'stop' };
    });
  },
} as unknown as Policy;

const data: TaskData = {
  train: Array.from({ length: 3 }, (_, i) => ({ id: `q${i}`, question: `${i}+1=`, answer: String(i + 1), solution: `${i}+1=${i + 1}\nAnswer: ${i + 1}`, split: 'train' as const })),
  heldOut: [],
  demos: [
    { id: 'd0', question: '1+1=', solution: 'Answer: 2' },
    { id: 'd1', question: '2+2=', solution: 'Answer: 4' },
  ],
};

// 3 questions × 4 rollouts in batches of 2: 6 batches
const cfg = parseConfig('icrlvr', {
  mode: 'icrlvr',
  seed: 1,
  model: { dir: 'unused' },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 3, heldOutQuestions: 1, demoPool: 2 },
  steps: 1,
  questionsPerStep: 3,
  groupSize: 4,
  demosPerGroup: 2,
  egDemos: 1,
  batchSize: 2,
});

describe('In-Context RLVR rollout shard: chunks, resume state, the shard artifact', () => {
  const dir = tempDir('icrlvr-rollout-chunks');
  const store = new LocalArtifactStore(dir.path);
  const io = localIO(store, 'rollout');
  after(() => dir.cleanup());

  const shard = (chunkEveryMs: number, resume?: ChunkState) => {
    const reported: { state: ChunkState; done: number }[] = [];
    const run = rolloutShard(streamPolicy, data, cfg, { step: 1, round: 0, questions: data.train, qOffset: 0 }, io, ['p'], { resume, onProgress: (state, done) => void reported.push({ state: structuredClone(state), done: done ?? state.nextBatch }) }, chunkEveryMs);
    return run.then((out) => ({ ...out, reported }));
  };

  it('writes the same shard artifact whether it chunks after every batch or never, and resumed from any reported state', async () => {
    const everyBatch = await shard(0);
    const never = await shard(Infinity);
    assert.equal(everyBatch.batches, 6);
    assert.equal(never.output.sha256, everyBatch.output.sha256);
    assert.equal(readRollouts(await store.get(everyBatch.output)).length, 12);
    // with no chunk written, every reported state is the start: a retry redoes the whole shard
    assert.deepEqual(never.reported.map((r) => [r.state.nextBatch, r.state.chunks.length, r.done]), [1, 2, 3, 4, 5, 6].map((d) => [0, 0, d]));
    // a chunk after every batch but the last (the shard artifact follows it)
    assert.deepEqual(everyBatch.reported.map((r) => [r.state.nextBatch, r.state.chunks.length]), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [5, 5]]);
    for (const { state } of everyBatch.reported) {
      const resumed = await shard(Infinity, state);
      assert.equal(resumed.resumedFromBatch, state.nextBatch);
      assert.equal(resumed.batchesRun, 6 - state.nextBatch);
      assert.equal(resumed.output.sha256, everyBatch.output.sha256, `resumed from batch ${state.nextBatch}`);
    }
  });

  it('names in a reported state only batches whose rows are in its chunks, in batch order', async () => {
    const { reported, output } = await shard(0);
    const all = readRollouts(await store.get(output));
    for (const { state } of reported) {
      const rows = [];
      for (const c of state.chunks) rows.push(...readRollouts(await store.get(c)));
      assert.equal(rows.length, state.nextBatch * cfg.batchSize);
      assert.deepEqual(rows, all.slice(0, rows.length));
    }
  });
});

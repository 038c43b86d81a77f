import { strict as assert } from 'node:assert';
import { IcrlvrConfig } from '../../schemas/config/icrlvr';
import { parseConfig } from '../../schemas/config';
import { TaskData } from '../../lib/icrlvr/data';
import { scoreRollouts } from '../../lib/icrlvr/engine';
import { RolloutRow, promptHash, readScored, rolloutsTable } from '../../lib/icrlvr/records';
import type { Policy } from '../../lib/model/policy';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { localIO, tempDir } from '../helpers/tmp';

/**
 * A model whose probabilities are written by hand: every target token has probability
 * 1/2 when the context contains a correct worked example ("Answer: 5"), 1/8 when it
 * contains a wrong one ("Answer: 6"), and 1/4 otherwise. So for a demo solution y_D of n
 * tokens, log π(y_D | context) = n·log(1/2), n·log(1/8) or n·log(1/4).
 */
class HandModel {
  readonly tokenizer = { encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0)), eosId: 0, padId: 0, vocabSize: 128, kind: 'dlab-builtin' as const, decode: () => '' };
  encodePrompt(s: string): number[] {
    return this.tokenizer.encode(s);
  }
  encodeContinuation(context: string, target: string) {
    return { context: this.tokenizer.encode(context), target: this.tokenizer.encode(target) };
  }
  async score(items: { context: number[]; target: number[] }[]) {
    return {
      scored: items.map((it) => {
        const ctx = String.fromCharCode(...it.context);
        const p = ctx.includes('Answer: 5') ? 1 / 2 : ctx.includes('Answer: 6') ? 1 / 8 : 1 / 4;
        const tokenLogprobs = new Float64Array(it.target.length).fill(Math.log(p));
        return { logprob: it.target.length * Math.log(p), tokenLogprobs };
      }),
    };
  }
}

const data: TaskData = {
  train: [{ id: 'q1', question: '2+3=', answer: '5', solution: '2+3=5\nAnswer: 5', split: 'train' }],
  heldOut: [],
  demos: [{ id: 'd1', question: '1+1=', solution: 'Answer: 2' }],
};

function row(groupIndex: number, completion: string): RolloutRow {
  const prompt = '2+3=\n';
  return { step: 1, round: 0, questionId: 'q1', groupIndex, demoId: '', promptHash: promptHash(prompt), prompt, completion, tokens: [1, 2], logprobs: [-0.5, -0.25], stream: groupIndex };
}

describe('In-Context RLVR scoring: reward, Evidence Gain, advantages (hand-computable model)', () => {
  const dir = tempDir('icrlvr-scoring');
  const store = new LocalArtifactStore(dir.path);
  const io = localIO(store, 'scoring');
  after(() => dir.cleanup());
  const base = {
    seed: 1,
    model: { dir: 'unused' },
    task: { type: 'arithmetic', digits: 1, trainQuestions: 1, heldOutQuestions: 1, demoPool: 1 },
    steps: 1,
    questionsPerStep: 1,
    groupSize: 4,
    demosPerGroup: 0,
    egDemos: 1,
  };
  const rollouts = [row(0, 'Answer: 5'), row(1, 'Answer: 6'), row(2, 'no idea'), row(3, 'Answer: 5')];

  async function score(cfg: IcrlvrConfig) {
    const t = rolloutsTable(rollouts);
    const { output, stats } = await scoreRollouts(new HandModel() as unknown as Policy, data, cfg, { step: 1, round: 0 }, [t], io, []);
    return { rows: readScored(await store.get(output)), stats };
  }

  it('EG_D(o) = log π(y_D | [q, o], q_D) − log π(y_D | q_D): +n·log 2 for a correct worked answer, −n·log 2 for a wrong one, 0 otherwise', async () => {
    const { rows, stats } = await score(parseConfig('icrlvr', { ...base, mode: 'rlvr' }));
    const n = 'Answer: 2'.length; // y_D tokens (one per character)
    const expected = [n * Math.log(2), -n * Math.log(2), 0, n * Math.log(2)];
    rows.forEach((r, i) => {
      assert.ok(Math.abs(r.egMean - expected[i]) < 1e-9, `rollout ${i}: EG ${r.egMean}, expected ${expected[i]}`);
      assert.ok(Math.abs(r.egTokenMean - expected[i] / n) < 1e-9);
      assert.equal(r.egDemoIds, 'd1');
    });
    assert.deepEqual(rows.map((r) => r.reward), [1, 0, 0, 1]);
    assert.ok(Math.abs(stats.egCorrectMean! - n * Math.log(2)) < 1e-9);
    assert.ok(Math.abs(stats.egIncorrectMean! - -n * Math.log(2) / 2) < 1e-9);
    assert.deepEqual(rows.map((r) => [r.logprobSum, r.logprobMean]), Array(4).fill([-0.75, -0.375]));
  });

  it('rlvr advantages are (r − mean) / (std + 1e-6) over the group: rewards [1,0,0,1] → ±0.5/(0.5+1e-6)', async () => {
    const { rows } = await score(parseConfig('icrlvr', { ...base, mode: 'rlvr' }));
    const a = 0.5 / (0.5 + 1e-6);
    assert.deepEqual(rows.map((r) => +r.advantage.toFixed(9)), [a, -a, -a, a].map((x) => +x.toFixed(9)));
    assert.deepEqual(rows.map((r) => r.kept), [1, 1, 1, 1]);
  });

  it('eg-weighted rewards r·w/mean(w), w = exp(clip(EG − mean EG)): correct answers with more evidence weigh more', async () => {
    const { rows } = await score(parseConfig('icrlvr', { ...base, mode: 'eg-weighted' }));
    const n = 9;
    const eg = [n * Math.log(2), -n * Math.log(2), 0, n * Math.log(2)];
    const mean = eg.reduce((x, y) => x + y) / 4; // n·ln2/2
    const w = eg.map((e) => Math.exp(Math.min(5, Math.max(-5, e - mean)))); // the wrong answer's −1.5·n·ln2 is clipped to −5
    const mw = w.reduce((x, y) => x + y) / 4;
    const shaped = [w[0] / mw, 0, 0, w[3] / mw];
    const ms = shaped.reduce((x, y) => x + y) / 4;
    const std = Math.sqrt(shaped.reduce((x, y) => x + (y - ms) ** 2, 0) / 4);
    rows.forEach((r, i) => assert.ok(Math.abs(r.advantage - (shaped[i] - ms) / (std + 1e-6)) < 1e-9, `rollout ${i}`));
  });

  it('dynamic sampling drops a group whose rewards are all equal', async () => {
    const t = rolloutsTable(rollouts.map((r) => ({ ...r, completion: 'Answer: 6' })));
    const { output, stats } = await scoreRollouts(new HandModel() as unknown as Policy, data, parseConfig('icrlvr', { ...base, mode: 'rlvr' }), { step: 1, round: 0 }, [t], io, []);
    const rows = readScored(await store.get(output));
    assert.deepEqual(rows.map((r) => [r.kept, r.advantage]), Array(4).fill([0, 0]));
    assert.equal(stats.keptGroups, 0);
  });
});

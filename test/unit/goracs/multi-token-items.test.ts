import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecRecord } from '../../../lib/data/rec-records';
import { rankMetrics } from '../../../lib/data/rec-metrics';
import { evalData, rankTest } from '../../../lib/goracs/evaluate';
import { buildDecoder, GptConfig } from '../../../lib/model/gpt';
import { prepareModelDir } from '../../../lib/model/model-dir';
import { Policy } from '../../../lib/model/policy';
import { tempDir } from '../../helpers/tmp';
import { SENTENCEPIECE_LIKE } from '../../helpers/tokenizers';

/**
 * GORACS next-item evaluation with a real (SentencePiece-style) tokenizer: items of several
 * tokens are ranked by Σ log π(item text | prompt) over their tokens, each encoded together with
 * the prompt. Checked against scoring every (prompt, item) pair directly with Policy.score.
 */
describe('GORACS evaluation: items of several tokens ranked by their summed log-prob', function () {
  this.timeout(60_000);
  const tmp = tempDir('goracs-multi');
  after(() => tmp.cleanup());
  const cfg: GptConfig = { vocab: 32, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 32, seed: 4 };
  // items: "12" (one token after "="), "34+12" (three), "46+1" (two), "1+2+3" (five) …
  const items = ['12', '34+12', '46+1', '1+2+3', '34', '6+4', '12+46', '3+3'];
  const records: RecRecord[] = [
    ...['1+1=', '2+2=', '3+4=', '4+6='].map((p, i) => ({ id: `p${i}`, prompt: p, target: items[i], split: 'pool' as const })),
    ...['6+6=', '1+3='].map((p, i) => ({ id: `v${i}`, prompt: p, target: items[i + 2], split: 'validation' as const })),
    ...['12+1=', '3+3=', '4+4=', '2+6=', '1+6='].map((p, i) => ({ id: `t${i}`, prompt: p, target: items[(i * 3) % items.length], split: 'test' as const })),
  ];
  const split = {
    pool: Int32Array.from([0, 1, 2, 3]),
    validation: Int32Array.from([4, 5]),
    test: Int32Array.from([6, 7, 8, 9, 10]),
  };

  it('HR@5/10 and NDCG@5/10 equal those of Policy.score over every (test prompt, candidate) pair', async () => {
    const exp = join(tmp.path, 'export');
    mkdirSync(exp, { recursive: true });
    writeFileSync(join(exp, 'model.onnx'), buildDecoder(cfg));
    writeFileSync(join(exp, 'tokenizer.json'), JSON.stringify(SENTENCEPIECE_LIKE));
    writeFileSync(join(exp, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
    await prepareModelDir({ from: exp, out: join(tmp.path, 'model') });
    const policy = await Policy.load(join(tmp.path, 'model'));
    assert.ok(items.some((s) => policy.encodeContinuation('1+1=', s).target.length > 1), 'some items are several tokens');

    const negatives = 5;
    const data = await evalData(policy, records, split, items, negatives, 7, 4);
    assert.ok(data.candidateTokens, 'the multi-token path');
    const got = await rankTest(policy.head, data);

    // reference: the same candidates (the item of each pair is read back from its target tokens), scored one pair at a time
    const width = 1 + negatives;
    const t = data.candidateTokens!;
    let hr5 = 0;
    let hr10 = 0;
    let ndcg5 = 0;
    let ndcg10 = 0;
    for (let i = 0; i < split.test.length; i++) {
      const prompt = records[split.test[i]].prompt;
      const scores = new Float64Array(width);
      for (let c = 0; c < width; c++) {
        const p = i * width + c;
        const tokens = Array.from(t.targets.subarray(t.offsets[p], t.offsets[p + 1]));
        const item = items.find((s) => JSON.stringify(policy.encodeContinuation(prompt, s).target) === JSON.stringify(tokens))!;
        if (c === 0) assert.equal(item, records[split.test[i]].target);
        const { scored } = await policy.score([policy.encodeContinuation(prompt, item)]);
        scores[c] = scored[0].logprob;
      }
      const m = rankMetrics(scores, [5, 10]);
      hr5 += m.hr[5];
      hr10 += m.hr[10];
      ndcg5 += m.ndcg[5];
      ndcg10 += m.ndcg[10];
    }
    const n = split.test.length;
    const want = { hr5: hr5 / n, hr10: hr10 / n, ndcg5: ndcg5 / n, ndcg10: ndcg10 / n };
    for (const k of ['hr5', 'hr10', 'ndcg5', 'ndcg10'] as const) assert.ok(Math.abs(got[k] - want[k]) <= 1e-12, `${k}: ${got[k]} vs ${want[k]}`);
  });
});

describe('GORACS data check: every candidate item after every test prompt fits the positions', () => {
  it('a long item after the longest test prompt is refused when the data is prepared, naming the sample and the item', async () => {
    const { checkSampleLengths } = await import('../../../lib/goracs/samples');
    const { promptFormat } = await import('../../../lib/model/prompt');
    const { BuiltinTokenizer } = await import('../../../lib/model/tokenizers/builtin');
    const prompts = promptFormat(new BuiltinTokenizer());
    const records: RecRecord[] = [
      { id: 'p0', prompt: 'ab=', target: 'x', split: 'pool' },
      { id: 't0', prompt: 'abcdef=', target: 'y', split: 'test' },
      { id: 't1', prompt: 'a=', target: 'x', split: 'test' },
    ];
    // <bos> + 7 + 1 = 9 tokens with its own target; with the 6-character item: 14
    checkSampleLengths(records, prompts, 9, 'model.build.maxPos', 'data.jsonl', true);
    assert.throws(
      () => checkSampleLengths(records, prompts, 9, 'model.build.maxPos', 'data.jsonl', true, ['x', 'y', 'zzzzzz']),
      /test sample t0 of data\.jsonl with candidate item "zzzzzz": 14 tokens \(prompt \+ item\), but the model has 9 positions \(model\.build\.maxPos\)/,
    );
    checkSampleLengths(records, prompts, 14, 'model.build.maxPos', 'data.jsonl', true, ['x', 'y', 'zzzzzz']);
  });
});

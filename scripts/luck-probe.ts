// Exploratory: how often does a pretrained toy policy reach the right answer through a wrong
// step (correct-by-luck)? Pretrains variants of the corpus in-process and samples rollouts on
// the training questions. Not part of the product; its findings choose the toy's defaults.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTaskData } from '../lib/icrlvr/data';
import { pretrainCorpus } from '../lib/icrlvr/pretrain';
import { trainGptAsync } from '../lib/model/gpt-train';
import { initialWeights } from '../lib/model/gpt-weights';
import { buildModelDir } from '../lib/model/model-dir';
import { Policy } from '../lib/model/policy';
import { BuiltinTokenizer } from '../lib/model/tokenizers/builtin';
import { PROMPT_TEMPLATES, renderPrompt } from '../lib/tasks/demos';
import { verifyAnswer } from '../lib/tasks/verifier';
import { parseConfig } from '../schemas/config';

async function main() {
  const variant = JSON.parse(process.argv[2] ?? '{}') as { digits?: number; minDigits?: number; steps?: number; memorised?: number; dModel?: number; nLayer?: number; demoPool?: number; lr?: number; temperature?: number };
  const cfg = parseConfig('icrlvr', {
    mode: 'rlvr',
    seed: 1,
    model: { build: { vocab: 104, dModel: variant.dModel ?? 64, nLayer: variant.nLayer ?? 2, nHead: 4, dFf: 256, maxPos: 160, seed: 1 } },
    pretrain: { steps: variant.steps ?? 600, batchSize: 32, lr: variant.lr ?? 0.003, ...(variant.memorised !== undefined ? { memorised: variant.memorised } : {}) },
    task: { type: 'arithmetic', digits: variant.digits ?? 2, minDigits: variant.minDigits ?? 2, trainQuestions: 60, heldOutQuestions: 20, demoPool: variant.demoPool ?? 20 },
    steps: 1,
    questionsPerStep: 8,
    maxTokens: 40,
  });
  if (!('build' in cfg.model)) throw new Error('built model expected');
  const build = cfg.model.build;
  const data = makeTaskData(cfg.task);
  const tok = new BuiltinTokenizer(build.tokenizer);
  const corpus = pretrainCorpus(data, tok, PROMPT_TEMPLATES.compact, cfg.pretrain);
  const t0 = Date.now();
  const { weights, losses } = await trainGptAsync(build, initialWeights(build), corpus, { ...cfg.pretrain! });
  const dir = join(mkdtempSync(join(tmpdir(), 'luck-')), 'm');
  await buildModelDir(build, dir, { weights, how: {} });
  const policy = await Policy.load(dir);
  const k = 8;
  const rows: { q: (typeof data.train)[number]; text: string }[] = [];
  for (let i = 0; i < data.train.length; i += 4) {
    const qs = data.train.slice(i, i + 4);
    const prompts = qs.flatMap((q) => Array.from({ length: k }, () => renderPrompt(q.question, null, PROMPT_TEMPLATES.compact)));
    const gens = await policy.generate(prompts, { maxTokens: cfg.maxTokens, temperature: variant.temperature ?? 1, topP: 1, topK: 0, stop: ['\n\n'], seed: 7, streams: prompts.map((_, j) => i * k + j) });
    gens.forEach((g, j) => rows.push({ q: qs[Math.floor(j / k)], text: g.text }));
  }
  let correct = 0;
  let lucky = 0;
  let sound = 0;
  for (const r of rows) {
    if (verifyAnswer(r.text, r.q.answer) !== 1) continue;
    correct++;
    if (data.processScore!(r.q, r.text) === 1) sound++;
    else lucky++;
  }
  const example = rows.find((r) => verifyAnswer(r.text, r.q.answer) === 1 && data.processScore!(r.q, r.text) < 1);
  console.log(JSON.stringify({ variant, corpus: corpus.length, pretrainS: (Date.now() - t0) / 1000, lossLast: losses[losses.length - 1], rollouts: rows.length, accuracy: correct / rows.length, soundShare: sound / rows.length, luckyShare: lucky / rows.length, luckyOfCorrect: correct ? lucky / correct : null, example: example ? `${example.q.question}\n${example.text}` : null }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

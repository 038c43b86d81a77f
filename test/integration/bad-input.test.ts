import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDecoder } from '../../lib/model/gpt';
import { CliResult, dlab, TestCluster } from '../helpers/cluster';

/**
 * Bad input, as a hostile but realistic user gives it, against the CLI, a real dev server and
 * a real worker. Each row: what the user runs, the exit code, what the message must name (the
 * field, file or tensor), and where it applies: that no workflow was started, that a run that
 * did start failed after exactly one attempt, that nothing half-written is left. The table is
 * documented in docs/errors.md.
 */
interface Case {
  name: string;
  /** the command, after the fixtures exist */
  run: () => Promise<CliResult>;
  code: number;
  /** what stderr must say: the field, file or tensor */
  says: RegExp;
  /** the experiment id the command would have started: it must not exist afterwards */
  notStarted?: string;
  /** a directory that must not hold any half-written `.partial-` entries afterwards */
  noPartialIn?: () => string;
}

const TINY_MODEL = { vocab: 104, dModel: 32, nLayer: 1, nHead: 4, dFf: 64, maxPos: 64, seed: 2 };
const SMOKE = { seed: 1, rows: 100, batchSize: 50 };
const ICRLVR = {
  mode: 'icrlvr',
  seed: 3,
  model: { build: { vocab: 104, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 128, seed: 2 } },
  task: { type: 'arithmetic', digits: 1, trainQuestions: 8, heldOutQuestions: 4, demoPool: 4 },
  steps: 1,
  questionsPerStep: 2,
  groupSize: 2,
  demosPerGroup: 1,
  egDemos: 1,
  maxTokens: 8,
  evalSamples: 1,
};
const GORACS = {
  seed: 1,
  budget: 10,
  maxIters: 2,
  cutNum: 3,
  model: { build: { vocab: 130, dModel: 32, nLayer: 1, nHead: 2, dFf: 64, maxPos: 16, seed: 2, tokenizer: { items: 30 } } },
  data: { type: 'synthetic', items: 30, clusters: 3, poolUsers: 60, valUsers: 20, testUsers: 20, seed: 3 },
  evaluation: { enabled: false },
};

describe('bad input: a clear error, early, once, and nothing half-written', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let env: NodeJS.ProcessEnv;
  let root: string;
  const file = (name: string, content: unknown) => {
    const p = join(root, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };
  const run = (kind: string, config: unknown, id: string, ...more: string[]) => dlab(['run', kind, '--config', file(`${id}.json`, config), '--id', id, ...more], env);
  const flip = (path: string) => {
    const b = readFileSync(path);
    b[b.length >> 1] ^= 0xff;
    writeFileSync(path, b);
  };
  let model: string;

  before(async () => {
    cluster = await TestCluster.start();
    root = cluster.root.path;
    const home = cluster.home('bad');
    env = cluster.env(home, 'bad');
    await cluster.startWorker(home, 'bad');
    model = join(root, 'models', 'tiny');
    const built = await dlab(['model', 'build', '--config', file('tiny.json', TINY_MODEL), '--out', model]);
    assert.equal(built.code, 0, built.stderr);
    const done = await run('smoke', SMOKE, 'bi-done', '--wait');
    assert.equal(done.code, 0, done.stderr);
    // the decoder export a user would prepare: 4 heads fixed in past_key_values
    writeFileSync(join(root, 'decoder.onnx'), buildDecoder({ ...TINY_MODEL }));
    writeFileSync(join(root, 'tokenizer.json'), readFileSync(join(model, 'tokenizer.json')));
    file('train.jsonl', '{"id":"q1","question":"1+1=","answer":"2"}\n{"id":"q2","question":"1+2=","answer":"3"}\n');
    file('bad-line.jsonl', '{"id":"q1","question":"1+1=","answer":"2"}\n{"id":"q2", "question": \n');
    file('demos.jsonl', '{"id":"d1","question":"2+2=","solution":"2+2=4\\nAnswer: 4"}\n');
    const rec = (id: string, split: string, label?: number) => JSON.stringify({ id, prompt: 'history <item_1> <item_2>', target: '<item_3>', split, ...(label === undefined ? {} : { label }) });
    file('samples.jsonl', [rec('p1', 'pool'), rec('p2', 'pool'), rec('v1', 'validation'), rec('t1', 'test')].join('\n') + '\n');
    file('pool-only.jsonl', [rec('p1', 'pool'), rec('p2', 'pool')].join('\n') + '\n');
  });
  after(async () => cluster?.stop());

  const tampered = (part: string) => () => {
    const dir = join(root, 'models', `tampered-${part}`);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(model)) writeFileSync(join(dir, f), readFileSync(join(model, f)));
    flip(join(dir, part));
    return dir;
  };

  const cases: Case[] = [
    // configs: exit 2 before anything starts, the field named
    { name: 'unknown kind', run: () => run('nope', SMOKE, 'bi-1'), code: 2, says: /unknown experiment kind "nope"/, notStarted: 'bi-1' },
    { name: 'config file missing', run: () => dlab(['run', 'smoke', '--config', join(root, 'none.json')], env), code: 2, says: /none\.json: cannot read it \(ENOENT\)/ },
    { name: 'config not JSON', run: () => dlab(['run', 'smoke', '--config', file('x.json', '{"seed": 1,')], env), code: 2, says: /x\.json: not valid JSON/ },
    { name: 'a test knob in a config (delayMs)', run: () => run('smoke', { ...SMOKE, delayMs: 300 }, 'bi-2'), code: 2, says: /delayMs/, notStarted: 'bi-2' },
    { name: 'negative rows', run: () => run('smoke', { ...SMOKE, rows: -5 }, 'bi-3'), code: 2, says: /rows/, notStarted: 'bi-3' },
    { name: 'rows 1e9', run: () => run('smoke', { ...SMOKE, rows: 1e9 }, 'bi-4'), code: 2, says: /rows/, notStarted: 'bi-4' },
    { name: 'a table that would not fit in memory (rows · dim)', run: () => run('smoke', { ...SMOKE, rows: 2e7, dim: 16 }, 'bi-5'), code: 2, says: /rows: rows · dim must be at most 2\^28/, notStarted: 'bi-5' },
    { name: 'heartbeatTimeoutSeconds 0.001', run: () => run('smoke', { ...SMOKE, heartbeatTimeoutSeconds: 0.001 }, 'bi-6'), code: 2, says: /heartbeatTimeoutSeconds/, notStarted: 'bi-6' },
    { name: 'infinity where a number goes', run: () => dlab(['run', 'smoke', '--config', file('inf.json', '{"seed": 1, "rows": 1e999, "batchSize": 5}'), '--id', 'bi-7'], env), code: 2, says: /rows/, notStarted: 'bi-7' },
    { name: 'egClip in the wrong order', run: () => run('icrlvr', { ...ICRLVR, egClip: [5, -5] }, 'bi-8'), code: 2, says: /egClip: expected \[low, high\]/, notStarted: 'bi-8' },
    { name: 'steps 1e9', run: () => run('icrlvr', { ...ICRLVR, steps: 1e9 }, 'bi-9'), code: 2, says: /steps/, notStarted: 'bi-9' },
    { name: 'maxPos 1e9', run: () => run('icrlvr', { ...ICRLVR, model: { build: { ...ICRLVR.model.build, maxPos: 1e9 } } }, 'bi-10'), code: 2, says: /maxPos/, notStarted: 'bi-10' },
    {
      name: 'prompts + completions longer than the model\'s positions',
      run: () => run('icrlvr', { ...ICRLVR, model: { build: { ...ICRLVR.model.build, maxPos: 16 } } }, 'bi-24'),
      code: 2,
      says: /rollout prompt of question train\d+ with demonstration demo\d+ \+ maxTokens 8: \d+ tokens, but the model has 16 positions \(model\.build\.maxPos\); lower maxTokens/,
      notStarted: 'bi-24',
    },
    {
      name: 'a held-out question too long for the positions (JSONL)',
      run: () => run('icrlvr', { ...ICRLVR, mode: 'rlvr', model: { build: { ...ICRLVR.model.build, maxPos: 40 } }, task: { type: 'jsonl', questions: 'train.jsonl', heldOut: file('long.jsonl', JSON.stringify({ id: 'long-1', question: '1+'.repeat(30) + '1=', answer: '31' }) + '\n'), demos: 'demos.jsonl' }, questionsPerStep: 1, demosPerGroup: 0 }, 'bi-25'),
      code: 2,
      says: /held-out prompt of question long-1 \+ maxTokens 8: \d+ tokens, but the model has 40 positions/,
      notStarted: 'bi-25',
    },
    {
      name: 'a model named by a sha256 the store does not have',
      run: () => run('icrlvr', { ...ICRLVR, model: { sha256: 'ab'.repeat(32) } }, 'bi-40'),
      code: 2,
      says: /model abab\S+ is not in the artifact store \(\S+\/files\/ab\/abab\S+\); store it with `dlab model push DIR`/,
      notStarted: 'bi-40',
    },
    { name: 'model pull of something that is not an address', run: () => dlab(['model', 'pull', 'abc'], env), code: 2, says: /sha256: not a sha256 hex digest: "abc"/ },
    { name: 'questionsPerStep above the training questions', run: () => run('icrlvr', { ...ICRLVR, questionsPerStep: 12 }, 'bi-11'), code: 2, says: /questionsPerStep 12 exceeds the 8 training questions of task\.trainQuestions/, notStarted: 'bi-11' },
    { name: 'demosPerGroup above the demonstration pool', run: () => run('icrlvr', { ...ICRLVR, task: { ...ICRLVR.task, demoPool: 1 }, groupSize: 4, demosPerGroup: 3 }, 'bi-12'), code: 2, says: /demosPerGroup 3 exceeds the 1 demonstrations of task\.demoPool/, notStarted: 'bi-12' },
    {
      name: 'a JSONL question file that does not exist',
      run: () => run('icrlvr', { ...ICRLVR, task: { type: 'jsonl', questions: 'missing.jsonl', heldOut: 'train.jsonl', demos: 'demos.jsonl' }, questionsPerStep: 1 }, 'bi-13'),
      code: 2,
      says: /missing\.jsonl/,
      notStarted: 'bi-13',
    },
    {
      name: 'a JSONL line that does not parse: file and line',
      run: () => run('icrlvr', { ...ICRLVR, task: { type: 'jsonl', questions: 'bad-line.jsonl', heldOut: 'train.jsonl', demos: 'demos.jsonl' }, questionsPerStep: 1 }, 'bi-14'),
      code: 2,
      says: /bad-line\.jsonl:2: expected one JSON object per line/,
      notStarted: 'bi-14',
    },
    { name: 'a sweep listing a seed twice', run: () => run('icrlvr', { ...ICRLVR, sweep: { modes: ['rlvr'], seeds: [1, 1] } }, 'bi-15'), code: 2, says: /rlvr\.s1 is listed twice/, notStarted: 'bi-15' },
    { name: 'an evaluation method twice', run: () => run('goracs', { ...GORACS, evaluation: { methods: ['random', 'random'] } }, 'bi-16'), code: 2, says: /evaluation\.methods: each entry once/, notStarted: 'bi-16' },
    { name: 'an evaluation seed twice', run: () => run('goracs', { ...GORACS, evaluation: { seeds: [0, 0] } }, 'bi-17'), code: 2, says: /evaluation\.seeds: each entry once/, notStarted: 'bi-17' },
    { name: 'more negatives than items', run: () => run('goracs', { ...GORACS, evaluation: { methods: ['random'], negatives: 40 } }, 'bi-18'), code: 2, says: /evaluation\.negatives: at most data\.items − 1 = 29 negatives exist \(found 40\)/, notStarted: 'bi-18' },
    { name: 'a budget above the pool of a data file', run: () => run('goracs', { ...GORACS, data: { type: 'jsonl', path: 'samples.jsonl' }, budget: 5 }, 'bi-19'), code: 2, says: /budget n = 5 exceeds the pool size 2 of .*samples\.jsonl/, notStarted: 'bi-19' },
    {
      name: 'a sample longer than the model\'s positions, before anything is embedded',
      run: () =>
        run('goracs', { ...GORACS, data: { type: 'jsonl', path: file('long-sample.jsonl', readFileSync(join(root, 'samples.jsonl'), 'utf8').replace('"id":"p2","prompt":"history', '"id":"p2","prompt":"a very long history of many items') ) }, budget: 1 }, 'bi-26'),
      code: 2,
      says: /sample p2 of .*long-sample\.jsonl: \d+ tokens \(prompt \+ target\), but the model has 16 positions \(model\.build\.maxPos\)/,
      notStarted: 'bi-26',
    },
    { name: 'a data file without a validation split', run: () => run('goracs', { ...GORACS, data: { type: 'jsonl', path: 'pool-only.jsonl' }, budget: 1 }, 'bi-20'), code: 2, says: /pool-only\.jsonl: no sample has split "validation"/, notStarted: 'bi-20' },
    {
      name: 'label-enhanced on unlabelled data: the sample and the file',
      run: () => run('goracs', { ...GORACS, data: { type: 'jsonl', path: 'samples.jsonl' }, budget: 1, variant: 'label-enhanced' }, 'bi-21'),
      code: 2,
      says: /variant "label-enhanced" needs a label 0 or 1 .*; p1 of .*samples\.jsonl has none/,
      notStarted: 'bi-21',
    },
    { name: 'a model directory that does not exist', run: () => run('goracs', { ...GORACS, model: { dir: 'models/none' } }, 'bi-22'), code: 2, says: /models\/none\/model\.json: cannot read a model description/, notStarted: 'bi-22' },
    { name: 'chatTemplate on a model without a chat template', run: () => run('icrlvr', { ...ICRLVR, model: { dir: model, chatTemplate: true } }, 'bi-chat'), code: 2, says: /model\.chatTemplate is true, but .*tiny has no chat template/, notStarted: 'bi-chat' },
    { name: 'model prepare --from a directory that does not exist', run: () => dlab(['model', 'prepare', '--from', join(root, 'no-export'), '--out', join(root, 'models', 'p3')]), code: 2, says: /--from .*no-export: no such directory/, noPartialIn: () => join(root, 'models') },
    { name: 'model prepare with --from and --onnx', run: () => dlab(['model', 'prepare', '--from', root, '--onnx', join(root, 'decoder.onnx'), '--out', join(root, 'models', 'p4')]), code: 2, says: /give either --from or --onnx and --tokenizer/, noPartialIn: () => join(root, 'models') },
    { name: 'model prepare with --onnx but no --tokenizer', run: () => dlab(['model', 'prepare', '--onnx', join(root, 'decoder.onnx'), '--out', join(root, 'models', 'p5')]), code: 2, says: /give --from EXPORT_DIR, or both --onnx and --tokenizer \(missing: --tokenizer\)/, noPartialIn: () => join(root, 'models') },
    { name: 'a model directory with a byte flipped in backbone.onnx', run: () => run('goracs', { ...GORACS, model: { dir: tampered('backbone.onnx')() } }, 'bi-23'), code: 2, says: /backbone\.onnx: sha256 is [0-9a-f]{64}, but .*model\.json says/, notStarted: 'bi-23' },
    { name: 'an empty --id', run: () => run('smoke', SMOKE, ''), code: 2, says: /--id: expected 1 to 200 characters/ },
    { name: 'an --id with a space', run: () => run('smoke', SMOKE, 'a b'), code: 2, says: /--id: expected 1 to 200 characters without spaces/ },
    { name: 'the id of a run that already ran, without --rerun', run: () => run('smoke', SMOKE, 'bi-done'), code: 2, says: /"bi-done" has already run; pass --rerun/ },

    // runs and their state
    { name: 'status of an unknown id', run: () => dlab(['status', 'bi-nobody'], env), code: 2, says: /no experiment with id "bi-nobody"/ },
    { name: 'history of an unknown id', run: () => dlab(['history', 'bi-nobody'], env), code: 2, says: /no experiment with id "bi-nobody"/ },
    { name: 'pause an unknown id', run: () => dlab(['pause', 'bi-nobody'], env), code: 2, says: /no experiment with id "bi-nobody"/ },
    { name: 'pause a completed run', run: () => dlab(['pause', 'bi-done'], env), code: 2, says: /pause bi-done: it is completed; nothing sent/ },
    { name: 'resume a completed run', run: () => dlab(['resume', 'bi-done'], env), code: 2, says: /resume bi-done: it is completed; nothing sent/ },
    { name: 'cancel a completed run', run: () => dlab(['cancel', 'bi-done'], env), code: 2, says: /cancel bi-done: it is completed; nothing sent/ },
    { name: 'runs --limit 0', run: () => dlab(['runs', '--limit', '0'], env), code: 2, says: /--limit: expected a positive integer, found "0"/ },

    // servers and workers
    { name: 'server --port abc', run: () => dlab(['server', '--port', 'abc'], env), code: 2, says: /--port: expected an integer in \[1, 65535\], found "abc"/ },
    { name: 'server --port 70000', run: () => dlab(['server', '--port', '70000'], env), code: 2, says: /--port: expected an integer in \[1, 65535\], found "70000"/ },
    { name: 'server on a port another server holds', run: () => dlab(['server', '--port', String(cluster.port), '--headless', '--db', join(root, 'other.db')], env), code: 2, says: new RegExp(`port ${'\\d+'} on 127\\.0\\.0\\.1 is taken`) },
    { name: 'worker --max-concurrent 0', run: () => dlab(['worker', '--max-concurrent', '0'], env), code: 2, says: /--max-concurrent: expected an integer ≥ 1, found "0"/ },
    { name: 'worker with DLAB_HOME under a file', run: () => dlab(['worker'], { ...env, DLAB_HOME: join(file('a-file', 'x'), 'home') }), code: 2, says: /DLAB_HOME=.*a-file\/home cannot be written \(ENOTDIR/ },

    // models
    ...(
      [
        ['--max-tokens', '0', /--max-tokens: expected an integer ≥ 1, found "0"/],
        ['--max-tokens', '-1', /--max-tokens: expected an integer ≥ 1, found "-1"/],
        ['--max-tokens', 'abc', /--max-tokens: expected an integer ≥ 1, found "abc"/],
        ['--temperature', '-1', /--temperature: expected a number in \[0, ∞\), found "-1"/],
        ['--top-p', '2', /--top-p: expected a number in \(0, 1\], found "2"/],
        ['--top-p', '0', /--top-p: expected a number in \(0, 1\], found "0"/],
        ['--top-k', '-5', /--top-k: expected an integer ≥ 0, found "-5"/],
        ['--seed', 'xyz', /--seed: expected an integer in \[0, 4294967295\], found "xyz"/],
      ] as const
    ).map(([opt, value, says]): Case => ({ name: `model generate ${opt} ${value}`, run: () => dlab(['model', 'generate', '--model', model, '--prompt', '1+1=', opt, value]), code: 2, says })),
    { name: 'model generate on a directory whose tokenizer.json changed', run: () => dlab(['model', 'generate', '--model', tampered('tokenizer.json')(), '--prompt', '1+1=']), code: 2, says: /tokenizer\.json: sha256 is .* the file changed/ },
    { name: 'model generate on a directory whose head.arrow changed', run: () => dlab(['model', 'generate', '--model', tampered('head.arrow')(), '--prompt', '1+1=']), code: 2, says: /head\.arrow: sha256 is .* the file changed/ },
    { name: 'model inspect of a file that does not exist', run: () => dlab(['model', 'inspect', join(root, 'nothing.onnx')]), code: 2, says: /nothing\.onnx: no such file or directory/ },
    { name: 'model inspect of a file that is not ONNX', run: () => dlab(['model', 'inspect', file('not.onnx', 'hello, world')]), code: 2, says: /not\.onnx: not an ONNX model/ },
    {
      name: 'model prepare --max-pos abc',
      run: () => dlab(['model', 'prepare', '--onnx', join(root, 'decoder.onnx'), '--tokenizer', join(root, 'tokenizer.json'), '--out', join(root, 'models', 'p1'), '--max-pos', 'abc']),
      code: 2,
      says: /--max-pos: expected an integer ≥ 1, found "abc"/,
      noPartialIn: () => join(root, 'models'),
    },
    {
      name: 'model prepare --n-head 3 for a 4-head graph',
      run: () => dlab(['model', 'prepare', '--onnx', join(root, 'decoder.onnx'), '--tokenizer', join(root, 'tokenizer.json'), '--out', join(root, 'models', 'p2'), '--n-head', '3']),
      code: 2,
      says: /--n-head 3: .*decoder\.onnx fixes 4 heads in past_key_values\.0\.key/,
      noPartialIn: () => join(root, 'models'),
    },
    {
      name: 'model prepare --out onto another model, without --force',
      run: () => dlab(['model', 'prepare', '--onnx', join(root, 'decoder.onnx'), '--tokenizer', join(root, 'tokenizer.json'), '--out', model, '--max-pos', '32']),
      code: 2,
      says: /tiny already exists and holds another model; choose another directory, or pass --force/,
      noPartialIn: () => join(root, 'models'),
    },
    {
      name: 'model build --out onto another model, without --force',
      run: () => dlab(['model', 'build', '--config', file('other.json', { ...TINY_MODEL, seed: 9 }), '--out', model]),
      code: 2,
      says: /tiny already exists and holds another model/,
      noPartialIn: () => join(root, 'models'),
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const r = await c.run();
      assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, c.says);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('dlab:')).length, 1, `one message, once: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\x1b\[/, 'no terminal escapes (ONNX Runtime logs) in the message');
      if (c.notStarted) assert.equal((await dlab(['status', c.notStarted], env)).code, 2, `no workflow ${c.notStarted} was started`);
      if (c.noPartialIn) assert.deepEqual(readdirSync(c.noPartialIn()).filter((f) => f.includes('.partial-')), [], 'no half-written model directory');
    });
  }

  it('a model directory whose model.json the tamperer left alone is refused, and the one it was copied from still loads (the worker cache is by content)', async () => {
    const ok = await dlab(['model', 'generate', '--model', model, '--prompt', '1+1=', '--max-tokens', '2']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).sha256.backbone.length, 64);
    assert.ok(!existsSync(join(root, 'models', 'p1')) && !existsSync(join(root, 'models', 'p2')), 'the refused prepares wrote nothing');
  });

  it('--rerun runs again under the id of a run that already ran', async () => {
    const r = await run('smoke', SMOKE, 'bi-done', '--rerun', '--wait');
    assert.equal(r.code, 0, r.stderr);
  });

  it('relative paths are read beside the config file, whatever directory dlab runs in; the start records each input file\'s sha256', async () => {
    const sub = join(root, 'exp');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'samples.jsonl'), readFileSync(join(root, 'samples.jsonl')));
    const cfgFile = join(sub, 'goracs.json');
    writeFileSync(cfgFile, JSON.stringify({ ...GORACS, data: { type: 'jsonl', path: 'samples.jsonl' }, budget: 1, maxIters: 1, model: { build: { ...GORACS.model.build } } }));
    const r = await dlab(['run', 'goracs', '--config', cfgFile, '--id', 'bi-paths', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const client = await cluster.client();
    const start = (await client.workflow.getHandle('bi-paths').fetchHistory()).events![0].workflowExecutionStartedEventAttributes!;
    const { payloadConverter } = await import('@temporalio/common').then((m) => ({ payloadConverter: m.defaultPayloadConverter }));
    const input = payloadConverter.fromPayload(start.input!.payloads![0]) as { config: { data: { path: string } }; inputFiles: Record<string, string> };
    assert.equal(input.config.data.path, join(sub, 'samples.jsonl'));
    assert.match(input.inputFiles[join(sub, 'samples.jsonl')], /^[0-9a-f]{64}$/);
    const done = await cluster.waitFor('bi-paths', (s) => s.state !== 'running', 120_000);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    // lineage names the input file as the run read it, and says when it has changed since
    const coreset = done.artifacts.find((a) => a.name === 'coreset')!.sha256;
    const before = await dlab(['lineage', coreset], env);
    assert.match(before.stdout, new RegExp(`note: input ${join(sub, 'samples.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sha256 [0-9a-f]{64} when the run started, unchanged`));
    writeFileSync(join(sub, 'samples.jsonl'), readFileSync(join(sub, 'samples.jsonl'), 'utf8') + '\n');
    const after = await dlab(['lineage', coreset], env);
    assert.match(after.stdout, /when the run started; now sha256 [0-9a-f]{64}: changed since/);
  });

  it('text the tokenizer would lose (unknown characters, item tokens it lacks) is started with a warning naming the samples', async () => {
    const rec = (id: string, split: string, prompt: string) => JSON.stringify({ id, prompt, target: '<item_3>', split });
    const data = file('lossy.jsonl', [rec('p1', 'pool', 'history <item_1> café'), rec('p2', 'pool', 'history <item_999>'), rec('v1', 'validation', 'history <item_2>'), rec('t1', 'test', 'history <item_2>')].join('\n') + '\n');
    const r = await run('goracs', { ...GORACS, model: { build: { ...GORACS.model.build, maxPos: 64 } }, data: { type: 'jsonl', path: data }, budget: 1, maxIters: 1 }, 'bi-lossy', '--wait');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /dlab: warning: 1 text\(s\) have characters the tokenizer does not know, which become one unknown token each: sample p1 \("é"\)/);
    assert.match(r.stderr, /dlab: warning: 1 item token\(s\) are not in the tokenizer and would be spelled out piece by piece: <item_999> in sample p2/);
  });

  it('a model file changed after the start, before the worker reads it: the run fails at its first activity, once, naming the file', async () => {
    const dir = join(root, 'models', 'changed-later');
    const built = await dlab(['model', 'build', '--config', file('goracs-model.json', GORACS.model.build), '--out', dir]);
    assert.equal(built.code, 0, built.stderr);
    const queue = { ...env, DLAB_TASK_QUEUE: 'bi-later' };
    const started = await dlab(['run', 'goracs', '--config', file('later.json', { ...GORACS, model: { dir } }), '--id', 'bi-later'], queue);
    assert.equal(started.code, 0, started.stderr); // checked and started; no worker polls bi-later yet
    flip(join(dir, 'backbone.onnx'));
    const w = await cluster.startWorker(cluster.home('later'), 'bi-later');
    const s = await cluster.waitFor('bi-later', (st) => st.state !== 'running', 120_000);
    await w.stop();
    assert.equal(s.state, 'failed');
    assert.match(s.error ?? '', /backbone\.onnx: sha256 is [0-9a-f]{64}, but .*model\.json says/);
    const { entries } = JSON.parse((await dlab(['history', 'bi-later', '--json'], env)).stdout) as { entries: { activity: string; attempt: number; status: string }[] };
    assert.deepEqual(entries.map((e) => [e.activity, e.attempt, e.status]), [['goracsPrepare', 1, 'failed']], 'one attempt, not retried');
  });

  it('run --wait with no worker on the queue says so after ~10 s, and keeps waiting: a worker started later finishes the run', async () => {
    const cfg = file('lonely.json', SMOKE);
    const child = dlab(['run', 'smoke', '--config', cfg, '--id', 'bi-lonely', '--wait'], { ...env, DLAB_TASK_QUEUE: 'nobody-here' });
    await new Promise((r) => setTimeout(r, 13_000));
    const late = await cluster.startWorker(cluster.home('late'), 'nobody-here');
    const r = await child;
    await late.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no worker polls task queue "nobody-here" \(1\d s since the start\); start one with `dlab worker`/);
  });

  it('lineage of a corrupted artifact exits 1 naming the file; report warns on stderr and still writes the page', async () => {
    const s = JSON.parse((await dlab(['status', 'bi-done', '--json'], env)).stdout) as { artifacts: { name: string; sha256: string; uri: string }[] };
    const summary = s.artifacts.find((a) => a.name === 'summary')!;
    const path = summary.uri.replace(/^file:\/\//, '');
    flip(path);
    const l = await dlab(['lineage', summary.sha256], env);
    assert.equal(l.code, 1, l.stderr);
    assert.match(l.stderr, new RegExp(`dlab: CORRUPT ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: expected sha256 ${summary.sha256}, found [0-9a-f]{64}`));
    const rep = await dlab(['report', 'bi-done', '--out', join(root, 'report')], env);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stderr, /dlab: warning: bi-done: artifact summary [0-9a-f]{64}: .*(corrupted|the file changed)/);
    assert.ok(existsSync(join(root, 'report', 'index.html')));
  });
});

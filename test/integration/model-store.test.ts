import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactIntegrityError, DlabInputError } from '../../lib/errors';
import { buildModelDir, readHeadFile, readModelDir, writeModelDir } from '../../lib/model/model-dir';
import { modelFiles, pullModel, pulledModelDir, pushModel, pullModelTokenizer, verifyStoredModel } from '../../lib/model/model-store';
import { ArtifactStore, LocalArtifactStore, sha256Hex } from '../../lib/store/artifact-store';
import { S3ArtifactStore } from '../../lib/store/s3-store';
import { S3TestServer } from '../helpers/s3-server';
import { tempDir } from '../helpers/tmp';

const MiB = 1024 * 1024;
const BUILD = { vocab: 112, dModel: 32, nLayer: 1, nHead: 4, dFf: 64, maxPos: 64, seed: 5 };

/**
 * Models by content in both stores (lib/model/model-store.ts): push a model directory, pull it
 * on a "machine" with an empty models folder, every file checked; a damaged or missing stored
 * file fails the pull naming it and leaves no half-written directory. The S3 store runs against
 * versitygw with a 5 MiB multipart threshold, so the model's 12 MiB extra file goes up in parts.
 */
describe('models in the artifact store, by the sha256 of model.json (local directory and real S3)', function () {
  this.timeout(180_000);
  let server: S3TestServer;
  let work: ReturnType<typeof tempDir>;
  let modelDir: string;
  let modelSha: string;

  before(async () => {
    server = await S3TestServer.start(['dlab']);
    work = tempDir('model-store');
    // a built model plus a nested 12 MiB file (as an export's external data would be)
    const built = join(work.path, 'built');
    await buildModelDir(BUILD, built);
    const b = await readModelDir(built);
    const big = join(work.path, 'weights.bin');
    const bytes = Buffer.alloc(12 * MiB);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
    writeFileSync(big, bytes);
    modelDir = join(work.path, 'model');
    await writeModelDir(modelDir, {
      backbone: readFileSync(b.backbonePath),
      head: await readHeadFile(b.headPath, b.json.sha256.head),
      tokenizerJson: readFileSync(b.tokenizerPath, 'utf8'),
      dims: b.json.dims,
      tied: b.json.tied,
      hasBias: b.json.hasBias,
      source: { kind: 'test' },
      files: [{ name: 'data/weights.bin', from: big }, { name: 'tokenizer_config.json', from: writeAndName(work.path, 'tokenizer_config.json', '{"add_bos_token": false}') }],
    });
    modelSha = (await readModelDir(modelDir)).sha256;
  });
  after(async () => {
    await server?.stop();
    work?.cleanup();
  });

  function writeAndName(dir: string, name: string, text: string): string {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  }

  const stores: [string, () => { store: ArtifactStore; storedFile: (sha: string) => string }][] = [
    [
      'local',
      () => {
        const store = new LocalArtifactStore(join(work.path, 'local-store'));
        return { store, storedFile: (sha) => store.locateFile(sha) };
      },
    ],
    [
      'S3',
      () => {
        const store = new S3ArtifactStore({ bucket: 'dlab', prefix: 'models-test', cacheDir: join(work.path, 's3-cache'), cacheMaxBytes: 64 * MiB, client: server.client(), endpoint: server.endpoint, multipartThreshold: 5 * MiB, partSize: 5 * MiB });
        return { store, storedFile: (sha) => join(server.dataDir, 'dlab', store.locateFile(sha).slice('s3://dlab/'.length)) };
      },
    ],
  ];

  for (const [name, make] of stores) {
    describe(`${name} store`, () => {
      let store: ArtifactStore;
      let storedFile: (sha: string) => string;
      before(() => ({ store, storedFile } = make()));

      it('push stores model.json and its 5 files once (a second push sends nothing); pull rebuilds the same directory elsewhere', async () => {
        const first = await pushModel(store, modelDir);
        assert.equal(first.sha256, modelSha);
        assert.equal(first.files, 6, 'model.json, backbone, head, tokenizer, data/weights.bin, tokenizer_config.json');
        assert.ok(first.sent > 12 * MiB && first.sent === first.bytes, `sent ${first.sent} of ${first.bytes}`);
        const again = await pushModel(store, modelDir);
        assert.equal(again.sent, 0);

        const machineB = join(work.path, `${name}-b`, 'models');
        const dir = await pullModel(store, modelSha, machineB);
        assert.equal(dir, pulledModelDir(machineB, modelSha));
        const pulled = await readModelDir(dir);
        assert.equal(pulled.sha256, modelSha);
        for (const [file] of [['model.json'], ...modelFiles(pulled.json)]) {
          assert.ok(readFileSync(join(dir, file)).equals(readFileSync(join(modelDir, file))), `${file} differs`);
        }
        assert.equal(await pullModel(store, modelSha, machineB), dir, 'a second pull finds the directory');
        assert.deepEqual(readdirSync(machineB), [`sha256-${modelSha}`], 'no temporary directory left');
      });

      it('the tokenizer alone (for `dlab run` checks) is fetched without the backbone and its data', async () => {
        const into = join(work.path, `${name}-tok`);
        const { json, tokenizerPath } = await pullModelTokenizer(store, modelSha, into);
        assert.equal(json.dims.vocab, BUILD.vocab);
        assert.ok(existsSync(tokenizerPath));
        assert.ok(existsSync(join(into, 'tokenizer_config.json')));
        assert.ok(!existsSync(join(into, json.backbone)), 'no backbone');
        assert.ok(existsSync(join(into, 'data', 'weights.bin')), 'files other than backboneData are fetched (this model lists none as backbone data)');
      });

      it('a damaged stored file fails the pull naming it, leaves no model directory, and `verifyStoredModel` names it', async () => {
        const json = (await readModelDir(modelDir)).json;
        const victim = storedFile(json.sha256.head);
        const good = readFileSync(victim);
        const bad = Buffer.from(good);
        bad[bad.length - 1] ^= 0xff;
        writeFileSync(victim, bad);
        try {
          const machineC = join(work.path, `${name}-c`, 'models');
          await assert.rejects(pullModel(store, modelSha, machineC), (err: Error) => {
            assert.ok(err instanceof DlabInputError, String(err));
            assert.ok(err.message.includes(json.sha256.head), err.message);
            return true;
          });
          assert.deepEqual(existsSync(machineC) ? readdirSync(machineC) : [], [], 'nothing half-written');
          const v = await verifyStoredModel(store, modelSha, join(work.path, `${name}-verify`));
          assert.equal(v.files, 6);
          assert.equal(v.bad.length, 1, JSON.stringify(v.bad));
          assert.ok(v.bad[0].file.endsWith(json.sha256.head) && v.bad[0].problem.startsWith('head.arrow'), JSON.stringify(v.bad));
        } finally {
          writeFileSync(victim, good);
        }
        assert.deepEqual((await verifyStoredModel(store, modelSha, join(work.path, `${name}-verify2`))).bad, []);
      });

      it('an address the store does not have is an input error that says how to push it; a file whose bytes are not the stated sha256 is refused', async () => {
        const absent = 'ab'.repeat(32);
        await assert.rejects(pullModel(store, absent, join(work.path, `${name}-d`)), (err: Error) => err instanceof DlabInputError && !(err instanceof ArtifactIntegrityError) && /dlab model push/.test(err.message));
        const f = writeAndName(work.path, `${name}-notes.txt`, 'some bytes');
        await assert.rejects(store.putFile(f, 'cd'.repeat(32)), (err: Error) => err instanceof DlabInputError && err.message.includes(sha256Hex(readFileSync(f))));
        assert.equal((await store.verifyFile('cd'.repeat(32))).ok, false, 'nothing stored under the wrong address');
      });

      it('a stored model.json whose file names leave the directory is refused before anything is fetched', async () => {
        const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
        const evil = join(work.path, `${name}-evil.json`);
        writeFileSync(evil, JSON.stringify({ ...json, tokenizer: '../../escaped.json' }));
        const sha = sha256Hex(readFileSync(evil));
        await store.putFile(evil, sha);
        const into = join(work.path, `${name}-e`, 'models');
        await assert.rejects(pullModel(store, sha, into), (err: Error) => err instanceof DlabInputError && /names its tokenizer "\.\.\/\.\.\/escaped\.json", expected "tokenizer\.json"/.test(err.message));
        await assert.rejects(pullModelTokenizer(store, sha, join(work.path, `${name}-e2`, 'tok')), DlabInputError);
        assert.ok(!existsSync(join(work.path, `${name}-e`, 'escaped.json')) && !existsSync(join(work.path, 'escaped.json')));
      });

      it('names point at an address; an unknown name is undefined', async () => {
        assert.equal(await store.getName('pretrained-x'), undefined);
        await store.putName('pretrained-x', modelSha);
        await store.putName('pretrained-x', modelSha);
        assert.equal(await store.getName('pretrained-x'), modelSha);
        await assert.rejects(store.putName('../escape', modelSha), DlabInputError);
      });
    });
  }

  it('the S3 store refuses to fetch a file whose object was damaged behind the server (no file at the destination)', async () => {
    const [, make] = stores[1];
    const { store, storedFile } = make();
    const f = writeAndName(work.path, 'small.txt', 'x'.repeat(1000));
    const sha = sha256Hex(readFileSync(f));
    await store.putFile(f, sha);
    const obj = storedFile(sha);
    writeFileSync(obj, 'y'.repeat(1000));
    const dest = join(work.path, 'fetched', 'small.txt');
    mkdirSync(join(work.path, 'fetched'), { recursive: true });
    await assert.rejects(store.fetchFile(sha, dest), (err: Error) => err instanceof ArtifactIntegrityError && err.message.includes('corrupted'));
    assert.deepEqual(readdirSync(join(work.path, 'fetched')), []);
  });
});

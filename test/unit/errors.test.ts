import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { asFailure } from '../../activities/resumable';
import { DlabInputError, permanentError } from '../../lib/errors';
import { FLOAT, GraphBuilder, INT64 } from '../../lib/model/onnx-graph';
import { sessionOptions, runModel } from '../../lib/model/session-cache';
import { tempDir } from '../helpers/tmp';

/** A 4-row embedding table: Gather(table, ids) → y [n, 2]. */
async function gatherModel(): Promise<InferenceSession> {
  const g = new GraphBuilder('gather');
  const ids = g.input('ids', INT64, ['n']);
  const table = g.floatTensor('table', [4, 2], new Float32Array(8));
  g.op('Gather', [table, ids], undefined, 'y');
  g.output('y', FLOAT, ['n', 2]);
  return InferenceSession.create(g.toBytes(), sessionOptions());
}

/** The one rule for retries: which errors no retry can fix (failed at once) and which are transient (retried). */
describe('errors retrying cannot fix', () => {
  const tmp = tempDir('errors');
  after(() => tmp.cleanup());

  it('the project\'s input errors are themselves', () => {
    const e = new DlabInputError('budget n = 9 exceeds the pool size 5', 'budget');
    assert.equal(permanentError(e), e);
  });

  it('ONNX Runtime, an index past the table (a position past maxPos): an input error naming the model file, the node and the inputs', async () => {
    const session = await gatherModel();
    const feeds = { ids: new Tensor('int64', BigInt64Array.from([9n]), [1]) };
    await assert.rejects(runModel(session, feeds, '/models/mine/backbone.onnx'), (e: unknown) => {
      assert.ok(e instanceof DlabInputError);
      assert.equal(e.where, '/models/mine/backbone.onnx');
      assert.match(e.message, /^\/models\/mine\/backbone\.onnx: ONNX Runtime: .*Gather.*idx=9 must be within the inclusive range \[-4,3\] \(inputs: ids int64\[1\]\)$/);
      return true;
    });
  });

  it('ONNX Runtime, a wrong dtype, rank or a missing input: input errors', async () => {
    const session = await gatherModel();
    for (const [feeds, message] of [
      [{ ids: new Tensor('float32', new Float32Array([1]), [1]) }, /Unexpected input data type/],
      [{ ids: new Tensor('int64', BigInt64Array.from([1n, 2n]), [1, 2]) }, /Invalid rank for input: ids/],
      [{}, /input 'ids' is missing/],
    ] as const) {
      await assert.rejects(runModel(session, feeds as Record<string, Tensor>, 'm.onnx'), (e: unknown) => e instanceof DlabInputError && message.test(e.message));
    }
  });

  it('ONNX Runtime, a pre-allocated output of another shape than the one computed: an input error', async () => {
    const session = await gatherModel();
    const feeds = { ids: new Tensor('int64', BigInt64Array.from([1n, 2n]), [2]) };
    const wrong = { y: new Tensor('float32', new Float32Array(6), [3, 2]) };
    await assert.rejects(runModel(session, feeds, 'm.onnx', wrong), (e: unknown) => e instanceof DlabInputError && /ONNX Runtime: .*output/.test(e.message));
  });

  it('an allocation a config makes too large (RangeError): an input error saying so', () => {
    let err: unknown;
    try {
      new Float32Array(2 ** 40);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RangeError);
    assert.match(permanentError(err)?.message ?? '', /too large to allocate .*Invalid typed array length/);
  });

  it('ENOTDIR and EACCES on a path (DLAB_HOME under a file): input errors naming the path', () => {
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, 'x');
    let err: unknown;
    try {
      mkdirSync(join(file, 'home', 'artifacts'), { recursive: true });
    } catch (e) {
      err = e;
    }
    const input = permanentError(err);
    assert.ok(input);
    assert.match(input.message, /ENOTDIR/);
    assert.ok(input.message.includes(file), input.message);
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/store/x'"), { code: 'EACCES', path: '/store/x' });
    assert.equal(permanentError(eacces)?.where, '/store/x');
  });

  it('transient errors stay retryable: a refused connection, a timeout, anything else', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    for (const e of [refused, new Error('socket hang up'), new TypeError('x is undefined'), 'a string']) assert.equal(permanentError(e), undefined);
  });

  it('the worker\'s interceptor turns a permanent error into a non-retryable failure of type DlabInputError, and leaves others alone', () => {
    const f = asFailure(new DlabInputError('bad', 'budget'));
    assert.ok(f instanceof ApplicationFailure);
    assert.equal(f.nonRetryable, true);
    assert.equal(f.type, 'DlabInputError');
    assert.deepEqual(f.details, ['budget']);
    const transient = new Error('socket hang up');
    assert.equal(asFailure(transient), transient);
  });
});

describe('model directories are checked on every load (a worker that read one before is not fooled)', () => {
  const tmp = tempDir('model-check');
  after(() => tmp.cleanup());

  it('a file changed after a first, successful read is refused on the next, naming it', async () => {
    const { buildModelDir, readModelDir } = await import('../../lib/model/model-dir');
    const dir = join(tmp.path, 'm');
    await buildModelDir({ vocab: 104, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 32, seed: 1 }, dir);
    const first = await readModelDir(dir);
    assert.match(first.sha256, /^[0-9a-f]{64}$/);
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(first.tokenizerPath);
    bytes[bytes.length >> 1] ^= 0x01; // same size, other bytes
    writeFileSync(first.tokenizerPath, bytes);
    await assert.rejects(readModelDir(dir), (e: unknown) => e instanceof DlabInputError && e.where === first.tokenizerPath && /sha256 is [0-9a-f]{64}, but .*model\.json says/.test(e.message));
  });
});

import { strict as assert } from 'node:assert';
import { createActivities } from '../../activities';
import { ACTIVITY_GROUP, LOCAL_ACTIVITY_TYPES, parseQueueMap, parseRoles, planQueues, queueOf, routedQueues, WORKER_ROLES } from '../../lib/queues';
import { DlabInputError } from '../../lib/errors';
import { availableParallelism } from 'node:os';
import { executionProviders, intraOpThreads, physicalCores, sessionOptions, setExecutionProviders, setIntraOpThreads } from '../../lib/model/session-cache';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp';

describe('activity groups and task queues (lib/queues.ts)', () => {
  it('every activity a worker registers has a group, and every grouped type is registered', () => {
    const registered = Object.keys(createActivities({ store: undefined as never, modelsDir: '/nowhere', worker: 'w' })).sort();
    assert.deepEqual(Object.keys(ACTIVITY_GROUP).sort(), registered);
    for (const t of LOCAL_ACTIVITY_TYPES) assert.ok(t in ACTIVITY_GROUP);
  });

  it('DLAB_QUEUES: group=queue pairs; unknown groups, empty queues and two queues for a group are input errors', () => {
    assert.deepEqual(parseQueueMap(undefined), {});
    assert.deepEqual(parseQueueMap(' inference=gpu-q , training=gpu-q '), { inference: 'gpu-q', training: 'gpu-q' });
    assert.throws(() => parseQueueMap('gpu=x'), (e: Error) => e instanceof DlabInputError && /unknown activity group "gpu"/.test(e.message));
    assert.throws(() => parseQueueMap('inference'), /needs a task queue name/);
    assert.throws(() => parseQueueMap('inference=a,inference=b'), /two queues/);
    assert.deepEqual(routedQueues({ inference: 'gpu', solver: 'dlab' }, 'dlab'), { inference: 'gpu' });
    assert.equal(queueOf(undefined, 'inference', 'dlab'), 'dlab');
    assert.equal(queueOf({ inference: 'gpu' }, 'inference', 'dlab'), 'gpu');
  });

  it('--serve: roles or "all"; a worker polling a queue must serve every group on it', () => {
    assert.deepEqual(parseRoles('all'), [...WORKER_ROLES]);
    assert.deepEqual(parseRoles('training,workflows'), ['workflows', 'training']);
    assert.throws(() => parseRoles('gpu'), /unknown role "gpu"/);
    const map = parseQueueMap('inference=gpu,training=gpu');
    assert.deepEqual(planQueues(['workflows', 'bookkeeping', 'solver'], map, 'dlab'), [{ queue: 'dlab', workflows: true, groups: ['solver', 'bookkeeping'] }]);
    assert.deepEqual(planQueues(['inference', 'training'], map, 'dlab'), [{ queue: 'gpu', workflows: false, groups: ['inference', 'training'] }]);
    assert.deepEqual(planQueues(['workflows'], {}, 'dlab'), [{ queue: 'dlab', workflows: true, groups: [] }]);
    assert.throws(() => planQueues(['inference'], map, 'dlab'), /groups inference, training share task queue "gpu"; a worker polling it for inference would get training tasks too/);
  });
});

describe('ONNX Runtime execution providers (lib/model/session-cache.ts)', () => {
  it('defaults to cpu; "cpu" is accepted; an unknown name is refused listing the known ones; a list stays as given', async () => {
    assert.deepEqual(executionProviders(), ['cpu']);
    await setExecutionProviders(['CPU']);
    assert.deepEqual(sessionOptions().executionProviders, ['cpu']);
    await assert.rejects(setExecutionProviders(['bogus']), (e: Error) => e instanceof DlabInputError && /unknown execution provider "bogus" \(this ONNX Runtime build supports: cpu/.test(e.message));
    await assert.rejects(setExecutionProviders([]), /expected a comma-separated list/);
    assert.deepEqual(executionProviders(), ['cpu'], 'a refused list changes nothing');
  });
});

describe('ONNX Runtime intra-op threads (lib/model/session-cache.ts)', () => {
  it('default: DLAB_ORT_THREADS, else one per physical core this process may use; --ort-threads sets it; anything but an integer in [1, 1024] is refused naming the setting', () => {
    const want = process.env.DLAB_ORT_THREADS ? Number(process.env.DLAB_ORT_THREADS) : physicalCores();
    assert.equal(intraOpThreads(), want);
    assert.equal(sessionOptions().intraOpNumThreads, want);
    for (const bad of ['0', '-1', '1.5', 'two', '', '1025', ' 2 ', '1e1', '0x10']) {
      assert.throws(() => setIntraOpThreads(bad), (e: Error) => e instanceof DlabInputError && e.message === `--ort-threads: expected an integer in [1, 1024] (ONNX Runtime intra-op threads a session), found "${bad}"`);
    }
    assert.throws(() => setIntraOpThreads('x', 'DLAB_ORT_THREADS'), /DLAB_ORT_THREADS: expected an integer in \[1, 1024\]/);
    assert.equal(intraOpThreads(), want, 'a refused value changes nothing');
    try {
      setIntraOpThreads('3');
      assert.equal(sessionOptions().intraOpNumThreads, 3);
    } finally {
      setIntraOpThreads(want);
    }
  });
});

describe('physical cores (the default intra-op thread count)', () => {
  it("counts the CPUs this process may use as cores: divided by the hyper-threads of a core that sysfs's thread_siblings_list shows; the CPUs as they are without sysfs", () => {
    const dir = tempDir('sysfs');
    try {
      const sysfs = (name: string, siblings: string[]) => {
        for (const [i, list] of siblings.entries()) {
          mkdirSync(join(dir.path, name, `cpu${i}`, 'topology'), { recursive: true });
          writeFileSync(join(dir.path, name, `cpu${i}`, 'topology', 'thread_siblings_list'), `${list}\n`);
        }
        mkdirSync(join(dir.path, name, 'cpufreq'), { recursive: true }); // not a cpuN entry
        return join(dir.path, name);
      };
      // 4 cores × 2 hyper-threads (siblings 0,4 1,5 2,6 3,7): 8 CPUs are 4 cores, 6 allowed ones 3
      const smt = sysfs('smt', ['0,4', '1,5', '2,6', '3,7', '0,4', '1,5', '2,6', '3,7']);
      assert.equal(physicalCores(smt, 8), 4);
      assert.equal(physicalCores(smt, 6), 3);
      assert.equal(physicalCores(smt, 1), 1);
      // one thread a core: every CPU is a core
      assert.equal(physicalCores(sysfs('plain', ['0', '1', '2']), 3), 3);
      assert.equal(physicalCores(join(dir.path, 'missing'), 5), 5);
      assert.equal(physicalCores(), physicalCores('/sys/devices/system/cpu', availableParallelism()));
    } finally {
      dir.cleanup();
    }
  });
});

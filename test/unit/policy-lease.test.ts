import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { leaseCheckpointPolicy } from '../../activities/policies';
import { buildModelDir } from '../../lib/model/model-dir';
import { jittered } from '../helpers/decoder';
import type { Policy } from '../../lib/model/policy';
import { tempDir } from '../helpers/tmp';

describe('whole-model checkpoint policies on a worker (activities/policies leaseCheckpointPolicy)', function () {
  this.timeout(60_000);

  it('frees the ONNX sessions of idle policies beyond the 4 kept, never one in use; a lease of a loaded directory reuses its policy', async () => {
    const build = { vocab: 104, dModel: 16, nLayer: 1, nHead: 2, dFf: 32, maxPos: 32, seed: 1 };
    const tmp = tempDir('dlab-lease-');
    try {
      const dirs: string[] = [];
      for (let k = 0; k < 7; k++) {
        dirs.push(join(tmp.path, `policy-${k}`));
        await buildModelDir(build, dirs[k], { weights: jittered(build, 0.05, k), how: { k } });
      }
      const gen = (p: Policy) => p.generate(['1+1='], { maxTokens: 2, temperature: 1, topK: 0, topP: 1, seed: 1 });
      const held = await leaseCheckpointPolicy(dirs[0]); // in use throughout
      const leases = [];
      for (let k = 1; k < 7; k++) {
        const l = await leaseCheckpointPolicy(dirs[k]);
        await gen(l.policy);
        l.release();
        leases.push(l);
      }
      // idle: 1…6; kept: the last 4 (3…6); 1 and 2 freed
      await new Promise((r) => setImmediate(r));
      await assert.rejects(gen(leases[0].policy));
      await assert.rejects(gen(leases[1].policy));
      for (const l of leases.slice(2)) await gen(l.policy);
      await gen(held.policy);
      const again = await leaseCheckpointPolicy(dirs[6]);
      assert.equal(again.policy, leases[5].policy, 'the kept policy, not a second load');
      again.release();
      held.release();
    } finally {
      tmp.cleanup();
    }
  });
});

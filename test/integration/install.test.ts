import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/config/code-version';
import { tempDir } from '../helpers/tmp';

/**
 * The README's first step on a fresh machine: `npm install` of this package.json, lock file and
 * .npmrc in an empty directory, with none of the variables a developer's shell or `npm test`
 * itself sets (no ONNXRUNTIME_NODE_INSTALL, no npm_config_*); npm's cache may be used. With npm 11
 * (the machine's) and npm 10. It must succeed without EBADENGINE or unknown-config warnings, and
 * the installed onnxruntime-node must load.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|ONNXRUNTIME_)/i.test(k)) env[k] = v;
  return env;
}

function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('a fresh npm install (the README path, clean environment)', function () {
  this.timeout(300_000);
  const dirs: { cleanup(): void }[] = [];
  after(() => dirs.forEach((d) => d.cleanup()));

  for (const [label, args] of [
    ["the machine's npm", ['install']],
    ['npm 10', ['exec', '--yes', '--package=npm@10', '--', 'npm', 'install']],
  ] as const) {
    it(`${label}: installs, no EBADENGINE, no unknown config, onnxruntime-node loads`, async () => {
      const dir = tempDir('install');
      dirs.push(dir);
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(PACKAGE_ROOT, f), join(dir.path, f));
      const r = await sh('npm', [...args], dir.path);
      assert.equal(r.code, 0, r.output);
      assert.doesNotMatch(r.output, /EBADENGINE/, r.output);
      assert.doesNotMatch(r.output, /Unknown (project|user|global) config/, r.output);
      assert.match(r.output, /added \d+ packages/);
      const probe = await sh(process.execPath, ['-e', "const o=require('onnxruntime-node'); process.stdout.write(o.env.versions.node)"], dir.path);
      assert.equal(probe.code, 0, probe.output);
      assert.match(probe.output, /^1\.\d+\.\d+$/);
    });
  }
});

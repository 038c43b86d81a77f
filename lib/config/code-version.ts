import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Root of the package (works from both the sources and dist/). */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

function findPackageRoot(start: string): string {
  let dir = start;
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'dlab') return dir;
    } catch {
      /* keep walking up */
    }
    dir = join(dir, '..');
  }
  throw new Error(`cannot find the dlab package.json above ${start}`);
}

let cached: string | undefined;

/**
 * The code version recorded in every artifact: `dlab@<version>+<git sha>` (with `-dirty`
 * when the work tree has uncommitted changes), or `dlab@<version>` outside a git checkout.
 * `DLAB_CODE_VERSION` overrides it (for deployments that ship without .git).
 */
export function codeVersion(): string {
  if (cached) return cached;
  if (process.env.DLAB_CODE_VERSION) return (cached = process.env.DLAB_CODE_VERSION);
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  let version = `dlab@${pkg.version}`;
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    version += `+${sha}${dirty ? '-dirty' : ''}`;
  } catch {
    /* not a git checkout */
  }
  return (cached = version);
}

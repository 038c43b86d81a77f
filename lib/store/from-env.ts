import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DlabInputError } from '../errors';
import { ArtifactStore, LocalArtifactStore, storeForHome } from './artifact-store';

/** lib/store/s3-store, loaded on first use: the AWS SDK costs every other process ~0.2 s to load. */
function s3(): typeof import('./s3-store') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./s3-store') as typeof import('./s3-store');
}

/**
 * The store DLAB_STORE names: unset, `<DLAB_HOME>/artifacts`; `s3://bucket/prefix`, an S3
 * bucket (endpoint and credentials from the AWS SDK's environment, path-style URLs with
 * DLAB_S3_PATH_STYLE=1) read through a cache in `<DLAB_HOME>/cache` of at most
 * DLAB_CACHE_MAX_GB; an absolute path or `file://` URL, a local store there.
 */
export function storeFromEnv(dlabHome: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  const spec = env.DLAB_STORE?.trim();
  if (!spec) return storeForHome(dlabHome);
  if (spec.startsWith('s3://')) {
    const { parseS3Url, S3ArtifactStore, cacheMaxBytesFromEnv } = s3();
    const { bucket, prefix } = parseS3Url(spec);
    return new S3ArtifactStore({ bucket, prefix, cacheDir: join(dlabHome, 'cache'), cacheMaxBytes: cacheMaxBytesFromEnv(env) });
  }
  if (spec.startsWith('file://')) return new LocalArtifactStore(fileURLToPath(spec));
  if (spec.startsWith('/')) return new LocalArtifactStore(spec);
  throw new DlabInputError(`DLAB_STORE=${spec}: expected s3://<bucket>/<prefix>, an absolute path or a file:// URL (unset: ${join(dlabHome, 'artifacts')})`, 'DLAB_STORE');
}

/**
 * The store an artifact URI (as a run's results hold it) lives in: `s3://bucket/key` an S3 store
 * of that bucket and the key's prefix (endpoint from the environment, cache under `dlabHome`),
 * `file://` a local store.
 */
export function storeForUri(uri: string, dlabHome: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  if (uri.startsWith('s3://')) {
    const { parseS3Url, S3ArtifactStore, cacheMaxBytesFromEnv } = s3();
    const { bucket, prefix: key } = parseS3Url(uri, 'artifact URI');
    const m = /^(?:(.*)\/)?objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.arrow$/.exec(key);
    if (!m) throw new DlabInputError(`${uri}: not an artifact address (s3://<bucket>/<prefix>/objects/<xx>/<sha256>.arrow)`);
    return new S3ArtifactStore({ bucket, prefix: m[1] ?? '', cacheDir: join(dlabHome, 'cache'), cacheMaxBytes: cacheMaxBytesFromEnv(env) });
  }
  const m = /^(.*)\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.arrow$/.exec(fileURLToPath(uri));
  if (!m) throw new DlabInputError(`${uri}: not an artifact address (<root>/objects/<xx>/<sha256>.arrow)`);
  return new LocalArtifactStore(m[1]);
}

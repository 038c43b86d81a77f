import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../lib/store/artifact-store';
import { storeForUri, storeFromEnv } from '../../lib/store/from-env';
import { cacheMaxBytesFromEnv, parseS3Url, S3ArtifactStore, s3EndpointName } from '../../lib/store/s3-store';
import { DlabInputError } from '../../lib/errors';

describe('DLAB_STORE and the S3 store settings', () => {
  const home = '/tmp/dlab-home-x';
  const sha = 'ab'.repeat(32);

  it('unset: the local store under DLAB_HOME; an absolute path or file:// URL: a local store there', () => {
    const def = storeFromEnv(home, {});
    assert.ok(def instanceof LocalArtifactStore);
    assert.equal((def as LocalArtifactStore).root, join(home, 'artifacts'));
    assert.equal((storeFromEnv(home, { DLAB_STORE: '/srv/a' }) as LocalArtifactStore).root, '/srv/a');
    assert.equal((storeFromEnv(home, { DLAB_STORE: 'file:///srv/b' }) as LocalArtifactStore).root, '/srv/b');
  });

  it('s3://bucket/prefix: an S3 store with the local layout under the prefix and its cache under DLAB_HOME', () => {
    const s = storeFromEnv(home, { DLAB_STORE: 's3://my-bucket/team/exp/', DLAB_CACHE_MAX_GB: '0.5' }) as S3ArtifactStore;
    assert.ok(s instanceof S3ArtifactStore);
    assert.deepEqual([s.bucket, s.prefix, s.cacheDir, s.cacheMaxBytes], ['my-bucket', 'team/exp', join(home, 'cache'), 512 * 1024 * 1024]);
    assert.equal(s.locate(sha), `s3://my-bucket/team/exp/objects/ab/${sha}.arrow`);
    assert.equal((storeFromEnv(home, { DLAB_STORE: 's3://bk0' }) as S3ArtifactStore).key(sha), `objects/ab/${sha}.arrow`);
    s.client.destroy();
  });

  it('storeForUri finds the store of an artifact URI (bucket and prefix, or local root)', () => {
    const s = storeForUri(`s3://bk1/p/q/objects/ab/${sha}.arrow`, home) as S3ArtifactStore;
    assert.deepEqual([s.bucket, s.prefix], ['bk1', 'p/q']);
    assert.equal((storeForUri(`s3://bk1/objects/ab/${sha}.arrow`, home) as S3ArtifactStore).prefix, '');
    assert.equal((storeForUri(`file:///srv/st/objects/ab/${sha}.arrow`, home) as LocalArtifactStore).root, '/srv/st');
    assert.throws(() => storeForUri('s3://bk1/p/not-an-artifact', home), DlabInputError);
  });

  it('bad settings are input errors naming the variable', () => {
    assert.throws(() => storeFromEnv(home, { DLAB_STORE: 'gs://x/y' }), (e: DlabInputError) => e instanceof DlabInputError && e.where === 'DLAB_STORE');
    assert.throws(() => parseS3Url('s3://Bad_Bucket/x'), /DLAB_STORE=s3:\/\/Bad_Bucket\/x/);
    assert.throws(() => cacheMaxBytesFromEnv({ DLAB_CACHE_MAX_GB: 'lots' }), (e: DlabInputError) => e.where === 'DLAB_CACHE_MAX_GB');
    assert.equal(cacheMaxBytesFromEnv({}), 10 * 1024 ** 3);
  });

  it('errors name the endpoint the SDK is configured with', () => {
    assert.equal(s3EndpointName({ AWS_ENDPOINT_URL_S3: 'http://a:1', AWS_ENDPOINT_URL: 'http://b:2' }), 'http://a:1');
    assert.equal(s3EndpointName({ AWS_ENDPOINT_URL: 'http://b:2' }), 'http://b:2');
    assert.equal(s3EndpointName({ AWS_REGION: 'eu-west-1' }), 'AWS S3 (eu-west-1)');
  });
});

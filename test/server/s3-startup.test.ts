/**
 * Actionable S3 errors at startup, against a real Ceph RGW: a missing bucket
 * says how to create it (and names --s3-create-bucket, which creates it), a
 * wrong secret says the credentials were refused. Metadata: SQLite in a
 * storage directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { OciClient } from '../../support/oci-client.js';
import { createBucket } from '../../support/shared-storage.js';
import { spawnServer, startServer } from '../../support/server-process.js';

const skip = await cephUnavailable();

describe('S3 errors at startup name the problem and what to do', { skip: skip ?? false, timeout: 170_000 }, () => {
  let rgw: Rgw | undefined;
  let dir: string;
  const env = (bucket: string, extra: Record<string, string> = {}): Record<string, string> => ({
    FERRO_OCI_STORAGE_DIR: dir,
    FERRO_OCI_S3_BUCKET: bucket,
    FERRO_OCI_S3_ENDPOINT: rgw!.endpoint,
    FERRO_OCI_S3_REGION: rgw!.region,
    FERRO_OCI_S3_FORCE_PATH_STYLE: String(rgw!.forcePathStyle),
    FERRO_OCI_S3_ACCESS_KEY: rgw!.credentials.accessKeyId,
    FERRO_OCI_S3_SECRET_KEY: rgw!.credentials.secretAccessKey,
    ...extra,
  });
  /** The fatal lines of a start that must fail with exit 1. */
  const failedStart = async (environment: Record<string, string>): Promise<string[]> => {
    const spawned = spawnServer({ env: environment });
    const status = await spawned.exited;
    assert.deepEqual(status, { code: 1, signal: null }, spawned.logs.join('\n'));
    assert.ok(!spawned.logs.join('\n').includes(rgw!.credentials.secretAccessKey), 'the secret never reaches the logs');
    return spawned.jsonLogs().filter((l) => l.level === 60).map((l) => String(l.msg));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-s3-startup-'));
    rgw = await startRgw('s3-startup');
  });
  after(async () => {
    await rgw?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a missing bucket says how to create it; --s3-create-bucket creates it and the registry works', async (t) => {
    const fatal = await failedStart(env('not-there'));
    assert.deepEqual(fatal, [
      `startup failed: S3 bucket not-there does not exist at ${rgw!.endpoint}: create it (e.g. aws s3 mb s3://not-there --endpoint-url ${rgw!.endpoint}), ` +
        'or let the server create it with --s3-create-bucket true (FERRO_OCI_S3_CREATE_BUCKET=true)',
    ]);

    const server = await startServer({ env: env('created-at-start'), args: ['--s3-create-bucket', 'true'], timeoutMs: 60_000 });
    t.after(() => server.kill());
    const s3 = new S3Client({ endpoint: rgw!.endpoint, region: rgw!.region, forcePathStyle: rgw!.forcePathStyle, credentials: rgw!.credentials });
    t.after(() => s3.destroy());
    await s3.send(new HeadBucketCommand({ Bucket: 'created-at-start' }));
    const pushed = await new OciClient(server.url).pushImage('made/here', 'v1', { layers: 1, layerSize: 1000 });
    const pulled = await fetch(`${server.url}/v2/made/here/blobs/${pushed.layers[0]!.digest}`);
    assert.equal(pulled.status, 200);
    assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), pushed.layers[0]!.bytes);
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  });

  test('a wrong secret says the credentials were refused', async (t) => {
    await createBucket(rgw!, 'refused');
    const fatal = await failedStart(env('refused', { FERRO_OCI_S3_SECRET_KEY: 'not-the-secret-key' }));
    assert.equal(fatal.length, 1);
    t.diagnostic(fatal[0]!);
    assert.match(
      fatal[0]!,
      /^startup failed: S3 at http:\/\/\S+ refused the credentials \((HTTP 403|\w+)\) for bucket refused: check FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY, and that they may read and write the bucket$/,
    );
  });
});

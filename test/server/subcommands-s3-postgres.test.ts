/**
 * check, gc and usage on the several-replica deployment: PostgreSQL metadata
 * and S3 blobs (a real Ceph RGW), with the same environment as the servers.
 * The binary runs as a child process; a server runs beside the subcommands.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { OciClient } from '../../support/oci-client.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { spawnServer, startServer, type RunningServer } from '../../support/server-process.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';

const BUCKET = 'subcommands';
const skip = postgresUnavailable() ?? (await cephUnavailable());

describe('check, gc and usage on PostgreSQL + S3', { skip: skip ?? false, timeout: 170_000 }, () => {
  let pg: TestPostgres | undefined;
  let rgw: Rgw | undefined;
  let server: RunningServer | undefined;
  let env: Record<string, string>;
  let s3: S3Client;
  let app: Awaited<ReturnType<OciClient['pushImage']>>;
  let old: Awaited<ReturnType<OciClient['pushImage']>>;
  const key = (digest: string) => `oci/blobs/${digest.replace(':', '/')}`;
  const exists = (digest: string) =>
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key(digest) })).then(
      () => true,
      (err: { name?: string }) => (err.name === 'NotFound' ? false : Promise.reject(err)),
    );

  /** Runs the binary with the servers' environment (and `extra`); its exit code and output. */
  async function run(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
    const child = spawnServer({ args, env: { ...env, ...extra } });
    const status = await child.exited;
    return { code: status.code, output: child.logs.join('\n') };
  }

  before(async () => {
    [pg, rgw] = await Promise.all([startPostgres(), startRgw('subcommands')]);
    await createBucket(rgw, BUCKET);
    env = replicaEnv(pg, rgw, BUCKET, 2);
    s3 = new S3Client({ endpoint: rgw.endpoint, region: rgw.region, forcePathStyle: rgw.forcePathStyle, credentials: rgw.credentials });
    server = await startServer({ env, timeoutMs: 60_000 });
    const client = new OciClient(server.url);
    app = await client.pushImage('app', 'v1', { layers: 2, layerSize: 300_000 });
    old = await client.pushImage('old', 'v1', { layers: 1, layerSize: 200_000 });
  });

  after(async () => {
    s3?.destroy();
    await server?.stop('SIGTERM', 10_000).catch(() => undefined);
    await Promise.allSettled([pg?.stop(), rgw?.stop()]);
  });

  test('check verifies every object by streaming it and passes; usage lists the repositories', async () => {
    const check = await run(['check']);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, new RegExp(`checking blobs s3://${BUCKET}/oci/, metadata postgres(ql)?://`));
    assert.match(check.output, /checked 2 repositories, 2 manifests, 2 tags, 5 blob links, 5 blobs \(\d+ bytes\), 0 upload areas/);
    assert.match(check.output, /OK: no problems found/);
    assert.equal(check.output.includes(rgw!.credentials.secretAccessKey), false, 'the S3 secret is never printed');

    const usage = await run(['usage', '--json']);
    assert.equal(usage.code, 0, usage.output);
    const report = JSON.parse(usage.output.slice(usage.output.search(/^\{/m))) as { repositories: Array<{ repository: string; bytes: number }>; totals: { distinctBlobs: number } };
    assert.deepEqual(report.repositories.map((r) => r.repository), ['app', 'old']);
    assert.equal(report.repositories[0]!.bytes, app.config.length + 600_000);
    assert.equal(report.totals.distinctBlobs, 5);
  });

  test('the same storage settings as flags instead of environment variables', async () => {
    const flags = ['--metadata-url', env.FERRO_OCI_METADATA_URL!, '--metadata-schema', 'registry', '--s3-bucket', BUCKET, '--s3-endpoint', rgw!.endpoint, '--s3-prefix', 'oci/', '--s3-force-path-style', 'true'];
    const keysOnly = { FERRO_OCI_S3_ACCESS_KEY: rgw!.credentials.accessKeyId, FERRO_OCI_S3_SECRET_KEY: rgw!.credentials.secretAccessKey };
    const child = spawnServer({ args: ['usage', ...flags], env: keysOnly });
    const status = await child.exited;
    assert.equal(status.code, 0, child.logs.join('\n'));
    assert.match(child.logs.join('\n'), /2 repositories; 5 distinct blobs linked/);
  });

  test('gc frees the S3 objects of a deleted image and keeps the others', async () => {
    const del = await fetch(`${server!.url}/v2/old/manifests/${old.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202, await del.text());
    const gone = [old.configDigest, ...old.layers.map((l) => l.digest)];
    for (const d of gone) assert.equal(await exists(d), true, `${d} is still in the bucket before gc`);

    const dry = await run(['gc', '--dry-run', '--grace', '0']);
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /would remove 2 blob links no manifest references/);
    for (const d of gone) assert.equal(await exists(d), true, `${d} is kept by the dry run`);

    const gc = await run(['gc', '--grace', '0']);
    assert.equal(gc.code, 0, gc.output);
    assert.match(gc.output, new RegExp(`scanned 5 blobs, deleted 2 \\(${old.config.length + 200_000} bytes\\), kept 3`));
    for (const d of gone) assert.equal(await exists(d), false, `${d} is deleted from the bucket`);
    for (const d of [app.configDigest, ...app.layers.map((l) => l.digest)]) assert.equal(await exists(d), true, `${d} is kept`);

    const check = await run(['check']);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /1 manifests, 1 tags, 3 blob links, 3 blobs/);
  });

  test('check finds an object whose bytes were overwritten in the bucket, and exits 1 naming it', async () => {
    const victim = app.layers[1]!.digest;
    const original = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key(victim) }))).Body!.transformToByteArray());
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key(victim), Body: randomBytes(original.length) }));
    try {
      const check = await run(['check']);
      assert.equal(check.code, 1, check.output);
      assert.match(check.output, new RegExp(`problem blob-corrupt ${victim}: content hashes to sha256:[0-9a-f]{64}`));
      assert.match(check.output, /1 problem found/);
      // A missing object too: the link names it.
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key(app.configDigest) }));
      const missing = await run(['check']);
      assert.equal(missing.code, 1, missing.output);
      assert.match(missing.output, new RegExp(`problem link-content-missing ${app.configDigest}: linked blob has no content in app`));
    } finally {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key(victim), Body: original }));
    }
  });

  test('a missing bucket or an unknown option is a clear error', async () => {
    const nobucket = await run(['check'], { FERRO_OCI_S3_BUCKET: 'no-such-bucket' });
    assert.equal(nobucket.code, 1, nobucket.output);
    assert.match(nobucket.output, /ferro-oci-server check: cannot use S3 bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+/);
    const bad = await run(['gc', '--bogus']);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /bogus/);
  });
});

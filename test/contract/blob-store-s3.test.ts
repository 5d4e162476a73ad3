/**
 * The BlobStore contract against a real S3 (Ceph RGW started once for this
 * file, support/ceph.ts), plus what only the S3 store can get wrong:
 * sub-5-MiB chunks, multipart copy, a second replica resuming an upload,
 * ranged reads, presigned URLs and flat memory while streaming.
 * Skipped, with the reason, when Ceph cannot be installed or started here.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Fastify from 'fastify';
import { createRegistry } from '../../src/registry.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { digestOf } from '../../src/oci/digest.js';
import { openS3BlobStore, type S3BlobStore, type S3BlobStoreConfig } from '../../src/s3.js';
import { deleteKeys, listObjects, MIN_PART, type S3Context } from '../../src/storage/blob/s3-io.js';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { blobStoreContract, chunksOf, collect, readAll, streamLargeBlob } from './blob-store.js';

const MiB = 1024 * 1024;
const BUCKET = 'ferro-test';
const skip = await cephUnavailable();

let rgw: Rgw | undefined;
let rgwStarting: Promise<Rgw> | undefined;
let prefixes = 0;

/** The file's RGW, started on first use (before hooks of sibling describes race for it). */
function getRgw(): Promise<Rgw> {
  rgwStarting ??= startRgw('blob-store').then((r) => (rgw = r));
  return rgwStarting;
}

async function configFor(prefix: string, extra: Partial<S3BlobStoreConfig> = {}): Promise<S3BlobStoreConfig> {
  const r = await getRgw();
  return { bucket: BUCKET, prefix, endpoint: r.endpoint, region: r.region, forcePathStyle: r.forcePathStyle, credentials: r.credentials, createBucket: true, ...extra };
}

/** Removes every object under `prefix` with a separate client. */
async function wipe(prefix: string): Promise<void> {
  const r = await getRgw();
  const client = new S3Client({ endpoint: r.endpoint, region: r.region, forcePathStyle: true, credentials: r.credentials });
  const ctx = { client, bucket: BUCKET, prefix } as unknown as S3Context;
  try {
    const keys: string[] = [];
    for await (const item of listObjects(ctx, prefix)) keys.push(item.Key!);
    await deleteKeys(ctx, keys);
  } finally {
    client.destroy();
  }
}

after(async () => {
  await rgw?.stop();
});

describe('S3 blob store', { skip: skip ?? false }, () => {
  blobStoreContract('s3', async () => {
    const prefix = `contract-${++prefixes}/`;
    const config = await configFor(prefix);
    const store = await openS3BlobStore(config);
    return {
      store,
      reopen: () => openS3BlobStore(config),
      cleanup: async () => {
        await store.close();
        await wipe(prefix);
      },
    };
  });

  describe('S3BlobStore', () => {
    let store: S3BlobStore;
    let config: S3BlobStoreConfig;
    /** A separate client, to look at the bucket behind the store's back. */
    let rawCtx: S3Context;

    before(async () => {
      config = await configFor('s3-specific/');
      store = await openS3BlobStore(config);
      rawCtx = { client: new S3Client(await s3ClientConfig()), bucket: BUCKET, prefix: '' } as unknown as S3Context;
    });
    after(async () => {
      rawCtx?.client.destroy();
      await store?.close();
      if (config !== undefined) await wipe(config.prefix!);
    });

    it('probes conditional writes (RGW 16.2 takes only bare ETags)', () => {
      assert.notEqual(store.casMode, 'none');
    });

    it('commits ~12 MiB appended in 100 KiB chunks, each below the 5 MiB part minimum', async () => {
      const chunk = 100 * 1024;
      const bytes = randomBytes(123 * chunk); // 12.01 MiB
      const writer = await store.createUpload('small-chunks');
      const before = store.stats;
      for (let at = 0; at < bytes.length; at += chunk) {
        assert.equal(await writer.append(chunksOf(bytes.subarray(at, at + chunk), 16 * 1024), { expectedLength: chunk }), chunk);
      }
      const during = store.stats;
      const digest = digestOf(bytes);
      assert.deepEqual(await writer.commit(digest), { size: bytes.length });
      const after = store.stats;
      assert.ok((await readAll(await store.read(digest))).equals(bytes));
      const reread = during.bytesReread - before.bytesReread;
      const written = during.bytesWritten - before.bytesWritten;
      console.log(
        `# 123 appends of 100 KiB: ${during.segmentsWritten - before.segmentsWritten} segment PUTs, ` +
          `${(written / MiB).toFixed(1)} MiB written, ${during.merges - before.merges} merges re-reading ${(reread / MiB).toFixed(1)} MiB; ` +
          `commit: ${after.merges - during.merges} merge of ${((after.bytesReread - during.bytesReread) / MiB).toFixed(2)} MiB`,
      );
      assert.ok(reread < bytes.length, `re-read ${reread} bytes for ${bytes.length}`);
      assert.ok(written < 2.2 * bytes.length, `wrote ${written} bytes for ${bytes.length}`);
    });

    it('copies a blob larger than one part with multipart copy, and serves ranges across parts', async () => {
      const bytes = randomBytes(20 * MiB + 7);
      const digest = digestOf(bytes);
      const writer = await store.createUpload('multipart');
      await writer.append(chunksOf(bytes, 256 * 1024));
      await writer.commit(digest);
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.ok((await readAll(await store.read(digest))).equals(bytes));
      const part = 8 * MiB;
      for (const [start, end] of [[0, 0], [part - 3, part + 3], [2 * part - 1, 2 * part], [5, bytes.length - 1], [bytes.length - 1, bytes.length - 1]] as const) {
        assert.ok((await readAll(await store.read(digest, { start, end }))).equals(bytes.subarray(start, end + 1)), `${start}-${end}`);
      }
      await assert.rejects(store.read(digest, { start: bytes.length - 1, end: bytes.length }), RangeError);
      await assert.rejects(store.read(digest, { start: bytes.length, end: bytes.length + 5 }), RangeError);
      assert.equal(await store.delete(digest), true);
    });

    it('another replica resumes mid-upload, truncating unacknowledged bytes, and commits', async () => {
      const bytes = randomBytes(14 * MiB);
      const acknowledged = 9 * MiB + 12_345; // inside the second segment
      const first = await store.createUpload('replica');
      await first.append(chunksOf(bytes.subarray(0, acknowledged)));
      await first.append(chunksOf(randomBytes(3 * MiB))); // never acknowledged: lost in a crash
      const replica = await openS3BlobStore(config);
      try {
        const resumed = await replica.resumeUpload('replica', acknowledged);
        assert.ok(resumed);
        assert.equal(resumed.size, acknowledged);
        assert.equal(replica.stats.resumeBytesRead, acknowledged, 'one read of the kept bytes');
        assert.equal(await resumed.digest('sha256'), digestOf(bytes.subarray(0, acknowledged)));
        await assert.rejects(first.append(chunksOf('stale')), /changed by another writer/);
        for (let at = acknowledged; at < bytes.length; at += 1024 * 1024) {
          await resumed.append(chunksOf(bytes.subarray(at, Math.min(at + 1024 * 1024, bytes.length))));
        }
        const uploads = await collect(store.listUploads());
        assert.deepEqual(uploads.filter((u) => u.id === 'replica').map((u) => u.size), [bytes.length]);
        const digest = digestOf(bytes);
        await resumed.commit(digest);
        assert.ok((await readAll(await store.read(digest))).equals(bytes), 'readable from the first replica');
        assert.equal(await store.resumeUpload('replica', 0), undefined);
      } finally {
        await replica.close();
      }
    });

    it('an append aborted after writing segments leaves the upload and its objects as they were', async () => {
      const writer = await store.createUpload('aborted');
      await writer.append(chunksOf('kept'));
      const keys = async (): Promise<string[]> => (await collect(listObjects(rawCtx, `${config.prefix}uploads/aborted/`))).map((o) => o.Key!).sort();
      const before = await keys();
      const controller = new AbortController();
      const reason = new Error('client went away');
      async function* stallAfter(bytes: number): AsyncGenerator<Buffer> {
        yield* chunksOf(randomBytes(bytes), 1024 * 1024);
        const written = store.stats.segmentsWritten;
        controller.abort(reason);
        assert.ok(written > 0);
        await new Promise(() => undefined); // stalls forever
      }
      const written = store.stats.segmentsWritten;
      await assert.rejects(writer.append(stallAfter(19 * MiB), { signal: controller.signal }), (err) => err === reason);
      assert.equal(store.stats.segmentsWritten - written, 2, 'two full parts were written');
      assert.deepEqual(await keys(), before, 'its segments were removed');
      assert.equal(writer.size, 4);
      await writer.append(chunksOf('!'));
      await writer.commit(digestOf(Buffer.from('kept!')));
    });

    it('a writer carries on when its upload was resumed elsewhere at its own size', async () => {
      const a = await store.createUpload('same-size');
      await a.append(chunksOf('abc'));
      const b = (await store.resumeUpload('same-size', 3))!;
      await b.append(chunksOf('unacknowledged'));
      assert.equal((await store.resumeUpload('same-size', 3))?.size, 3); // truncates: a new state.json, same size as a's
      await a.append(chunksOf('def'));
      await assert.rejects(b.append(chunksOf('x')), /changed by another writer/);
      await a.commit(digestOf(Buffer.from('abcdef')));
      assert.equal((await readAll(await store.read(digestOf(Buffer.from('abcdef'))))).toString(), 'abcdef');
    });

    it('leaves no objects of an upload behind after commit and cancel', async () => {
      const writer = await store.createUpload('tidy');
      await writer.append(chunksOf(randomBytes(MIN_PART + 10)));
      await writer.append(chunksOf('x'));
      await writer.append(chunksOf('y'));
      await writer.commit(await writer.digest('sha256'));
      const other = await store.createUpload('tidy2');
      await other.append(chunksOf(randomBytes(1000)));
      await other.cancel();
      const left = await collect(listObjects(rawCtx, `${config.prefix}uploads/tidy`));
      assert.deepEqual(left.map((o) => o.Key), []);
    });

    it('presigns a GET URL that plain fetch can use', async () => {
      const bytes = randomBytes(3000);
      const writer = await store.createUpload('presign');
      await writer.append(chunksOf(bytes));
      const digest = digestOf(bytes);
      await writer.commit(digest);
      const url = await store.redirectUrl(digest, { expiresSeconds: 60 });
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
      const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(10, 20)));
      const forged = new URL(url);
      forged.searchParams.set('X-Amz-Expires', '99999');
      assert.equal((await fetch(forged)).status, 403, 'signature covers the lifetime');
    });

    // distribution-spec-next "API": a registry MAY redirect; the documented status is the one after the redirect is followed.
    it('the registry answers a whole-blob GET with 307 to a presigned URL when redirects are on; Range and HEAD are served directly', async () => {
      const app = Fastify({ logger: false });
      await app.register(createRegistry({ blobStore: store, metadataStore: new MemoryMetadataStore(), redirectBlobGets: true, sweepIntervalMs: 0 }));
      await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
        const bytes = randomBytes(5000);
        const digest = digestOf(bytes);
        assert.equal((await fetch(`${base}/v2/redir/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes })).status, 201);
        const res = await fetch(`${base}/v2/redir/blobs/${digest}`, { redirect: 'manual' });
        assert.equal(res.status, 307);
        assert.equal(res.headers.get('docker-content-digest'), digest);
        const followed = await fetch(`${base}/v2/redir/blobs/${digest}`);
        assert.equal(followed.status, 200, 'a client following the redirect gets the 200 the spec documents');
        assert.ok(Buffer.from(await followed.arrayBuffer()).equals(bytes));
        const location = res.headers.get('location')!;
        assert.match(location, /X-Amz-Signature=/);
        assert.ok(Buffer.from(await (await fetch(location)).arrayBuffer()).equals(bytes));
        const ranged = await fetch(`${base}/v2/redir/blobs/${digest}`, { headers: { Range: 'bytes=0-9' }, redirect: 'manual' });
        assert.equal(ranged.status, 206);
        assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(0, 10)));
        assert.equal((await fetch(`${base}/v2/redir/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' })).status, 200);
        assert.equal((await fetch(`${base}/v2/other/blobs/${digest}`, { redirect: 'manual' })).status, 404, 'no redirect for a blob the repository does not hold');
      } finally {
        await app.close();
      }
    });

    it('keeps memory flat while streaming 256 MiB in and out', async () => {
      global.gc?.();
      const r = await streamLargeBlob(store, 'huge', 256 * MiB);
      console.log(`# 256 MiB: append ${r.appendMs} ms, commit (multipart copy) ${r.commitMs} ms, read ${r.readMs} ms; rss growth ${r.growthMiB.toFixed(1)} MiB`);
      assert.ok(r.growthMiB < 64, `rss grew by ${r.growthMiB.toFixed(1)} MiB`);
    });

    it('refuses bad credentials and a missing bucket at open; checkHealth names the bucket it cannot write', async () => {
      const raw = await s3ClientConfig();
      const forged = new S3Client({ ...raw, credentials: { accessKeyId: raw.credentials.accessKeyId, secretAccessKey: 'wrong' } });
      try {
        await assert.rejects(openS3BlobStore({ ...config, client: forged }), /cannot open blob store s3:\/\/ferro-test\/s3-specific\/: .*HTTP 403/);
      } finally {
        forged.destroy();
      }
      await assert.rejects(openS3BlobStore({ ...config, bucket: 'no-such-bucket', createBucket: false }), /cannot open blob store s3:\/\/no-such-bucket\/s3-specific\/: bucket no-such-bucket does not exist/);

      const doomed = await openS3BlobStore({ ...config, bucket: 'ferro-doomed', prefix: 'p' });
      const client = new S3Client(raw);
      try {
        await doomed.checkHealth();
        await client.send(new DeleteBucketCommand({ Bucket: 'ferro-doomed' }));
        await assert.rejects(doomed.checkHealth(), /blob store s3:\/\/ferro-doomed\/p\/ is not writable: bucket ferro-doomed does not exist/);
      } finally {
        client.destroy();
        await doomed.close();
      }
    });
  });
});

async function s3ClientConfig() {
  const r = await getRgw();
  return { endpoint: r.endpoint, region: r.region, forcePathStyle: true, credentials: r.credentials };
}

if (skip !== undefined) {
  describe('S3 blob store', () => {
    it('needs a Ceph RGW', (t) => {
      t.skip(skip);
    });
  });
}

// spec "Pulling blobs", "Checking if content exists", "Deleting Blobs" (end-2, end-10).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient, randomBlob } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

for (const kind of STORAGE_KINDS) {
  describe(`blobs [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    const bytes = randomBlob(10_000);
    let digest: string;
    before(async () => {
      reg = await startRegistry(kind);
      client = new OciClient(reg.url);
      digest = await client.pushBlob('blobs/a', bytes);
    });
    after(() => reg.close());

    it('GET streams the exact bytes with the spec headers', async () => {
      const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.equal(res.headers.get('content-length'), String(bytes.length));
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.equal(res.headers.get('etag'), `"${digest}"`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    });

    it('HEAD answers size and digest without a body', async () => {
      const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), String(bytes.length));
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.equal((await res.arrayBuffer()).byteLength, 0);
    });

    it('If-None-Match with the ETag answers 304', async () => {
      const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { 'if-none-match': `"${digest}"` } });
      assert.equal(res.status, 304);
    });

    it('a single Range is served as 206 with Content-Range', async () => {
      const cases: Array<[string, number, number]> = [
        ['bytes=0-99', 0, 99],
        ['bytes=9990-', 9990, 9999],
        ['bytes=-10', 9990, 9999],
        ['bytes=5000-20000', 5000, 9999],
      ];
      for (const [range, start, end] of cases) {
        const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { range } });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/10000`);
        assert.equal(res.headers.get('content-length'), String(end - start + 1));
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(start, end + 1));
      }
    });

    it('an unsatisfiable Range is 416 with Content-Range bytes */size', async () => {
      for (const range of ['bytes=10000-', 'bytes=20000-30000', 'bytes=50-10', 'bytes=-0']) {
        const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { range } });
        assert.equal(res.headers.get('content-range'), 'bytes */10000', range);
        await expectError(res, 416, 'SIZE_INVALID');
      }
    });

    it('a Range of another unit or with several ranges is ignored (200, whole blob)', async () => {
      for (const range of ['items=0-1', 'bytes=0-1,5-6', 'garbage']) {
        const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { range } });
        assert.equal(res.status, 200, range);
        assert.equal((await res.arrayBuffer()).byteLength, 10_000);
      }
    });

    it('a blob of several MiB reaches a slow reader intact, whole and by a Range across MiB boundaries', async () => {
      // The disk store reuses its read buffers once the socket took their bytes: a slow reader must still get every byte right.
      const big = randomBlob(5 * 1024 * 1024 + 123);
      const d = await client.pushBlob('blobs/big', big);
      const slowGet = (headers: Record<string, string>) =>
        new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
          const req = request(`${reg.url}/v2/blobs/big/blobs/${d}`, { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => {
              chunks.push(chunk);
              if (chunks.length % 8 === 0) {
                res.pause();
                setTimeout(() => res.resume(), 5);
              }
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end();
        });
      const whole = await slowGet({});
      assert.equal(whole.status, 200);
      assert.ok(whole.body.equals(big), 'whole blob differs');
      const part = await slowGet({ range: 'bytes=1000000-4200000' });
      assert.equal(part.status, 206);
      assert.ok(part.body.equals(big.subarray(1_000_000, 4_200_001)), 'range differs');
    });

    it('blobs are repository-scoped: 404 BLOB_UNKNOWN in another repository', async () => {
      await expectError(await client.fetch(`/v2/blobs/b/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
      const head = await client.fetch(`/v2/blobs/b/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 404);
    });

    it('an unknown digest is 404 BLOB_UNKNOWN; a malformed one 400 DIGEST_INVALID', async () => {
      await expectError(await client.fetch(`/v2/blobs/a/blobs/${digestOf(Buffer.from('nothing'))}`), 404, 'BLOB_UNKNOWN');
      for (const bad of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'G'.repeat(64), 'nocolon']) {
        await expectError(await client.fetch(`/v2/blobs/a/blobs/${bad}`), 400, 'DIGEST_INVALID');
      }
    });

    it('DELETE unlinks from that repository only (202, then 404), content still served elsewhere', async () => {
      const shared = randomBlob(500);
      const d = await client.pushBlob('blobs/del1', shared);
      await client.pushBlob('blobs/del2', shared);
      const del = await client.fetch(`/v2/blobs/del1/blobs/${d}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await expectError(await client.fetch(`/v2/blobs/del1/blobs/${d}`), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch(`/v2/blobs/del1/blobs/${d}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
      const other = await client.fetch(`/v2/blobs/del2/blobs/${d}`);
      assert.deepEqual(Buffer.from(await other.arrayBuffer()), shared);
    });
  });
}

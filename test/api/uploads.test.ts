// spec "Pushing blobs": monolithic (end-4a + end-6, end-4b), chunked (end-5, end-13),
// mount (end-11), cancel, limits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient, randomBlob } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

async function startSession(client: OciClient, repo: string): Promise<string> {
  const res = await client.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  assert.equal(res.status, 202, await res.text());
  return res.headers.get('location')!;
}

for (const kind of STORAGE_KINDS) {
  describe(`uploads [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    before(async () => {
      reg = await startRegistry(kind, { limits: { maxBlobSize: 1024 * 1024, maxUploadSessions: 50 } });
      client = new OciClient(reg.url);
    });
    after(() => reg.close());

    it('POST opens a session: 202, Location, Docker-Upload-UUID, Range 0-0', async () => {
      const res = await client.fetch('/v2/up/a/blobs/uploads/', { method: 'POST' });
      assert.equal(res.status, 202);
      const location = res.headers.get('location')!;
      const uuid = res.headers.get('docker-upload-uuid')!;
      assert.match(uuid, /^[0-9a-f-]{36}$/);
      assert.equal(location, `/v2/up/a/blobs/uploads/${uuid}`);
      assert.equal(res.headers.get('range'), '0-0');
    });

    it('POST then PUT with the whole body: 201 with Location and the blob is pullable', async () => {
      const bytes = randomBlob(3000);
      const location = await startSession(client, 'up/a');
      const put = await client.fetch(`${location}?digest=${digestOf(bytes)}`, { method: 'PUT', body: bytes });
      assert.equal(put.status, 201);
      assert.equal(put.headers.get('location'), `/v2/up/a/blobs/${digestOf(bytes)}`);
      assert.equal(put.headers.get('docker-content-digest'), digestOf(bytes));
      const get = await client.fetch(put.headers.get('location')!);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), bytes);
      await expectError(await client.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('single POST with ?digest= stores the blob: 201', async () => {
      const bytes = randomBlob(2048);
      const res = await client.fetch(`/v2/up/a/blobs/uploads/?digest=${digestOf(bytes)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/v2/up/a/blobs/${digestOf(bytes)}`);
      assert.equal((await client.fetch(`/v2/up/a/blobs/${digestOf(bytes)}`, { method: 'HEAD' })).status, 200);
    });

    it('single POST whose body does not match the digest: 400 DIGEST_INVALID, nothing stored', async () => {
      const bytes = randomBlob(100);
      const wrong = digestOf(Buffer.from('something else'));
      await expectError(await client.fetch(`/v2/up/a/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: bytes }), 400, 'DIGEST_INVALID');
      await expectError(await client.fetch(`/v2/up/a/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
      assert.equal(await reg.blobStore.stat(digestOf(bytes)), undefined);
    });

    it('chunked: PATCHes with Content-Range, GET status, final PUT with the last chunk', async () => {
      const bytes = randomBlob(10_000);
      const location = await startSession(client, 'up/chunked');
      const p1 = await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '0-3999', 'content-type': 'application/octet-stream' }, body: bytes.subarray(0, 4000) });
      assert.equal(p1.status, 202);
      assert.equal(p1.headers.get('range'), '0-3999');
      assert.equal(p1.headers.get('location'), location);
      const status = await client.fetch(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-3999');
      assert.equal(status.headers.get('location'), location);
      const p2 = await client.fetch(p1.headers.get('location')!, { method: 'PATCH', headers: { 'content-range': '4000-7999' }, body: bytes.subarray(4000, 8000) });
      assert.equal(p2.status, 202);
      assert.equal(p2.headers.get('range'), '0-7999');
      const put = await client.fetch(`${location}?digest=${digestOf(bytes)}`, { method: 'PUT', headers: { 'content-range': '8000-9999' }, body: bytes.subarray(8000) });
      assert.equal(put.status, 201, await put.text());
      const get = await client.fetch(`/v2/up/chunked/blobs/${digestOf(bytes)}`);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), bytes);
    });

    // distribution-spec-next "Pushing a blob in chunks": an out-of-order final chunk (PUT) MUST be 416.
    it('a chunk out of order, or a retried chunk, or an out-of-order final PUT, is 416 with the current Range; the session stays usable', async () => {
      const bytes = randomBlob(200);
      const location = await startSession(client, 'up/order');
      const skip = await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '100-199' }, body: bytes.subarray(100) });
      assert.equal(skip.headers.get('range'), '0-0');
      assert.equal(skip.headers.get('location'), location, 'the session to resume');
      await expectError(skip, 416, 'BLOB_UPLOAD_INVALID');
      assert.equal((await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '0-99' }, body: bytes.subarray(0, 100) })).status, 202);
      const retry = await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '0-99' }, body: bytes.subarray(0, 100) });
      assert.equal(retry.headers.get('range'), '0-99');
      assert.equal(retry.headers.get('location'), location);
      await expectError(retry, 416, 'BLOB_UPLOAD_INVALID');
      const finalOutOfOrder = await client.fetch(`${location}?digest=${digestOf(bytes)}`, { method: 'PUT', headers: { 'content-range': '150-199' }, body: bytes.subarray(150) });
      await expectError(finalOutOfOrder, 416, 'BLOB_UPLOAD_INVALID');
      assert.equal((await client.fetch(`${location}?digest=${digestOf(bytes)}`, { method: 'PUT', headers: { 'content-range': '100-199' }, body: bytes.subarray(100) })).status, 201);
    });

    it('a Content-Range that disagrees with Content-Length is refused and nothing is appended', async () => {
      const location = await startSession(client, 'up/order');
      await expectError(await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '0-99' }, body: randomBlob(50) }), 400, 'SIZE_INVALID');
      await expectError(await client.fetch(location, { method: 'PATCH', headers: { 'content-range': 'bytes=abc' }, body: randomBlob(50) }), 416, 'BLOB_UPLOAD_INVALID');
      assert.equal((await client.fetch(location)).headers.get('range'), '0-0');
    });

    it('streamed PATCH without Content-Range (docker/podman style), then PUT with no body', async () => {
      const bytes = randomBlob(300_000);
      const location = await startSession(client, 'up/stream');
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.subarray(i, i + 65536));
          controller.close();
        },
      });
      const patch = await client.fetch(location, { method: 'PATCH', body, duplex: 'half' } as RequestInit);
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.get('range'), `0-${bytes.length - 1}`);
      const put = await client.fetch(`${location}?digest=${digestOf(bytes)}`, { method: 'PUT', headers: { 'content-length': '0' } });
      assert.equal(put.status, 201);
    });

    it('PUT with a wrong digest: 400 DIGEST_INVALID, the session is gone and nothing is stored', async () => {
      const bytes = randomBlob(100);
      const location = await startSession(client, 'up/wrong');
      const wrong = digestOf(Buffer.from('x'));
      await expectError(await client.fetch(`${location}?digest=${wrong}`, { method: 'PUT', body: bytes }), 400, 'DIGEST_INVALID');
      await expectError(await client.fetch(`/v2/up/wrong/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch(`/v2/up/wrong/blobs/${digestOf(bytes)}`), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('PUT without digest or with a malformed one: 400 DIGEST_INVALID', async () => {
      const location = await startSession(client, 'up/wrong');
      await expectError(await client.fetch(location, { method: 'PUT', body: 'abc' }), 400, 'DIGEST_INVALID');
      await expectError(await client.fetch(`${location}?digest=sha256:123`, { method: 'PUT', body: 'abc' }), 400, 'DIGEST_INVALID');
      assert.equal((await client.fetch(location)).status, 204, 'the session survives a malformed request');
    });

    it('sha512 digests are accepted end to end', async () => {
      const bytes = randomBlob(5000);
      const location = await startSession(client, 'up/sha512');
      const put = await client.fetch(`${location}?digest=${digestOf(bytes, 'sha512')}`, { method: 'PUT', body: bytes });
      assert.equal(put.status, 201, await put.text());
      const get = await client.fetch(`/v2/up/sha512/blobs/${digestOf(bytes, 'sha512')}`);
      assert.equal(get.headers.get('docker-content-digest'), digestOf(bytes, 'sha512'));
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), bytes);
      const algo = await client.fetch('/v2/up/sha512/blobs/uploads/?digest-algorithm=md5', { method: 'POST' });
      await expectError(algo, 400, 'DIGEST_INVALID');
    });

    // distribution-spec-next "Cancel a blob upload" (end-14): SHOULD 204.
    it('DELETE cancels a session: 204, then BLOB_UPLOAD_UNKNOWN', async () => {
      const location = await startSession(client, 'up/cancel');
      await client.fetch(location, { method: 'PATCH', body: randomBlob(10) });
      assert.equal((await client.fetch(location, { method: 'DELETE' })).status, 204);
      await expectError(await client.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.fetch(location, { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('a session is bound to its repository and unknown ids are BLOB_UPLOAD_UNKNOWN', async () => {
      const location = await startSession(client, 'up/own');
      const id = location.split('/').pop()!;
      await expectError(await client.fetch(`/v2/up/other/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.fetch('/v2/up/own/blobs/uploads/00000000-0000-0000-0000-000000000000'), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.fetch('/v2/up/own/blobs/uploads/..%2F..%2Fetc'), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('mount from a repository holding the blob: 201; from one without it: 202 session; without from: 202', async () => {
      const bytes = randomBlob(700);
      const digest = await client.pushBlob('up/src', bytes);
      const mount = await client.fetch(`/v2/up/dst/blobs/uploads/?mount=${digest}&from=up/src`, { method: 'POST' });
      assert.equal(mount.status, 201);
      assert.equal(mount.headers.get('location'), `/v2/up/dst/blobs/${digest}`);
      assert.equal(mount.headers.get('docker-content-digest'), digest);
      assert.deepEqual(Buffer.from(await (await client.fetch(`/v2/up/dst/blobs/${digest}`)).arrayBuffer()), bytes);
      const missing = await client.fetch(`/v2/up/dst2/blobs/uploads/?mount=${digest}&from=up/nothing`, { method: 'POST' });
      assert.equal(missing.status, 202);
      assert.match(missing.headers.get('location')!, /^\/v2\/up\/dst2\/blobs\/uploads\/[0-9a-f-]{36}$/);
      const noFrom = await client.fetch(`/v2/up/dst3/blobs/uploads/?mount=${digest}`, { method: 'POST' });
      assert.equal(noFrom.status, 202);
      await expectError(await client.fetch(`/v2/up/dst3/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch(`/v2/up/dst4/blobs/uploads/?mount=sha256:zz&from=up/src`, { method: 'POST' }), 400, 'DIGEST_INVALID');
    });

    it('an upload over maxBlobSize is 413 and leaves the session as it was', async () => {
      const location = await startSession(client, 'up/big');
      await client.fetch(location, { method: 'PATCH', body: randomBlob(1000) });
      await expectError(await client.fetch(location, { method: 'PATCH', body: randomBlob(1024 * 1024) }), 413, 'SIZE_INVALID');
      assert.equal((await client.fetch(location)).headers.get('range'), '0-999');
    });

    // distribution-spec-next "Error Codes": a 429 SHOULD include Retry-After.
    it('past maxUploadSessions, POST is 429 TOOMANYREQUESTS with Retry-After', async () => {
      const open = await reg.metadataStore.countUploads();
      for (let i = open; i < 50; i++) await startSession(client, 'up/many');
      const res = await client.fetch('/v2/up/many/blobs/uploads/', { method: 'POST' });
      assert.ok(res.headers.get('retry-after'));
      await expectError(res, 429, 'TOOMANYREQUESTS');
    });
  });
}

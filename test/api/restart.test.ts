// Persistence across a restart on filesystem + SQLite: content, tags and open upload sessions.
import assert from 'node:assert/strict';
import { readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { expectError, OciClient, randomBlob } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

describe('restart [disk]', () => {
  it('what was pushed is served after a restart, and an open upload resumes where it was', async () => {
    const first = await startRegistry('disk');
    const dir = first.dir!;
    try {
      let client = new OciClient(first.url);
      const image = await client.pushImage('r/app', 'v1', { layers: 2, layerSize: 100_000 });
      const partial = randomBlob(50_000);
      const start = await client.fetch('/v2/r/app/blobs/uploads/', { method: 'POST' });
      const location = start.headers.get('location')!;
      assert.equal((await client.fetch(location, { method: 'PATCH', headers: { 'content-range': '0-29999' }, body: partial.subarray(0, 30_000) })).status, 202);
      await first.stop();

      const second = await startRegistry('disk', { dir });
      try {
        client = new OciClient(second.url);
        const manifest = await client.fetch('/v2/r/app/manifests/v1');
        assert.equal(manifest.status, 200);
        assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.bytes);
        for (const layer of image.layers) {
          const res = await client.fetch(`/v2/r/app/blobs/${layer.digest}`);
          assert.deepEqual(Buffer.from(await res.arrayBuffer()), layer.bytes);
        }
        assert.deepEqual(await (await client.fetch('/v2/r/app/tags/list')).json(), { name: 'r/app', tags: ['v1'] });
        assert.deepEqual(await (await client.fetch('/v2/_catalog')).json(), { repositories: ['r/app'] });
        const status = await client.fetch(location);
        assert.equal(status.status, 204);
        assert.equal(status.headers.get('range'), '0-29999');
        const put = await client.fetch(`${location}?digest=${digestOf(partial)}`, { method: 'PUT', headers: { 'content-range': '30000-49999' }, body: partial.subarray(30_000) });
        assert.equal(put.status, 201, await put.text());
        assert.deepEqual(Buffer.from(await (await client.fetch(`/v2/r/app/blobs/${digestOf(partial)}`)).arrayBuffer()), partial);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a session whose data was lost (a crash while committing it) answers BLOB_UPLOAD_UNKNOWN on GET, not an offset', async () => {
    const first = await startRegistry('disk');
    const dir = first.dir!;
    try {
      const start = await new OciClient(first.url).fetch('/v2/r/lost/blobs/uploads/', { method: 'POST' });
      const location = start.headers.get('location')!;
      assert.equal((await new OciClient(first.url).fetch(location, { method: 'PATCH', body: randomBlob(1000) })).status, 202);
      await first.stop();
      await unlink(join(dir, 'blobs', 'uploads', location.split('/').pop()!));
      const second = await startRegistry('disk', { dir });
      try {
        const client = new OciClient(second.url);
        await expectError(await client.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectError(await client.fetch(location, { method: 'PATCH', body: randomBlob(10) }), 404, 'BLOB_UPLOAD_UNKNOWN');
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('upload data without a session (a crash mid-upload) is removed before the registry serves', async () => {
    const first = await startRegistry('disk');
    const dir = first.dir!;
    await first.stop();
    try {
      await writeFile(join(dir, 'blobs', 'uploads', 'orphan-of-a-crash'), randomBlob(100));
      const second = await startRegistry('disk', { dir, sweepIntervalMs: 60_000 });
      try {
        assert.deepEqual(await readdir(join(dir, 'blobs', 'uploads')), []);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

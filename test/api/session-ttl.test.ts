// Limits: an upload session idle longer than the TTL is removed with its bytes.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { expectError, OciClient, randomBlob } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry } from '../../support/registry.js';

async function uploadIds(list: AsyncIterable<{ id: string }>): Promise<string[]> {
  const ids: string[] = [];
  for await (const u of list) ids.push(u.id);
  return ids;
}

for (const kind of STORAGE_KINDS) {
  describe(`upload session TTL [${kind}]`, () => {
    it('an idle session expires with its bytes; an active one survives', async () => {
      // A TTL far above the active session's gaps (a PATCH every 200 ms), so a loaded machine cannot expire it.
      const reg = await startRegistry(kind, { limits: { uploadSessionTtlMs: 2000 }, sweepIntervalMs: 100 });
      try {
        const client = new OciClient(reg.url);
        const idle = (await client.fetch('/v2/ttl/a/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
        const active = (await client.fetch('/v2/ttl/a/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
        assert.equal((await client.fetch(idle, { method: 'PATCH', body: randomBlob(1000) })).status, 202);
        const started = Date.now();
        let idleStatus = 204;
        while (idleStatus !== 404) {
          assert.ok(Date.now() - started < 20_000, 'the idle session did not expire within 20 s');
          await sleep(200);
          assert.equal((await client.fetch(active, { method: 'PATCH', body: randomBlob(10) })).status, 202, 'activity keeps a session alive');
          idleStatus = (await client.fetch(idle)).status;
        }
        assert.ok(Date.now() - started >= 2000, 'the idle session lived its TTL');
        await expectError(await client.fetch(idle), 404, 'BLOB_UPLOAD_UNKNOWN');
        const ids = await uploadIds(reg.blobStore.listUploads());
        assert.ok(!ids.includes(idle.split('/').pop()!), 'the expired session’s bytes are removed');
        assert.ok(ids.includes(active.split('/').pop()!));
        assert.equal(await reg.metadataStore.countUploads(), 1);
      } finally {
        await reg.close();
      }
    });
  });
}

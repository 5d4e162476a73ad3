/**
 * Online blob garbage collection (services/gc.ts, docs/gc.md) over a real
 * registry on both storage configurations: what is collected and what is
 * kept, dry runs, the grace period, the upload sweep, POST /admin/gc, and the
 * two orders of the race between a collector and an upload of the same digest.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkStores } from '../../src/services/check.js';
import { collectGarbage } from '../../src/services/gc.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, STORAGE_KINDS, type TestRegistry } from '../../support/registry.js';

const HOUR = 3600_000;

async function storedDigests(registry: TestRegistry): Promise<Set<string>> {
  const digests = new Set<string>();
  for await (const d of registry.blobStore.list()) digests.add(d);
  return digests;
}

for (const kind of STORAGE_KINDS) {
  describe(`garbage collection [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind);
      client = new OciClient(registry.url);
    });
    after(() => registry.close());
    const gc = (options: Parameters<typeof collectGarbage>[1] = {}) => collectGarbage(registry, { graceMs: 0, ...options });

    it('deletes exactly the blobs no repository links and no manifest references, after reclaiming unreferenced links; dry runs only report', async () => {
      const kept = await client.pushImage('gc/keep', 'v1', { layers: 2, layerSize: 3000 });
      const unref = await client.pushImage('gc/unref', 'v1', { layers: 1, layerSize: 4000 });
      const orphan = randomBytes(5000);
      const orphanDigest = await client.pushBlob('gc/orphan', orphan);
      // The manifest of gc/unref goes: its blobs' links are receipts older than the grace (0), reclaimed. The orphan is unlinked: collected.
      assert.equal((await client.fetch(`/v2/gc/unref/manifests/${unref.digest}`, { method: 'DELETE' })).status, 202);
      assert.equal((await client.fetch(`/v2/gc/orphan/blobs/${orphanDigest}`, { method: 'DELETE' })).status, 202);
      // A layer unlinked from its repository but still referenced by a manifest there: kept.
      assert.equal((await client.fetch(`/v2/gc/keep/blobs/${kept.layers[0]!.digest}`, { method: 'DELETE' })).status, 202);
      const unrefBlobs = [unref.configDigest, unref.layers[0]!.digest];
      const unrefBytes = unref.config.length + 4000;

      const before = await storedDigests(registry);
      const dry = await gc({ dryRun: true });
      assert.deepEqual(
        { deleted: dry.deleted, bytesFreed: dry.bytesFreed, linksRemoved: dry.linksRemoved, dryRun: dry.dryRun, errors: dry.errors },
        { deleted: 1, bytesFreed: 5000, linksRemoved: 2, dryRun: true, errors: 0 },
        'a dry run counts the links it would reclaim, and only the blobs unlinked already',
      );
      assert.equal(dry.uploads, undefined, 'a dry run does not sweep uploads');
      assert.deepEqual(await storedDigests(registry), before, 'a dry run deletes nothing');
      assert.equal((await client.fetch(`/v2/gc/unref/blobs/${unrefBlobs[0]}`, { method: 'HEAD' })).status, 200, 'nor unlinks');

      const report = await gc();
      assert.equal(report.scanned, before.size);
      assert.equal(report.linksRemoved, 2);
      assert.equal(report.deleted, 3);
      assert.equal(report.bytesFreed, 5000 + unrefBytes);
      assert.equal(report.kept, before.size - 3);
      assert.ok(report.durationMs >= 0);
      assert.equal(report.uploads, undefined, 'no sweep was given');
      const after = await storedDigests(registry);
      const gone = [orphanDigest, ...unrefBlobs];
      assert.deepEqual([...after].sort(), [...before].filter((d) => !gone.includes(d)).sort());
      assert.ok(after.has(kept.layers[0]!.digest), 'unlinked but referenced: kept');
      for (const digest of [kept.layers[1]!.digest, kept.configDigest]) {
        assert.equal((await client.fetch(`/v2/gc/keep/blobs/${digest}`, { method: 'HEAD' })).status, 200, digest);
      }
      for (const digest of unrefBlobs) assert.equal((await client.fetch(`/v2/gc/unref/blobs/${digest}`, { method: 'HEAD' })).status, 404, digest);
      assert.equal((await gc()).deleted, 0, 'nothing left to collect');
      const check = await checkStores(registry.blobStore, registry.metadataStore);
      assert.deepEqual(check.problems, [], 'the deliberately unlinked layer is no problem');
    });

    it('keeps blobs used within the grace period', async () => {
      const digest = await client.pushBlob('gc/grace', randomBytes(100));
      assert.equal((await client.fetch(`/v2/gc/grace/blobs/${digest}`, { method: 'DELETE' })).status, 202);
      assert.equal((await gc({ graceMs: HOUR })).deleted, 0);
      assert.equal((await gc({ graceMs: HOUR, now: () => Date.now() + HOUR + 1000 })).deleted, 1);
    });

    it('POST /admin/gc answers the report as JSON; dryRun=true only reports', async () => {
      const digest = await client.pushBlob('gc/admin', randomBytes(300));
      assert.equal((await client.fetch(`/v2/gc/admin/blobs/${digest}`, { method: 'DELETE' })).status, 202);
      // The registry's collector runs with the default grace of one hour: nothing this young goes.
      const res = await client.fetch('/admin/gc?dryRun=true', { method: 'POST' });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.dryRun, true);
      assert.equal(body.deleted, 0);
      assert.ok(typeof body.scanned === 'number' && body.scanned > 0 && typeof body.durationMs === 'number');
      const real = (await (await client.fetch('/admin/gc', { method: 'POST' })).json()) as Record<string, unknown>;
      assert.equal(real.dryRun, false);
      assert.deepEqual(real.uploads, { sessions: 0, orphans: 0 });
      const bad = await client.fetch('/admin/gc?dryRun=maybe', { method: 'POST' });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNSUPPORTED');
      assert.equal((await client.fetch('/admin/gc')).status, 404, 'GET is not a route');
    });

    it('an upload of a digest that a collector holds waits for the deletion and then stores the bytes again', async () => {
      const meta = registry.metadataStore;
      const bytes = randomBytes(2000);
      const digest = await client.pushBlob('gc/race', bytes);
      assert.equal((await client.fetch(`/v2/gc/race/blobs/${digest}`, { method: 'DELETE' })).status, 202);
      // A collector between its mark and its deletion.
      assert.ok(await meta.markBlobForDeletion(digest, 'test-gc', { now: Date.now(), graceMs: 0, leaseMs: HOUR }));
      let answered = false;
      const push = client.fetch(`/v2/gc/race/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes }).then((r) => {
        answered = true;
        return r;
      });
      await sleep(300);
      assert.equal(answered, false, 'the upload waits while the digest is marked');
      assert.ok(await registry.blobStore.delete(digest));
      await meta.unmarkBlob(digest, 'test-gc');
      assert.equal((await push).status, 201);
      const got = await client.fetch(`/v2/gc/race/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes), 'the content was committed afresh after the deletion');
      const mount = await client.fetch(`/v2/gc/race2/blobs/uploads/?mount=${digest}&from=gc/race`, { method: 'POST' });
      assert.equal(mount.status, 201);
    });

    it('a collector keeps a digest an upload has reserved, and a mount of a marked digest opens a session', async () => {
      const meta = registry.metadataStore;
      const bytes = randomBytes(700);
      const digest = await client.pushBlob('gc/reserved', bytes);
      assert.equal((await client.fetch(`/v2/gc/reserved/blobs/${digest}`, { method: 'DELETE' })).status, 202);
      // An upload between its reservation and its link (it deduplicated against the orphan).
      assert.ok(await meta.reserveBlob(digest, 'test-upload', Date.now(), HOUR));
      await gc();
      assert.ok(await registry.blobStore.stat(digest), 'reserved: kept');
      await meta.releaseBlob(digest, 'test-upload');

      const mounted = await client.pushBlob('gc/src', randomBytes(50));
      assert.equal((await client.fetch(`/v2/gc/src/blobs/${mounted}`, { method: 'DELETE' })).status, 202);
      assert.ok(await meta.markBlobForDeletion(mounted, 'test-gc', { now: Date.now(), graceMs: 0, leaseMs: HOUR }));
      const res = await client.fetch(`/v2/gc/dst/blobs/uploads/?mount=${mounted}&from=gc/src`, { method: 'POST' });
      assert.equal(res.status, 202);
      await meta.unmarkBlob(mounted, 'test-gc');
      await gc();
      assert.equal(await registry.blobStore.stat(digest), undefined, 'released: collected');
      assert.equal(await registry.blobStore.stat(mounted), undefined);
    });

    it('a run sweeps expired upload sessions and their data', async () => {
      const short = await startRegistry(kind, { limits: { uploadSessionTtlMs: 50 } });
      try {
        const start = await fetch(`${short.url}/v2/gc/sweep/blobs/uploads/`, { method: 'POST' });
        assert.equal(start.status, 202);
        await sleep(100);
        const report = (await (await fetch(`${short.url}/admin/gc`, { method: 'POST' })).json()) as Record<string, unknown>;
        assert.deepEqual(report.uploads, { sessions: 1, orphans: 0 });
        assert.equal((await fetch(`${short.url}${start.headers.get('location')}`)).status, 404);
      } finally {
        await short.close();
      }
    });
  });
}

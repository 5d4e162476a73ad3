/**
 * MetadataStore contract, part: the manifest lifecycle of retention and the
 * untagged policy (ManifestLifecycle in src/storage/meta/types.ts), and
 * immutable tags (PutManifestInput.immutableTags).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type MetadataStore } from '../../src/storage/meta/types.js';
import { blob, manifest, mustPut, NOW } from './metadata-fixtures.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';

export function manifestLifecycleContract(store: () => MetadataStore): void {
  describe('manifest lifecycle (conditional deletes, tag records, immutable tags)', () => {

    it('an immutable tag is created, set again to the same manifest, and never moved', async () => {
      const s = store();
      const m1 = manifest('app', '1', { tags: ['v1'], immutableTags: ['v1'] });
      const m2 = manifest('app', '2', { tags: ['v1'], immutableTags: ['v1'], now: NOW + 5 });
      await mustPut(s, m1);
      await mustPut(s, { ...m1, now: NOW + 1 });
      assert.deepEqual(await s.putManifest(m2), { ok: false, missing: [], tagTaken: { tag: 'v1', digest: m1.digest } });
      assert.equal(await s.getTag('app', 'v1'), m1.digest);
      assert.equal(await s.getManifest('app', m2.digest), undefined, 'nothing written');
      await mustPut(s, { ...m2, immutableTags: [] });
      assert.equal(await s.getTag('app', 'v1'), m2.digest, 'without the flag the tag moves');
    });

    it('several tags with immutable ones: one taken refuses the whole put, naming it; unchanged ones let the others move', async () => {
      const s = store();
      const m1 = manifest('app', '1', { tags: ['v1', 'latest'], immutableTags: ['v1'] });
      const m2 = manifest('app', '2', { tags: ['latest', 'v2', 'v1'], immutableTags: ['v1', 'v2'], now: NOW + 5 });
      await mustPut(s, m1);
      assert.deepEqual(await s.putManifest(m2), { ok: false, missing: [], tagTaken: { tag: 'v1', digest: m1.digest } });
      assert.deepEqual(await s.listTagRecords('app', { limit: 10 }), [
        { tag: 'latest', digest: m1.digest, updatedAt: NOW },
        { tag: 'v1', digest: m1.digest, updatedAt: NOW },
      ]);
      assert.equal(await s.getManifest('app', m2.digest), undefined, 'nothing written');
      await mustPut(s, { ...m2, tags: ['latest', 'v2'] });
      assert.deepEqual(await s.listTagRecords('app', { limit: 10 }), [
        { tag: 'latest', digest: m2.digest, updatedAt: NOW + 5 },
        { tag: 'v1', digest: m1.digest, updatedAt: NOW },
        { tag: 'v2', digest: m2.digest, updatedAt: NOW + 5 },
      ]);
    });

    it('lists tag records in tag order with digests and times; deleteTagIf needs both unchanged', async () => {
      const s = store();
      const m1 = manifest('app', '1');
      const m2 = manifest('app', '2');
      await mustPut(s, { ...m1, tags: ['b'], now: NOW + 2 });
      await mustPut(s, { ...m1, tags: ['a'], now: NOW + 1 });
      await mustPut(s, { ...m2, tags: ['c'], now: NOW + 3 });
      assert.deepEqual(await s.listTagRecords('app', { limit: 10 }), [
        { tag: 'a', digest: m1.digest, updatedAt: NOW + 1 },
        { tag: 'b', digest: m1.digest, updatedAt: NOW + 2 },
        { tag: 'c', digest: m2.digest, updatedAt: NOW + 3 },
      ]);
      assert.deepEqual((await s.listTagRecords('app', { last: 'a', limit: 1 })).map((r) => r.tag), ['b']);
      assert.deepEqual(await s.listTagRecords('nowhere', { limit: 10 }), []);
      await mustPut(s, { ...m2, tags: ['a'], now: NOW + 9 }); // moved since listed
      assert.equal(await s.deleteTagIf('app', 'a', { digest: m1.digest, updatedAt: NOW + 1 }), false);
      assert.equal(await s.deleteTagIf('app', 'b', { digest: m1.digest, updatedAt: NOW + 1 }), false, 'other time');
      assert.equal(await s.deleteTagIf('app', 'b', { digest: m1.digest, updatedAt: NOW + 2 }), true);
      assert.deepEqual(await s.listTags('app', { limit: 10 }), ['a', 'c']);
      assert.ok(await s.getManifest('app', m1.digest), 'the manifest stays');
    });

    it('deleteManifestIf: untagged, unreferenced and dry run', async () => {
      const s = store();
      const child = manifest('app', 'child');
      const tagged = manifest('app', 'tagged', { tags: ['v1'] });
      await mustPut(s, child);
      await mustPut(s, tagged);
      const index = manifest('app', 'index', { mediaType: INDEX, manifests: [{ digest: child.digest, size: child.bytes.byteLength }] });
      await mustPut(s, index);
      assert.equal(await s.deleteManifestIf('app', tagged.digest, { untagged: true }), false);
      assert.equal(await s.deleteManifestIf('app', child.digest, { unreferenced: true }), false, 'an index references it');
      assert.equal(await s.deleteManifestIf('app', index.digest, { untagged: true, unreferenced: true, dryRun: true }), true);
      assert.ok(await s.getManifest('app', index.digest), 'a dry run deletes nothing');
      assert.equal(await s.deleteManifestIf('app', index.digest, { untagged: true, unreferenced: true }), true);
      assert.equal(await s.getManifest('app', index.digest), undefined);
      assert.equal(await s.deleteManifestIf('app', child.digest, { untagged: true, unreferenced: true }), true);
      assert.equal(await s.deleteManifestIf('app', child.digest, {}), false, 'gone');
      assert.equal(await s.deleteManifestIf('app', tagged.digest, {}), true, 'no conditions: deleted with its tag');
      assert.equal(await s.getTag('app', 'v1'), undefined);
    });

    it('deleteManifestIf: usedBefore counts puts, tag moves and deleteTag', async () => {
      const s = store();
      const m = manifest('app', 'm', { tags: ['x'] });
      await mustPut(s, m);
      assert.equal(await s.deleteManifestIf('app', m.digest, { usedBefore: NOW }), false);
      await mustPut(s, { ...m, tags: undefined, now: NOW + 100 }); // put again
      assert.equal(await s.deleteManifestIf('app', m.digest, { usedBefore: NOW + 100, dryRun: true }), false);
      assert.equal(await s.deleteManifestIf('app', m.digest, { usedBefore: NOW + 101, dryRun: true }), true);
      await mustPut(s, manifest('app', 'other', { tags: ['x'], now: NOW + 200 })); // x moved off m
      assert.equal(await s.deleteManifestIf('app', m.digest, { usedBefore: NOW + 200, dryRun: true }), false);
      assert.equal(await s.deleteManifestIf('app', m.digest, { usedBefore: NOW + 201, dryRun: true }), true);
      const recent = manifest('app', 'recent', { tags: ['y'] });
      await mustPut(s, recent);
      assert.ok(await s.deleteTag('app', 'y')); // a use at the store's clock
      assert.equal(await s.deleteManifestIf('app', recent.digest, { usedBefore: Date.now() - 60_000 }), false);
      assert.equal(await s.deleteManifestIf('app', recent.digest, { usedBefore: Date.now() + 60_000 }), true);
      const removedByIf = manifest('app', 'by-if', { tags: ['z'] });
      await mustPut(s, removedByIf);
      assert.ok(await s.deleteTagIf('app', 'z', { digest: removedByIf.digest, updatedAt: NOW }));
      assert.equal(await s.deleteManifestIf('app', removedByIf.digest, { usedBefore: NOW + 1 }), true, 'deleteTagIf is no use');
    });

    it('deleteManifestIf: referrers are kept, or kept while their subject exists', async () => {
      const s = store();
      const subject = manifest('app', 'subject');
      const sig = manifest('app', 'sig', { subject: subject.digest, artifactType: 'application/x.sig' });
      await mustPut(s, subject);
      await mustPut(s, sig);
      assert.equal(await s.deleteManifestIf('app', sig.digest, { referrers: 'keep' }), false);
      assert.equal(await s.deleteManifestIf('app', sig.digest, { referrers: 'orphans' }), false, 'its subject exists');
      assert.ok(await s.deleteManifestIf('app', subject.digest, { referrers: 'orphans' }), 'a manifest without subject is no referrer');
      assert.equal(await s.deleteManifestIf('app', sig.digest, { referrers: 'keep' }), false);
      assert.equal(await s.deleteManifestIf('app', sig.digest, { referrers: 'orphans' }), true);
      assert.deepEqual(await s.listReferrers('app', subject.digest, undefined), []);
    });

    it('deleteManifestIf leaves the blob links (receipts, reclaimed by unlinkBlobIf)', async () => {
      const s = store();
      const own = blob('own', 3);
      await s.linkBlob('app', own, NOW);
      const m = manifest('app', 'm', { blobs: [own] });
      await mustPut(s, m);
      assert.equal(await s.deleteManifestIf('app', m.digest, { untagged: true }), true);
      assert.deepEqual(await s.getBlobLink('app', own.digest), { ...own, touchedAt: NOW });
    });

    it('the lifecycle methods reject with the reason of an aborted signal and have no effect', async () => {
      const s = store();
      const m = manifest('app', 'm', { tags: ['t'] });
      await mustPut(s, m);
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      const signal = controller.signal;
      await assert.rejects(s.listTagRecords('app', { limit: 1 }, signal), (e) => e === reason);
      await assert.rejects(s.deleteTagIf('app', 't', { digest: m.digest, updatedAt: NOW }, signal), (e) => e === reason);
      await assert.rejects(s.deleteManifestIf('app', m.digest, {}, signal), (e) => e === reason);
      assert.equal(await s.getTag('app', 't'), m.digest);
    });
  });
}

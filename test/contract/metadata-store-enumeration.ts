/** MetadataStore contract, part: enumerating a repository's blob links and manifests (for the integrity check). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BlobRef, MetadataStore } from '../../src/storage/meta/types.js';
import { blob, manifest, mustPut, NOW, pageAll } from './metadata-fixtures.js';

/** The cases; `store()` is the fresh store of the running case (see metadataStoreContract). */
export function enumerationContract(store: () => MetadataStore): void {
  describe('enumeration (listBlobLinks, listManifests)', () => {
    it('lists blob links by digest, with sizes, strictly after last, at most limit, per repository', async () => {
      const links = ['a', 'b', 'c', 'd', 'e'].map((x, i) => blob(x, i * 10));
      for (const b of links) await store().linkBlob('app', b, NOW);
      await store().linkBlob('other', blob('z', 1), NOW);
      const sorted = [...links].sort((x, y) => (x.digest < y.digest ? -1 : 1));
      assert.deepEqual(await store().listBlobLinks('app', { limit: 100 }), sorted);
      assert.deepEqual(await store().listBlobLinks('app', { limit: 2 }), sorted.slice(0, 2));
      assert.deepEqual(await store().listBlobLinks('app', { last: sorted[1]!.digest, limit: 2 }), sorted.slice(2, 4));
      assert.deepEqual(await store().listBlobLinks('app', { last: sorted[4]!.digest, limit: 2 }), []);
      assert.deepEqual(await store().listBlobLinks('app', { last: 'sha256:', limit: 1 }), sorted.slice(0, 1), 'last not in the set');
      assert.deepEqual(await store().listBlobLinks('app', { limit: 0 }), []);
      assert.deepEqual(await store().listBlobLinks('nowhere', { limit: 10 }), []);
      await store().unlinkBlob('app', sorted[0]!.digest);
      assert.deepEqual(await store().listBlobLinks('app', { limit: 100 }), sorted.slice(1));
    });

    it('lists manifest digests in byte order, per repository, without deleted ones', async () => {
      const ms = ['1', '2', '3', '4'].map((seed) => manifest('app', seed));
      for (const m of ms) await mustPut(store(), m);
      await mustPut(store(), { ...ms[0]!, tags: ['again'] }); // the same manifest twice is listed once
      await mustPut(store(), manifest('other', 'x'));
      const sorted = ms.map((m) => m.digest).sort();
      assert.deepEqual(await store().listManifests('app', { limit: 100 }), sorted);
      assert.deepEqual(await store().listManifests('app', { last: sorted[0], limit: 2 }), sorted.slice(1, 3));
      assert.deepEqual(await store().listManifests('app', { last: sorted[3], limit: 2 }), []);
      assert.deepEqual(await store().listManifests('app', { limit: 0 }), []);
      assert.deepEqual(await store().listManifests('nowhere', { limit: 10 }), []);
      assert.ok(await store().deleteManifest('app', sorted[2]!));
      assert.deepEqual(await store().listManifests('app', { limit: 100 }), [sorted[0], sorted[1], sorted[3]]);
    });

    it('pages 300 manifests and 300 links by 64 with no gaps or duplicates', async () => {
      const digests: string[] = [];
      const links: BlobRef[] = [];
      for (let i = 0; i < 300; i++) {
        const m = manifest('app', `m${i}`);
        await mustPut(store(), m);
        digests.push(m.digest);
        const b = blob(`l${i}`, i);
        await store().linkBlob('app', b, NOW);
        links.push(b);
      }
      const all = await pageAll((last) => store().listManifests('app', last === undefined ? { limit: 64 } : { last, limit: 64 }), 64);
      assert.deepEqual(all, digests.sort());
      const linked: BlobRef[] = [];
      await pageAll(async (last) => {
        const page = await store().listBlobLinks('app', last === undefined ? { limit: 64 } : { last, limit: 64 });
        linked.push(...page);
        return page.map((b) => b.digest);
      }, 64);
      assert.deepEqual(linked, links.sort((x, y) => (x.digest < y.digest ? -1 : 1)));
    });
  });
}

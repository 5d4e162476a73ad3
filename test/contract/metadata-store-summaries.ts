/**
 * MetadataStore contract, part: repository summaries (src/storage/meta/summaries.ts):
 * tag counts, last push and bytes that follow pushes, tag moves, deletes and
 * unlinks; the three sort orders with their ties; search and the names
 * filter before paging and counting; persistence across a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore, RepositorySummaryQuery } from '../../src/storage/meta/types.js';
import { blob, manifest, mustPut, NOW } from './metadata-fixtures.js';

const all = (sort: RepositorySummaryQuery['sort'], extra: Partial<RepositorySummaryQuery> = {}): RepositorySummaryQuery => ({ sort, offset: 0, limit: 100, ...extra });
const names = async (store: MetadataStore, query: RepositorySummaryQuery) => (await store.listRepositorySummaries(query)).items.map((i) => i.name);

/** a: 2 tags (last at NOW+20), 30 bytes; b/x: 1 tag at NOW+50, 5 bytes; b/y: no tag, 100 bytes; c: 1 tag at NOW+20, 30 bytes. */
async function seed(store: MetadataStore): Promise<void> {
  await store.linkBlob('a', blob('a1', 10), NOW);
  await store.linkBlob('a', blob('a2', 20), NOW);
  await mustPut(store, manifest('a', 'a', { tags: ['v1'], blobs: [blob('a1', 10)], now: NOW + 10 }));
  await mustPut(store, manifest('a', 'a', { tags: ['v2'], blobs: [blob('a1', 10)], now: NOW + 20 }));
  await store.linkBlob('b/x', blob('shared', 5), NOW);
  await mustPut(store, manifest('b/x', 'bx', { tags: ['latest'], now: NOW + 50 }));
  await store.linkBlob('b/y', blob('big', 100), NOW);
  await store.linkBlob('c', blob('shared', 5), NOW);
  await store.linkBlob('c', blob('c', 25), NOW);
  await mustPut(store, manifest('c', 'c', { tags: ['latest'], now: NOW + 20 }));
}

export function summariesContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('repository summaries', () => {
    it('an empty store lists none', async () => {
      for (const sort of ['name', 'pushed', 'size'] as const) assert.deepEqual(await store().listRepositorySummaries(all(sort)), { total: 0, items: [] });
    });

    it('counts tags, takes the latest push and sums the linked bytes; a repository without tags has no push time', async () => {
      const s = store();
      await seed(s);
      assert.deepEqual(await s.listRepositorySummaries(all('name')), {
        total: 4,
        items: [
          { name: 'a', tags: 2, bytes: 30, pushedAt: NOW + 20 },
          { name: 'b/x', tags: 1, bytes: 5, pushedAt: NOW + 50 },
          { name: 'b/y', tags: 0, bytes: 100 },
          { name: 'c', tags: 1, bytes: 30, pushedAt: NOW + 20 },
        ],
      });
    });

    it('follows tag moves and deletes, manifest deletes and unlinks', async () => {
      const s = store();
      await seed(s);
      await mustPut(s, manifest('c', 'c2', { tags: ['latest', 'new'], now: NOW + 90 }));
      assert.ok(await s.deleteTag('a', 'v2'));
      assert.ok(await s.unlinkBlob('b/y', blob('big', 100).digest));
      assert.ok(await s.deleteManifest('b/x', manifest('b/x', 'bx').digest));
      assert.deepEqual((await s.listRepositorySummaries(all('name'))).items, [
        { name: 'a', tags: 1, bytes: 30, pushedAt: NOW + 10 },
        { name: 'b/x', tags: 0, bytes: 5 },
        { name: 'b/y', tags: 0, bytes: 0 },
        { name: 'c', tags: 2, bytes: 30, pushedAt: NOW + 90 },
      ]);
    });

    it('sorts by name in byte order, by last push newest first (untagged last), by size largest first; ties by name', async () => {
      const s = store();
      await seed(s);
      await s.linkBlob('B', blob('B', 30), NOW); // upper case sorts before lower case in byte order
      assert.deepEqual(await names(s, all('name')), ['B', 'a', 'b/x', 'b/y', 'c']);
      assert.deepEqual(await names(s, all('pushed')), ['b/x', 'a', 'c', 'B', 'b/y']);
      assert.deepEqual(await names(s, all('size')), ['b/y', 'B', 'a', 'c', 'b/x']);
    });

    it('pages with offset and limit, the total counting every match', async () => {
      const s = store();
      await seed(s);
      for (const sort of ['name', 'pushed', 'size'] as const) {
        const whole = await names(s, all(sort));
        const pages: string[] = [];
        for (let offset = 0; offset < 5; offset += 2) {
          const page = await s.listRepositorySummaries(all(sort, { offset, limit: 2 }));
          assert.equal(page.total, 4, sort);
          pages.push(...page.items.map((i) => i.name));
        }
        assert.deepEqual(pages, whole, sort);
        assert.deepEqual(await s.listRepositorySummaries(all(sort, { offset: 10 })), { total: 4, items: [] }, sort);
        assert.deepEqual(await s.listRepositorySummaries(all(sort, { limit: 0 })), { total: 4, items: [] }, sort);
      }
    });

    it('filters by a substring of the name and by a list of names before sorting, paging and counting', async () => {
      const s = store();
      await seed(s);
      assert.deepEqual(await names(s, all('name', { search: 'b/' })), ['b/x', 'b/y']);
      assert.deepEqual(await names(s, all('name', { search: '%' })), [], 'no wildcard');
      assert.deepEqual(await names(s, all('name', { search: '_' })), []);
      const only = all('size', { names: ['c', 'b/x', 'absent', 'a'], offset: 1, limit: 1 });
      assert.deepEqual(await s.listRepositorySummaries(only), { total: 3, items: [{ name: 'c', tags: 1, bytes: 30, pushedAt: NOW + 20 }] });
      assert.deepEqual(await s.listRepositorySummaries(all('pushed', { names: ['a', 'b/x', 'b/y'], search: 'b' })), {
        total: 2,
        items: [{ name: 'b/x', tags: 1, bytes: 5, pushedAt: NOW + 50 }, { name: 'b/y', tags: 0, bytes: 100 }],
      });
      assert.deepEqual(await s.listRepositorySummaries(all('name', { names: [] })), { total: 0, items: [] });
    });

    it('answers the same after a restart', async (t) => {
      await seed(store());
      const before = await store().listRepositorySummaries(all('pushed'));
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not a persistent store');
      assert.deepEqual(await reopened.listRepositorySummaries(all('pushed')), before);
    });
  });
}

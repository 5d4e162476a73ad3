/**
 * The MetadataStore contract (src/storage/meta/types.ts) as node:test cases.
 * Every implementation runs it: each case opens a fresh, empty store and
 * disposes of it afterwards. The restart case runs only when `reopen` is given.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/storage/meta/types.js';
import { missingMethods, type Unlisted } from './port-methods.js';
import { enumerationContract } from './metadata-store-enumeration.js';
import { lifecycleContract } from './metadata-store-lifecycle.js';
import { manifestLifecycleContract } from './metadata-store-manifest-lifecycle.js';
import { eventsContract } from './metadata-store-events.js';
import { auditContract } from './metadata-store-audit.js';
import { leasesContract } from './metadata-store-leases.js';
import { hashStateContract } from './metadata-store-hash-state.js';
import { pullsContract } from './metadata-store-pulls.js';
import { summariesContract } from './metadata-store-summaries.js';
import { blob, digestOf, manifest, mustPut, NOW, pageAll } from './metadata-fixtures.js';

export { digestOf };

export interface OpenedStore {
  readonly store: MetadataStore;
  /** Opens the same persistent store again after `store.close()`. */
  readonly reopen?: () => Promise<MetadataStore>;
  readonly cleanup: () => Promise<void>;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Every required method of the port, lifecycles included; the type check below fails the build when the port gains one not listed here. */
const PORT_METHODS = [
  'repositoryExists', 'listRepositories',
  'linkBlob', 'getBlobLink', 'unlinkBlob', 'listBlobLinks',
  'putManifest', 'getManifest', 'deleteManifest', 'getTag', 'deleteTag', 'listManifests', 'listTags', 'listReferrers',
  'createUpload', 'getUpload', 'updateUpload', 'deleteUpload', 'countUploads', 'listIdleUploads',
  'stats', 'clock', 'checkHealth', 'close',
  // BlobLifecycle
  'reserveBlob', 'releaseBlob', 'markBlobForDeletion', 'unmarkBlob', 'touchBlobLink', 'listReclaimableBlobLinks', 'unlinkBlobIf',
  // ManifestLifecycle
  'listTagRecords', 'deleteTagIf', 'deleteManifestIf',
  // EventOutbox
  'appendEvents', 'claimEvents', 'markEventsDelivered', 'markEventFailed', 'parkEvent', 'listEvents', 'replayEvents',
  // AuditLog
  'appendAudit', 'listAudit', 'pruneAudit',
  // LeaseStore
  'acquireLease', 'renewLease', 'releaseLease',
  // PullLog
  'recordManifestPulls', 'listManifestPulls', 'forgetManifestPulls',
  // RepositorySummaries
  'listRepositorySummaries',
] as const;
const portListed: [Unlisted<MetadataStore, (typeof PORT_METHODS)[number]>] extends [never] ? true : never = true;
void portListed;
const INDEX = 'application/vnd.oci.image.index.v1+json';

export function metadataStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: MetadataStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });

    it('stats counts repositories, manifests, tags, uploads, and each blob once however often linked', async () => {
      assert.deepEqual(await store.stats(), { repositories: 0, manifests: 0, tags: 0, blobs: 0, blobBytes: 0, uploads: 0 });
      const shared = blob('shared', 100);
      await store.linkBlob('a', shared, NOW);
      await store.linkBlob('b', shared, NOW);
      await store.linkBlob('b', blob('own', 7), NOW);
      await mustPut(store, manifest('a', 'm1', { tags: ['t1'] }));
      await mustPut(store, manifest('a', 'm2', { tags: ['t2'] }));
      await store.createUpload({ id: 'u1', repository: 'a', offset: 0, createdAt: NOW, updatedAt: NOW });
      assert.deepEqual(await store.stats(), { repositories: 2, manifests: 2, tags: 2, blobs: 2, blobBytes: 107, uploads: 1 });
      await store.unlinkBlob('a', shared.digest);
      assert.equal((await store.stats()).blobBytes, 107, 'still linked from b');
      await store.unlinkBlob('b', shared.digest);
      assert.deepEqual(await store.stats(), { repositories: 2, manifests: 2, tags: 2, blobs: 1, blobBytes: 7, uploads: 1 });
    });
    afterEach(async () => {
      await store.close();
      await opened.cleanup();
    });

    it('implements every method of the port (a missing one is a failure, not a skip)', () => {
      const missing = missingMethods(store, PORT_METHODS);
      assert.deepEqual(missing, [], `store lacks ${missing.join(', ')}`);
    });

    describe('repositories', () => {
      it('an empty store has no repositories', async () => {
        assert.equal(await store.repositoryExists('a'), false);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      });

      it('a blob link creates the repository, and unlinking does not remove it', async () => {
        await store.linkBlob('lib/app', blob('x'), NOW);
        assert.equal(await store.repositoryExists('lib/app'), true);
        assert.equal(await store.repositoryExists('lib'), false);
        assert.ok(await store.unlinkBlob('lib/app', blob('x').digest));
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['lib/app']);
      });

      it('a manifest creates the repository, and deleting it does not remove it', async () => {
        const m = manifest('app', 'm');
        await mustPut(store, m);
        assert.equal(await store.repositoryExists('app'), true);
        assert.ok(await store.deleteManifest('app', m.digest));
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['app']);
      });

      it('lists in byte order, strictly after last, at most limit', async () => {
        const names = ['b', 'a_b', 'a/b', 'a.b', 'a-b', 'ab', 'a', 'a/b/c'];
        for (const n of names) await store.linkBlob(n, blob('x'), NOW);
        const sorted = ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a_b', 'ab', 'b'];
        assert.deepEqual(await store.listRepositories({ limit: 100 }), sorted);
        assert.deepEqual(await store.listRepositories({ limit: 3 }), sorted.slice(0, 3));
        assert.deepEqual(await store.listRepositories({ last: 'a.b', limit: 2 }), ['a/b', 'a/b/c']);
        assert.deepEqual(await store.listRepositories({ last: 'a/a', limit: 100 }), sorted.slice(3), 'last not in the set');
        assert.deepEqual(await store.listRepositories({ last: 'b', limit: 10 }), []);
        assert.deepEqual(await store.listRepositories({ last: 'zzz', limit: 10 }), [], 'last beyond the end');
        assert.deepEqual(await store.listRepositories({ limit: 0 }), []);
      });

      it('pages 1,000 repositories by 100 with no gaps or duplicates', async () => {
        const names = Array.from({ length: 1000 }, (_, i) => `repo-${String((i * 7919) % 1000).padStart(4, '0')}`);
        for (const n of names) await store.linkBlob(n, blob('x'), NOW);
        const all = await pageAll((last) => store.listRepositories(last === undefined ? { limit: 100 } : { last, limit: 100 }), 100);
        assert.deepEqual(all, [...names].sort());
      });
    });

    describe('blob links', () => {
      it('links idempotently, reads back, unlinks once', async () => {
        const b = blob('layer', 1234);
        await store.linkBlob('app', b, NOW);
        await store.linkBlob('app', b, NOW + 1);
        assert.deepEqual(await store.getBlobLink('app', b.digest), { ...b, touchedAt: NOW + 1 }, 'linking again renews the receipt');
        await store.linkBlob('app', b, NOW);
        assert.equal((await store.getBlobLink('app', b.digest))?.touchedAt, NOW + 1, 'never back in time');
        assert.equal(await store.getBlobLink('other', b.digest), undefined);
        assert.equal(await store.getBlobLink('app', blob('nope').digest), undefined);
        assert.equal(await store.unlinkBlob('app', b.digest), true);
        assert.equal(await store.unlinkBlob('app', b.digest), false);
        assert.equal(await store.unlinkBlob('nowhere', b.digest), false);
        assert.equal(await store.getBlobLink('app', b.digest), undefined);
      });
    });

    enumerationContract(() => store);
    lifecycleContract(() => store);
    manifestLifecycleContract(() => store);
    const restart = async () => {
      if (opened.reopen === undefined) return undefined;
      await store.close();
      store = await opened.reopen();
      return store;
    };
    eventsContract(() => store, restart);
    auditContract(() => store, restart);
    leasesContract(() => store, restart);
    hashStateContract(() => store, restart);
    pullsContract(() => store, restart);
    summariesContract(() => store, restart);

    describe('manifests and tags', () => {
      it('puts a manifest with a tag and reads back the exact record', async () => {
        const config = blob('config', 7);
        const layer = blob('layer', 1000);
        await store.linkBlob('app', config, NOW);
        await store.linkBlob('app', layer, NOW);
        const bytes = Buffer.from([0x7b, 0x0a, 0x20, 0x00, 0xff, 0xfe, 0x7d, 0x0d, 0x0a]);
        const m = manifest('app', 'x', { bytes, digest: digestOf(bytes), tags: ['v1'], blobs: [config, layer], annotations: { a: '1', 'org.x': 'y' } });
        await mustPut(store, m);
        bytes[0] = 0; // the store keeps its own bytes
        assert.equal(await store.getTag('app', 'v1'), m.digest);
        const got = await store.getManifest('app', m.digest);
        assert.ok(got !== undefined);
        assert.deepEqual(Buffer.from(got.bytes), Buffer.from([0x7b, 0x0a, 0x20, 0x00, 0xff, 0xfe, 0x7d, 0x0d, 0x0a]));
        assert.equal(got.bytes.byteLength, 9);
        assert.equal(got.size, 9);
        assert.equal(got.repository, 'app');
        assert.equal(got.digest, m.digest);
        assert.equal(got.mediaType, MANIFEST);
        assert.equal(got.createdAt, NOW);
        assert.equal(got.subject, undefined);
        assert.deepEqual(got.annotations, { a: '1', 'org.x': 'y' });
        assert.equal(await store.getManifest('other', m.digest), undefined);
        assert.equal(await store.getManifest('app', digestOf('nope')), undefined);
      });

      it('moves a tag to another manifest and keeps the first', async () => {
        const m1 = manifest('app', '1', { tags: ['latest'] });
        const m2 = manifest('app', '2', { tags: ['latest'] });
        await mustPut(store, m1);
        await mustPut(store, m2);
        assert.equal(await store.getTag('app', 'latest'), m2.digest);
        assert.ok(await store.getManifest('app', m1.digest));
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['latest']);
      });

      it('putting the same manifest again keeps it and adds the new tag', async () => {
        const m = manifest('app', '1', { tags: ['a'] });
        await mustPut(store, m);
        await mustPut(store, { ...m, tags: ['b'], now: NOW + 5 });
        assert.equal((await store.getManifest('app', m.digest))?.createdAt, NOW);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['a', 'b']);
      });

      it('sets several tags in one put, moving those that pointed elsewhere; a missing reference sets none', async () => {
        const m1 = manifest('app', '1', { tags: ['latest', 'old'] });
        const m2 = manifest('app', '2', { tags: ['2.0', '2', 'latest', '2'] });
        await mustPut(store, m1);
        await mustPut(store, m2);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['2', '2.0', 'latest', 'old']);
        for (const tag of ['2', '2.0', 'latest']) assert.equal(await store.getTag('app', tag), m2.digest, tag);
        assert.equal(await store.getTag('app', 'old'), m1.digest);
        const broken = manifest('app', '3', { tags: ['new', 'latest'], blobs: [blob('absent', 3)] });
        assert.equal((await store.putManifest(broken)).ok, false);
        assert.equal(await store.getTag('app', 'new'), undefined, 'no tag of a refused put is set');
        assert.equal(await store.getTag('app', 'latest'), m2.digest);
      });

      it('reports a missing blob, a wrong size and a missing child manifest, writing nothing', async () => {
        const present = blob('present', 5);
        const child = manifest('app', 'child');
        await store.linkBlob('app', present, NOW);
        await mustPut(store, child);
        const absent = blob('absent', 9);
        const absentChild = manifest('app', 'absent-child');
        const index = manifest('app', 'index', {
          mediaType: INDEX,
          tags: ['bad'],
          blobs: [absent, { digest: present.digest, size: 6 }, present],
          manifests: [{ digest: child.digest, size: child.bytes.byteLength + 1 }, { digest: absentChild.digest, size: 3 }],
        });
        const result = await store.putManifest(index);
        assert.equal(result.ok, false);
        assert.ok(!result.ok);
        assert.deepEqual(
          [...result.missing].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
          [
            { digest: absent.digest, kind: 'blob', expectedSize: 9 },
            { digest: present.digest, kind: 'blob', expectedSize: 6, actualSize: 5 },
            { digest: child.digest, kind: 'manifest', expectedSize: child.bytes.byteLength + 1, actualSize: child.bytes.byteLength },
            { digest: absentChild.digest, kind: 'manifest', expectedSize: 3 },
          ].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
        );
        assert.equal(await store.getManifest('app', index.digest), undefined);
        assert.equal(await store.getTag('app', 'bad'), undefined);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), []);
      });

      it('a failed put creates no repository, and links elsewhere do not count', async () => {
        const b = blob('b', 3);
        await store.linkBlob('elsewhere', b, NOW);
        const result = await store.putManifest(manifest('fresh', 'm', { tags: ['t'], blobs: [b] }));
        assert.deepEqual(result, { ok: false, missing: [{ digest: b.digest, kind: 'blob', expectedSize: 3 }] });
        assert.equal(await store.repositoryExists('fresh'), false);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['elsewhere']);
        assert.equal(await store.getTag('fresh', 't'), undefined);
      });

      it('accepts an index whose child manifests exist with the right size', async () => {
        const child = manifest('app', 'child');
        await mustPut(store, child);
        const index = manifest('app', 'index', { mediaType: INDEX, tags: ['multi'], manifests: [{ digest: child.digest, size: child.bytes.byteLength }] });
        await mustPut(store, index);
        assert.equal((await store.getManifest('app', index.digest))?.mediaType, INDEX);
      });

      it('deleteManifest removes the tags pointing at it only', async () => {
        const m1 = manifest('app', '1', { tags: ['a'] });
        const m2 = manifest('app', '2', { tags: ['c'] });
        await mustPut(store, m1);
        await mustPut(store, { ...m1, tags: ['b'] });
        await mustPut(store, m2);
        assert.equal(await store.deleteManifest('app', m1.digest), true);
        assert.equal(await store.deleteManifest('app', m1.digest), false);
        assert.equal(await store.deleteManifest('nowhere', m2.digest), false);
        assert.equal(await store.getManifest('app', m1.digest), undefined);
        assert.equal(await store.getTag('app', 'a'), undefined);
        assert.deepEqual(await store.listTags('app', { limit: 10 }), ['c']);
        assert.equal(await store.getTag('app', 'c'), m2.digest);
      });

      it('deleteTag removes the tag and leaves the manifest', async () => {
        const m = manifest('app', '1', { tags: ['a'] });
        await mustPut(store, m);
        assert.equal(await store.deleteTag('app', 'a'), true);
        assert.equal(await store.deleteTag('app', 'a'), false);
        assert.equal(await store.deleteTag('nowhere', 'a'), false);
        assert.equal(await store.getTag('app', 'a'), undefined);
        assert.ok(await store.getManifest('app', m.digest));
      });

      it('lists tags in byte order with last and limit', async () => {
        const m = manifest('app', '1');
        const tags = ['latest', '_x', 'Latest', '2', '10', '1.0.1', '1.0-rc', '1.0', '\u{1F600}', '\uFFFD'];
        for (const tag of tags) await mustPut(store, { ...m, tags: [tag] });
        const sorted = ['1.0', '1.0-rc', '1.0.1', '10', '2', 'Latest', '_x', 'latest', '\uFFFD', '\u{1F600}'];
        assert.deepEqual(await store.listTags('app', { limit: 100 }), sorted);
        assert.deepEqual(await store.listTags('app', { last: '1.0-rc', limit: 2 }), ['1.0.1', '10']);
        assert.deepEqual(await store.listTags('app', { last: '1.5', limit: 3 }), ['10', '2', 'Latest'], 'last not in the set');
        assert.deepEqual(await store.listTags('app', { last: '\u{1F600}', limit: 10 }), []);
        assert.deepEqual(await store.listTags('app', { last: 'm', limit: 10 }), ['\uFFFD', '\u{1F600}']);
        assert.deepEqual(await store.listTags('other', { limit: 10 }), []);
      });

      it('pages 1,000 tags by 100 with no gaps or duplicates', async () => {
        const m = manifest('app', '1');
        const tags = Array.from({ length: 1000 }, (_, i) => `t${(i * 7919) % 1000}`);
        for (const tag of tags) await mustPut(store, { ...m, tags: [tag] });
        const all = await pageAll((last) => store.listTags('app', last === undefined ? { limit: 100 } : { last, limit: 100 }), 100);
        assert.deepEqual(all, [...tags].sort());
      });
    });

    describe('referrers', () => {
      const subject = manifest('app', 'subject');
      const sig = (seed: string, artifactType?: string, repository = 'app') =>
        manifest(repository, seed, {
          subject: subject.digest,
          ...(artifactType === undefined ? {} : { artifactType }),
          annotations: { seed },
        });

      it('lists referrers ordered by digest, filtered by artifactType', async () => {
        await mustPut(store, subject);
        const refs = [sig('a', 'application/x.sig'), sig('b', 'application/x.sbom'), sig('c', 'application/x.sig'), sig('d')];
        for (const r of refs) await mustPut(store, r);
        await mustPut(store, sig('other-repo', 'application/x.sig', 'other'));
        const expected = [...refs]
          .sort((x, y) => (x.digest < y.digest ? -1 : 1))
          .map((r) => ({
            digest: r.digest,
            mediaType: MANIFEST,
            size: r.bytes.byteLength,
            ...(r.artifactType === undefined ? {} : { artifactType: r.artifactType }),
            annotations: r.annotations,
          }));
        assert.deepEqual(await store.listReferrers('app', subject.digest, undefined), expected);
        assert.deepEqual(
          await store.listReferrers('app', subject.digest, 'application/x.sig'),
          expected.filter((r) => r.artifactType === 'application/x.sig'),
        );
        assert.deepEqual(await store.listReferrers('app', subject.digest, 'application/none'), []);
        assert.deepEqual(await store.listReferrers('app', digestOf('nothing'), undefined), []);
        assert.deepEqual(await store.listReferrers('nowhere', subject.digest, undefined), []);
      });

      it('records a referrer whose subject does not exist, once when put twice', async () => {
        const r = sig('a', 'application/x.sig');
        await mustPut(store, r);
        await mustPut(store, { ...r, tags: ['again'] });
        const listed = await store.listReferrers('app', subject.digest, undefined);
        assert.deepEqual(listed.map((x) => x.digest), [r.digest]);
      });

      it('a deleted referrer disappears from the listing', async () => {
        const a = sig('a', 'application/x.sig');
        const b = sig('b', 'application/x.sig');
        await mustPut(store, a);
        await mustPut(store, b);
        assert.ok(await store.deleteManifest('app', a.digest));
        assert.deepEqual((await store.listReferrers('app', subject.digest, undefined)).map((x) => x.digest), [b.digest]);
      });
    });

    describe('upload sessions', () => {
      const session = (id: string, updatedAt: number) => ({ id, repository: 'app', offset: 0, createdAt: 1000, updatedAt });

      it('creates, reads, updates, deletes and counts', async () => {
        assert.equal(await store.countUploads(), 0);
        await store.createUpload(session('u1', 1000));
        await store.createUpload({ ...session('u2', 1000), repository: 'not/created' });
        assert.deepEqual(await store.getUpload('u1'), session('u1', 1000));
        assert.equal(await store.getUpload('zz'), undefined);
        assert.equal(await store.countUploads(), 2);
        assert.equal(await store.repositoryExists('not/created'), false, 'an upload does not create a repository');
        assert.equal(await store.updateUpload('u1', 4096, 2000), true);
        assert.deepEqual(await store.getUpload('u1'), { ...session('u1', 2000), offset: 4096 });
        assert.equal(await store.updateUpload('zz', 1, 1), false);
        assert.equal(await store.deleteUpload('u1'), true);
        assert.equal(await store.deleteUpload('u1'), false);
        assert.equal(await store.getUpload('u1'), undefined);
        assert.equal(await store.countUploads(), 1);
      });

      it('a duplicate createUpload throws and keeps the first', async () => {
        await store.createUpload(session('u1', 1000));
        await assert.rejects(store.createUpload({ ...session('u1', 5000), offset: 7 }));
        assert.deepEqual(await store.getUpload('u1'), session('u1', 1000));
      });

      it('lists idle sessions strictly before, oldest first, at most limit', async () => {
        for (const [id, t] of [['c', 300], ['a', 100], ['e', 500], ['b', 300], ['d', 400]] as const) await store.createUpload(session(id, t));
        const ids = async (before: number, limit: number) => (await store.listIdleUploads(before, limit)).map((s) => s.id);
        assert.deepEqual(await ids(500, 10), ['a', 'b', 'c', 'd']);
        assert.deepEqual(await ids(500, 2), ['a', 'b']);
        assert.deepEqual(await ids(100, 10), []);
        assert.deepEqual(await ids(10_000, 0), []);
        assert.deepEqual((await store.listIdleUploads(301, 1))[0], session('a', 100));
      });
    });

    describe('signals, health and lifecycle', () => {
      it('every method rejects with the reason of an aborted signal and has no effect', async () => {
        const m = manifest('app', '1', { tags: ['t'] });
        await mustPut(store, m);
        await store.createUpload({ id: 'u', repository: 'app', offset: 0, createdAt: 1, updatedAt: 1 });
        const controller = new AbortController();
        const reason = new Error('stop');
        controller.abort(reason);
        const s = controller.signal;
        const calls: [string, () => Promise<unknown>][] = [
          ['repositoryExists', () => store.repositoryExists('app', s)],
          ['listRepositories', () => store.listRepositories({ limit: 1 }, s)],
          ['linkBlob', () => store.linkBlob('new', blob('x'), NOW, s)],
          ['getBlobLink', () => store.getBlobLink('app', blob('x').digest, s)],
          ['unlinkBlob', () => store.unlinkBlob('app', blob('x').digest, s)],
          ['listBlobLinks', () => store.listBlobLinks('app', { limit: 1 }, s)],
          ['listManifests', () => store.listManifests('app', { limit: 1 }, s)],
          ['putManifest', () => store.putManifest(manifest('new', '2', { tags: ['t'] }), s)],
          ['getManifest', () => store.getManifest('app', m.digest, s)],
          ['deleteManifest', () => store.deleteManifest('app', m.digest, s)],
          ['getTag', () => store.getTag('app', 't', s)],
          ['deleteTag', () => store.deleteTag('app', 't', s)],
          ['listTags', () => store.listTags('app', { limit: 1 }, s)],
          ['listReferrers', () => store.listReferrers('app', m.digest, undefined, s)],
          ['createUpload', () => store.createUpload({ id: 'v', repository: 'app', offset: 0, createdAt: 1, updatedAt: 1 }, s)],
          ['getUpload', () => store.getUpload('u', s)],
          ['updateUpload', () => store.updateUpload('u', 9, 9, s)],
          ['deleteUpload', () => store.deleteUpload('u', s)],
          ['countUploads', () => store.countUploads(s)],
          ['listIdleUploads', () => store.listIdleUploads(10, 10, s)],
          ['checkHealth', () => store.checkHealth(s)],
        ];
        for (const [method, call] of calls) await assert.rejects(call(), (err) => err === reason, method);
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['app']);
        assert.equal(await store.getTag('app', 't'), m.digest);
        assert.ok(await store.getManifest('app', m.digest));
        assert.deepEqual(await store.getUpload('u'), { id: 'u', repository: 'app', offset: 0, createdAt: 1, updatedAt: 1 });
        assert.equal(await store.getUpload('v'), undefined);
      });

      it('checkHealth resolves on an open store; close is idempotent', async () => {
        await store.checkHealth();
        await store.checkHealth(new AbortController().signal);
        await store.close();
        await store.close();
        await assert.rejects(store.checkHealth());
      });

      it('keeps everything across close and reopen', async (t) => {
        if (opened.reopen === undefined) return t.skip('not persistent');
        const layer = blob('layer', 42);
        await store.linkBlob('app', layer, NOW);
        const subject = manifest('app', 's', { tags: ['v1'], blobs: [layer], annotations: { k: 'v' } });
        const ref = manifest('app', 'r', { subject: subject.digest, artifactType: 'application/x.sig' });
        await mustPut(store, subject);
        await mustPut(store, ref);
        await store.createUpload({ id: 'u', repository: 'app', offset: 5, createdAt: 1, updatedAt: 2 });
        const reserved = blob('reserved').digest;
        const marked = blob('marked').digest;
        assert.ok(await store.reserveBlob(reserved, 'u', Date.now(), 3600_000));
        assert.ok(await store.markBlobForDeletion(marked, 'gc', { now: Date.now(), graceMs: 0, leaseMs: 3600_000 }));
        await store.close();
        store = await opened.reopen();
        const mark = { now: Date.now(), graceMs: 0, leaseMs: 3600_000 };
        assert.equal(await store.markBlobForDeletion(reserved, 'gc', mark), false, 'the reservation survived');
        assert.equal(await store.reserveBlob(marked, 'u', Date.now(), 3600_000), false, 'the mark survived');
        assert.deepEqual(await store.listRepositories({ limit: 10 }), ['app']);
        assert.deepEqual(await store.getBlobLink('app', layer.digest), { ...layer, touchedAt: NOW }, 'with its receipt');
        assert.equal(await store.getTag('app', 'v1'), subject.digest);
        const got = await store.getManifest('app', subject.digest);
        assert.deepEqual(got && Buffer.from(got.bytes), subject.bytes);
        assert.deepEqual(got?.annotations, { k: 'v' });
        assert.deepEqual(await store.listReferrers('app', subject.digest, undefined), [
          { digest: ref.digest, mediaType: MANIFEST, size: ref.bytes.byteLength, artifactType: 'application/x.sig' },
        ]);
        assert.deepEqual(await store.getUpload('u'), { id: 'u', repository: 'app', offset: 5, createdAt: 1, updatedAt: 2 });
      });
    });
  });
}

/**
 * The untagged-manifest policy (gc.untagged rules): what goes and what stays,
 * for plain images, multi-arch indexes and referrers, on both storage
 * configurations, through POST /admin/gc.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digestFromHex } from '../../src/oci/digest.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, STORAGE_KINDS, type TestRegistry } from '../../support/registry.js';
import { adminGc, blobStatus, image, index, manifestStatus, referrer } from './images.js';

for (const kind of STORAGE_KINDS) {
  describe(`untagged manifests [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind, {
        gc: { intervalMs: 0, graceMs: 0 },
        storagePolicy: {
          untagged: [
            { repositories: ['keep-refs/**'], olderThanMs: 0, orphanReferrers: false },
            { repositories: ['ci/**'], olderThanMs: 0 },
            { repositories: ['slow/**'], olderThanMs: 3600_000 },
          ],
        },
      });
      client = new OciClient(registry.url);
    });
    after(() => registry.close());

    it('removes untagged images with their blobs, keeps tagged ones, leaves other repositories alone', async () => {
      const tagged = await image(client, 'ci/plain', 'v1');
      const loose = await image(client, 'ci/plain');
      const moved = await image(client, 'ci/plain', 'latest');
      const mover = await image(client, 'ci/plain', 'latest'); // latest moves off `moved`
      const elsewhere = await image(client, 'other/plain');
      const young = await image(client, 'slow/plain');
      const dry = await adminGc(client, true);
      assert.deepEqual(dry.manifests?.manifests.map((m) => m.digest).sort(), [loose.digest, moved.digest].sort());
      assert.equal(await manifestStatus(client, 'ci/plain', loose.digest), 200, 'a dry run removes nothing');

      const report = await adminGc(client);
      assert.equal(report.manifests?.manifestsRemoved, 2);
      for (const gone of [loose, moved]) {
        assert.equal(await manifestStatus(client, 'ci/plain', gone.digest), 404);
        for (const b of gone.blobs) assert.equal(await blobStatus(client, 'ci/plain', b), 404, 'its blobs are unlinked');
        for (const b of gone.blobs) assert.equal(await registry.blobStore.stat(b), undefined, 'and collected');
      }
      for (const [repo, kept] of [['ci/plain', tagged], ['ci/plain', mover], ['other/plain', elsewhere], ['slow/plain', young]] as const) {
        assert.equal(await manifestStatus(client, repo, kept.digest), 200);
        for (const b of kept.blobs) assert.equal(await blobStatus(client, repo, b), 200);
      }
    });

    it('multi-arch: keeps every child of an index, removes an untagged index and the children only it used', async () => {
      const [a, b, c, d] = [await image(client, 'ci/multi'), await image(client, 'ci/multi'), await image(client, 'ci/multi'), await image(client, 'ci/multi')];
      const taggedIndex = await index(client, 'ci/multi', [a, b], 'v1');
      const untaggedIndex = await index(client, 'ci/multi', [b, c]);
      const nested = await index(client, 'ci/multi', [taggedIndex]); // an untagged index may reference a tagged one
      const report = await adminGc(client);
      const removed = new Set(report.manifests?.manifests.map((m) => m.digest));
      assert.deepEqual([...removed].sort(), [untaggedIndex.digest, c.digest, d.digest, nested.digest].sort());
      for (const kept of [a, b, taggedIndex]) assert.equal(await manifestStatus(client, 'ci/multi', kept.digest), 200);
      for (const gone of [untaggedIndex, c, d, nested]) assert.equal(await manifestStatus(client, 'ci/multi', gone.digest), 404);
      assert.equal(await manifestStatus(client, 'ci/multi', 'v1'), 200);
    });

    it('referrers: kept while their subject exists, removed with it or when it never existed; kept everywhere with orphanReferrers: false', async () => {
      const subject = await image(client, 'ci/sig', 'v1');
      const sig = await referrer(client, 'ci/sig', subject);
      const untaggedSubject = await image(client, 'ci/sig');
      const sigOfUntagged = await referrer(client, 'ci/sig', untaggedSubject);
      const phantom = { digest: digestFromHex('sha256', 'ab'.repeat(32)), size: 123, blobs: [] };
      const orphan = await referrer(client, 'ci/sig', phantom);
      const taggedOrphan = await referrer(client, 'ci/sig', phantom, 'sig-tag');
      const keptOrphan = await referrer(client, 'keep-refs/sig', phantom);
      await adminGc(client);
      assert.equal(await manifestStatus(client, 'ci/sig', sig.digest), 200, 'its subject exists');
      assert.equal(await manifestStatus(client, 'ci/sig', untaggedSubject.digest), 404);
      assert.equal(await manifestStatus(client, 'ci/sig', sigOfUntagged.digest), 404, 'removed with its subject');
      assert.equal(await manifestStatus(client, 'ci/sig', orphan.digest), 404, 'its subject never existed');
      assert.equal(await manifestStatus(client, 'ci/sig', taggedOrphan.digest), 200, 'tagged');
      assert.equal(await manifestStatus(client, 'keep-refs/sig', keptOrphan.digest), 200, 'orphanReferrers: false');
      const listed = (await (await client.fetch(`/v2/ci/sig/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] };
      assert.deepEqual(listed.manifests.map((m) => m.digest), [sig.digest]);
    });
  });
}

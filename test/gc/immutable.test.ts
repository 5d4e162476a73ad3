/**
 * Immutable tags (immutableTags rules): such a tag is never moved or deleted
 * and its manifest is not deleted (409 DENIED in the spec's envelope); other
 * tags and repositories behave as usual; racing first pushes of one tag
 * leave exactly one winner.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient } from '../../support/oci-client.js';
import { startRegistry, STORAGE_KINDS, type TestRegistry } from '../../support/registry.js';
import { image, MANIFEST, manifestStatus } from './images.js';

for (const kind of STORAGE_KINDS) {
  describe(`immutable tags [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind, {
        storagePolicy: { immutableTags: [{ repositories: ['rel/**'], tags: ['v*', 'stable'] }, { repositories: ['frozen'] }] },
      });
      client = new OciClient(registry.url);
    });
    after(() => registry.close());

    const put = (repo: string, tag: string, m: { digest: string }) =>
      client.fetch(`/v2/${repo}/manifests/${m.digest}`, { headers: { accept: MANIFEST } }).then(async (r) => client.putManifest(repo, tag, Buffer.from(await r.arrayBuffer())));

    it('an immutable tag is created once, set again to the same manifest, and never moved', async () => {
      const m1 = await image(client, 'rel/app', 'v1');
      const m2 = await image(client, 'rel/app');
      assert.equal((await put('rel/app', 'v1', m1)).status, 201, 'the same manifest again');
      const body = await expectError(await put('rel/app', 'v1', m2), 409, 'DENIED');
      assert.match(body.errors[0]!.message, /tag v1 of repository rel\/app is immutable/);
      assert.equal((await client.fetch('/v2/rel/app/manifests/v1', { method: 'HEAD', headers: { accept: MANIFEST } })).headers.get('docker-content-digest'), m1.digest);
      // Mutable tags of the same repository, and other repositories, move as usual.
      assert.equal((await put('rel/app', 'latest', m1)).status, 201);
      assert.equal((await put('rel/app', 'latest', m2)).status, 201);
      const other = await image(client, 'dev/app', 'v1');
      assert.equal((await put('dev/app', 'v1', await image(client, 'dev/app'))).status, 201);
      assert.equal(await manifestStatus(client, 'dev/app', other.digest), 200);
      // A rule without tag patterns covers every tag.
      await image(client, 'frozen', 'anything');
      await expectError(await put('frozen', 'anything', await image(client, 'frozen')), 409, 'DENIED');
      assert.equal(await manifestStatus(client, 'frozen', 'anything'), 200);
    });

    it('an immutable tag is not deleted, nor the manifest it points at; other manifests and tags are', async () => {
      const m = await image(client, 'rel/del', 'v1.0');
      await put('rel/del', 'scratch', m);
      await expectError(await client.fetch('/v2/rel/del/manifests/v1.0', { method: 'DELETE' }), 409, 'DENIED');
      const byDigest = await expectError(await client.fetch(`/v2/rel/del/manifests/${m.digest}`, { method: 'DELETE' }), 409, 'DENIED');
      assert.match(byDigest.errors[0]!.message, /cannot be deleted/);
      assert.equal(await manifestStatus(client, 'rel/del', 'v1.0'), 200);
      assert.equal(await manifestStatus(client, 'rel/del', 'scratch'), 200, 'the refused delete removed no tag');
      assert.equal((await client.fetch('/v2/rel/del/manifests/scratch', { method: 'DELETE' })).status, 202, 'a mutable tag');
      const dev = await image(client, 'rel/del', 'dev');
      await put('rel/del', 'dev2', dev);
      assert.equal((await client.fetch(`/v2/rel/del/manifests/${dev.digest}`, { method: 'DELETE' })).status, 202, 'only mutable tags point at it');
      assert.equal(await manifestStatus(client, 'rel/del', 'dev'), 404);
      assert.equal(await manifestStatus(client, 'rel/del', 'dev2'), 404);
      await expectError(await client.fetch('/v2/rel/del/manifests/v9', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch(`/v2/rel/del/manifests/${dev.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    it('16 racing first pushes of one immutable tag: one 201, fifteen 409, the tag on the winner', async () => {
      const images = await Promise.all(Array.from({ length: 16 }, () => image(client, 'rel/race')));
      const results = await Promise.all(images.map((m) => put('rel/race', 'v2', m)));
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(' '));
      assert.equal(statuses.filter((s) => s === 409).length, 15, statuses.join(' '));
      const winner = images[statuses.indexOf(201)]!;
      const head = await client.fetch('/v2/rel/race/manifests/v2', { method: 'HEAD', headers: { accept: MANIFEST } });
      assert.equal(head.headers.get('docker-content-digest'), winner.digest);
    });
  });
}

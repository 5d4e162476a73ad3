/**
 * Blob links as receipts (docs/gc.md): a manifest delete frees the space of
 * the blobs no remaining manifest uses (issue: a deleted image was never
 * collected), and a blob uploaded, mounted or confirmed by HEAD within the
 * grace period stays in its repository whatever collection removes (issue: a
 * collection pruning an older manifest unlinked a layer a client had just
 * pushed, and the client's manifest PUT failed MANIFEST_BLOB_UNKNOWN).
 * Sequential reproductions, over HTTP, on both storage configurations.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciClient } from '../../support/oci-client.js';
import { digestOf } from '../../src/oci/digest.js';
import { startRegistry, STORAGE_KINDS, type TestRegistry } from '../../support/registry.js';
import { adminGc, blobStatus, MANIFEST } from './images.js';

const HOUR = 3600_000;

/** A manifest body over a config and layers already pushed. */
function manifestOf(config: Buffer, layers: readonly Buffer[]) {
  return {
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length })),
  };
}

const configBlob = () => Buffer.from(JSON.stringify({ os: 'linux', nonce: randomBytes(8).toString('hex') }));

/** Pushes config + layers and the manifest under `ref` (a tag, or its digest when absent); resolves the manifest digest. */
async function push(client: OciClient, repo: string, layers: readonly Buffer[], tag?: string): Promise<string> {
  const config = configBlob();
  for (const b of [config, ...layers]) await client.pushBlob(repo, b);
  const bytes = Buffer.from(JSON.stringify(manifestOf(config, layers)));
  const res = await client.putManifest(repo, tag ?? digestOf(bytes), bytes, MANIFEST);
  assert.equal(res.status, 201, await res.text());
  return digestOf(bytes);
}

/** The on-disk path of a committed blob of a disk registry. */
const blobFile = (registry: TestRegistry, digest: string) => join(registry.dir!, 'blobs', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
const exists = (path: string) => access(path).then(() => true, () => false);

for (const kind of STORAGE_KINDS) {
  describe(`deleting an image frees its space [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind, { gc: { intervalMs: 0, graceMs: 0 } });
      client = new OciClient(registry.url);
    });
    after(() => registry.close());

    it('a manifest DELETE by digest (as skopeo delete sends it), then a collection: the blobs only it used are deleted, shared ones kept', async () => {
      const shared = randomBytes(1000);
      const big = randomBytes(5 * 1024 * 1024);
      const keep = await push(client, 'app/keep', [shared], 'v1');
      const gone = await push(client, 'app/del', [shared, big], 'v1');
      await client.pushBlob('app/del', shared); // pushed twice into app/del: still one link
      // skopeo delete docker://host/app/del:v1 GETs the manifest by tag, then DELETEs it by digest.
      const got = await client.fetch('/v2/app/del/manifests/v1', { headers: { accept: MANIFEST } });
      assert.equal(got.headers.get('docker-content-digest'), gone);
      await got.arrayBuffer();
      const del = await client.fetch(`/v2/app/del/manifests/${gone}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      if (registry.dir) assert.ok(await exists(blobFile(registry, digestOf(big))), 'the layer file is there before the collection');

      const report = await adminGc(client);
      assert.ok(report.deleted >= 2, `the big layer and the config are deleted (report ${JSON.stringify(report)})`);
      assert.ok((report.bytesFreed as number) >= big.length, `5 MiB freed (report ${JSON.stringify(report)})`);
      assert.equal(await registry.blobStore.stat(digestOf(big)), undefined, 'the layer content is gone');
      if (registry.dir) assert.equal(await exists(blobFile(registry, digestOf(big))), false, 'and its file removed');
      assert.equal(await blobStatus(client, 'app/del', digestOf(big)), 404);
      assert.equal(await blobStatus(client, 'app/keep', digestOf(shared)), 200, 'a layer another repository uses stays');
      assert.equal((await client.fetch(`/v2/app/keep/manifests/${keep}`, { method: 'HEAD', headers: { accept: MANIFEST } })).status, 200);
    });
  });

  describe(`a blob received within the grace period stays in its repository [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind, {
        gc: { intervalMs: 0, graceMs: HOUR }, // the default grace
        storagePolicy: {
          untagged: [{ repositories: ['untagged/**'], olderThanMs: 0 }],
          retention: [{ repositories: ['retained/**'], keepLast: 1 }],
        },
      });
      client = new OciClient(registry.url);
    });
    after(() => registry.close());

    /** Pushes the old image that alone uses `layer`, makes it removable by policy, lets the client `receive` the layer, collects, then pushes a new image on the layer. */
    async function scenario(repo: string, receive: (layer: Buffer) => Promise<void>): Promise<void> {
      const layer = randomBytes(2000);
      const old = await push(client, repo, [layer], repo.startsWith('retained/') ? 'old' : undefined);
      if (repo.startsWith('retained/')) await push(client, repo, [randomBytes(10)], 'newer'); // retention now drops `old`
      await receive(layer);
      const report = await adminGc(client);
      assert.deepEqual(report.manifests?.manifests.filter((m) => (m as { repository?: string }).repository === repo).map((m) => m.digest), [old], 'the old manifest was pruned');
      assert.equal((await client.fetch(`/v2/${repo}/manifests/${old}`, { method: 'HEAD', headers: { accept: MANIFEST } })).status, 404);
      assert.equal(await blobStatus(client, repo, digestOf(layer)), 200, 'the layer the client just received is still in the repository');
      const config = configBlob();
      await client.pushBlob(repo, config);
      const res = await client.putManifest(repo, 'next', Buffer.from(JSON.stringify(manifestOf(config, [layer]))), MANIFEST);
      assert.equal(res.status, 201, `the client's manifest PUT: ${await res.text()}`);
    }

    for (const policy of ['untagged', 'retained']) {
      it(`${policy}: upload (201), collection prunes the only other user, manifest PUT succeeds`, () =>
        scenario(`${policy}/upload`, async (layer) => void (await client.pushBlob(`${policy}/upload`, layer))));

      it(`${policy}: mount (201), collection, manifest PUT succeeds`, () =>
        scenario(`${policy}/mount`, async (layer) => {
          await client.pushBlob('elsewhere/src', layer);
          const res = await client.fetch(`/v2/${policy}/mount/blobs/uploads/?mount=${digestOf(layer)}&from=elsewhere/src`, { method: 'POST' });
          assert.equal(res.status, 201);
        }));

      it(`${policy}: HEAD finds the layer (the push skips it), collection, manifest PUT succeeds`, () =>
        scenario(`${policy}/head`, async (layer) => assert.equal(await blobStatus(client, `${policy}/head`, digestOf(layer)), 200)));
    }

    it('a manifest DELETE keeps the blobs for the grace period: a push that reuses them right after succeeds', async () => {
      const layer = randomBytes(500);
      const old = await push(client, 'plain/app', [layer]);
      assert.equal((await client.fetch(`/v2/plain/app/manifests/${old}`, { method: 'DELETE' })).status, 202);
      await adminGc(client);
      assert.equal(await blobStatus(client, 'plain/app', digestOf(layer)), 200);
      await push(client, 'plain/app', [layer], 'again');
    });
  });
}

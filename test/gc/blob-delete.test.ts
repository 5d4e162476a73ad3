/**
 * DELETE of a blob that a manifest of the repository still references: the
 * spec allows it (202), and the registry accepts it (docs/gc.md). The link
 * goes, the content stays (a referenced blob is never collected), and
 * `ferro-oci-server check` reports it as a warning, passing with exit 0
 * (issue: it failed with reference-missing after this legal sequence, and
 * after a conformance run that deletes blobs before manifests).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { blobFile, runCheck } from '../../support/durability.js';
import { adminGc, blobStatus, MANIFEST } from './images.js';
import { access } from 'node:fs/promises';

const exists = (path: string) => access(path).then(() => true, () => false);

describe('deleting a blob a manifest references', () => {
  let registry: TestRegistry;
  let client: OciClient;
  before(async () => {
    registry = await startRegistry('disk', { gc: { intervalMs: 0, graceMs: 0 } });
    client = new OciClient(registry.url);
  });
  after(() => registry.close());

  it('is accepted (202); check warns and passes; collection keeps the content; a push again restores the link', async () => {
    const image = await client.pushImage('lib/app', 'v1', { layers: 2, layerSize: 3000 });
    const layer = image.layers[0]!.digest;
    assert.equal((await client.fetch(`/v2/lib/app/blobs/${layer}`, { method: 'DELETE' })).status, 202);
    assert.equal(await blobStatus(client, 'lib/app', layer), 404);

    const check = await runCheck(['--storage-dir', registry.dir!]);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, new RegExp(`warning reference-unlinked ${image.digest}: references blob ${layer}, which a client unlinked`));
    assert.match(check.output, /OK: no problems found/);

    const report = await adminGc(client);
    assert.equal(report.deleted, 0, 'a referenced blob is never collected');
    assert.ok(await exists(blobFile(registry.dir!, layer)));
    assert.equal((await client.fetch(`/v2/lib/app/manifests/v1`, { headers: { accept: MANIFEST } })).status, 200);
    await client.pushBlob('lib/app', image.layers[0]!.bytes);
    assert.equal(await blobStatus(client, 'lib/app', layer), 200);
  });

  it('a conformance-style teardown (blobs first, then the manifest): check passes, and the next collection frees everything', async () => {
    const image = await client.pushImage('conformance/teardown', 'v1', { layers: 1, layerSize: 4000 });
    for (const digest of [image.configDigest, image.layers[0]!.digest]) {
      assert.equal((await client.fetch(`/v2/conformance/teardown/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    }
    const mid = await runCheck(['--storage-dir', registry.dir!]);
    assert.equal(mid.code, 0, mid.output);
    assert.equal((await client.fetch(`/v2/conformance/teardown/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
    const report = await adminGc(client);
    assert.ok(report.deleted >= 2, JSON.stringify(report));
    for (const digest of [image.configDigest, image.layers[0]!.digest]) assert.equal(await exists(blobFile(registry.dir!, digest)), false);
    const end = await runCheck(['--storage-dir', registry.dir!]);
    assert.equal(end.code, 0, end.output);
  });
});

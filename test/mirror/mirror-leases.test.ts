/**
 * Single flight across replicas (docs/mirror.md), with two registries on one
 * host sharing one SQLite file and one blob directory (as replicas share
 * PostgreSQL and S3; test/replicas/mirror-replicas.test.ts runs those):
 * concurrent cold pulls at both send one upstream GET per blob and per tag,
 * and a lease left by a replica that died is taken over at its expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { pullBlob, pullManifest, upstream } from './helpers.js';

describe('mirror single flight across replicas sharing one store', () => {
  let origin: TestRegistry;
  let proxy: UpstreamProxy;
  let first: TestRegistry;
  let second: TestRegistry;

  before(async () => {
    origin = await startRegistry('memory');
    proxy = await startUpstreamProxy(origin.url);
    const mirrors = { upstreams: [upstream(proxy.url)] };
    first = await startRegistry('disk', { mirrors });
    second = await startRegistry('disk', { mirrors, dir: first.dir! });
  });
  after(async () => {
    await second?.stop(); // the shared dir goes with the first
    await first?.close();
    await proxy?.close();
    await origin?.close();
  });

  it('10 concurrent cold pulls at each replica send one upstream GET per blob and one for the tag', async () => {
    const image = await new OciClient(origin.url).pushImage('library/app', 'v1', { layers: 3, layerSize: 1 << 20 });
    const blobs = [image.configDigest, ...image.layers.map((l) => l.digest)];
    proxy.chunkDelayMs = 5; // the transfers overlap
    try {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const base = (i % 2 === 0 ? first : second).url;
          const m = await pullManifest(base, 'up.test/library/app', 'v1');
          assert.equal(m.res.status, 200);
          assert.deepEqual(m.bytes, image.bytes);
          for (const b of await Promise.all(blobs.map((d) => pullBlob(base, 'up.test/library/app', d)))) assert.equal(b.status, 200);
        }),
      );
    } finally {
      proxy.chunkDelayMs = 0;
    }
    assert.deepEqual(
      blobs.map((d) => proxy.count('GET', `/v2/library/app/blobs/${d}`)),
      [1, 1, 1, 1],
    );
    assert.equal(proxy.count('GET', '/v2/library/app/manifests/v1'), 1);
  });

  it('waits while a replica that died holds the lease, then takes it over at its expiry and fetches once', async () => {
    const image = await new OciClient(origin.url).pushImage('library/orphan', 'v1', { layers: 1, layerSize: 100_000 });
    const layer = image.layers[0]!.digest;
    const meta = first.metadataStore;
    // The key docs/mirror.md names: blob <upstream> <local name>@<digest>.
    assert.equal(await meta.acquireLease(`blob up up.test/library/orphan@${layer}`, 'a replica that died', meta.clock(), 1500), true);
    let settled = false;
    const pull = pullBlob(second.url, 'up.test/library/orphan', layer).finally(() => (settled = true));
    await sleep(700);
    assert.equal(settled, false, 'the pull waits while the lease is held');
    assert.equal(proxy.count('GET', `/v2/library/orphan/blobs/${layer}`), 0, 'nothing is asked upstream meanwhile');
    assert.deepEqual(await pull, { status: 200, size: 100_000 });
    assert.equal(proxy.count('GET', `/v2/library/orphan/blobs/${layer}`), 1);
  });
});

/**
 * The pull-through cache against a real upstream (a second instance of this
 * registry on loopback) behind a counting proxy (support/upstream-proxy.ts):
 * the three ways of addressing an upstream, blobs streamed while stored,
 * single flight, cut transfers, and serving through an outage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseDigest } from '../../src/oci/digest.js';
import { OciClient, expectError } from '../../support/oci-client.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { pullBlob, pullManifest, upstream } from './helpers.js';

describe('pull-through cache', () => {
  let origin: TestRegistry;
  let proxy: UpstreamProxy;
  let mirror: TestRegistry;
  let image: Awaited<ReturnType<OciClient['pushImage']>>;

  before(async () => {
    origin = await startRegistry('memory');
    image = await new OciClient(origin.url).pushImage('library/app', 'v1', { layers: 3, layerSize: 1 << 20 });
    proxy = await startUpstreamProxy(origin.url);
    mirror = await startRegistry('disk', { mirrors: { upstreams: [upstream(proxy.url, { default: true, tagTtlMs: 0, breakerFailures: 1000 })] } });
  });
  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await origin?.close();
  });

  it('serves an image by path prefix, then from its cache by default upstream and by ns=, with one upstream GET per blob', async () => {
    const byPrefix = await pullManifest(mirror.url, 'up.test/library/app', 'v1');
    assert.equal(byPrefix.res.status, 200);
    assert.deepEqual(byPrefix.bytes, image.bytes);
    assert.equal(byPrefix.res.headers.get('docker-content-digest'), image.digest);
    for (const layer of image.layers) assert.deepEqual(await pullBlob(mirror.url, 'up.test/library/app', layer.digest), { status: 200, size: layer.bytes.length });
    assert.deepEqual(await pullBlob(mirror.url, 'up.test/library/app', image.configDigest), { status: 200, size: image.config.length });

    const byDefault = await pullManifest(mirror.url, 'library/app', image.digest);
    assert.equal(byDefault.res.status, 200);
    assert.deepEqual(byDefault.bytes, image.bytes);
    const byNs = await pullManifest(mirror.url, 'library/app', image.digest, '?ns=up.test');
    assert.equal(byNs.res.status, 200);
    assert.equal(byNs.res.headers.get('oci-namespace'), 'up.test', 'distribution-spec-next: the ns a registry scoped by is answered as OCI-Namespace');
    assert.equal(byDefault.res.headers.get('oci-namespace'), null);
    for (const layer of image.layers) assert.equal((await pullBlob(mirror.url, 'library/app', layer.digest)).status, 200);

    for (const layer of image.layers) assert.equal(proxy.count('GET', `/v2/library/app/blobs/${layer.digest}`), 1, 'one upstream GET per blob');
    assert.equal(proxy.count('GET', `/v2/library/app/manifests/${image.digest}`), 0, 'a digest cached by its tag never goes upstream');
    // Stored under the upstream's namespace like any repository.
    assert.ok(await mirror.metadataStore.getManifest('up.test/library/app', image.digest));
    assert.equal(await mirror.metadataStore.getTag('up.test/library/app', 'v1'), image.digest);
  });

  it('revalidates a tag with HEAD (tag TTL 0 here) and follows a tag the upstream moved', async () => {
    const heads = proxy.count('HEAD', '/v2/library/app/manifests/v1');
    assert.equal((await pullManifest(mirror.url, 'up.test/library/app', 'v1')).res.status, 200);
    assert.equal(proxy.count('HEAD', '/v2/library/app/manifests/v1'), heads + 1);
    const moved = await new OciClient(origin.url).pushImage('library/app', 'v1', { layers: 1 });
    const pulled = await pullManifest(mirror.url, 'up.test/library/app', 'v1');
    assert.deepEqual(pulled.bytes, moved.bytes);
    assert.equal(await mirror.metadataStore.getTag('up.test/library/app', 'v1'), moved.digest);
  });

  it('refuses pushes into a mirrored namespace with 405 UNSUPPORTED', async () => {
    await expectError(await fetch(`${mirror.url}/v2/up.test/library/app/blobs/uploads/`, { method: 'POST' }), 405, 'UNSUPPORTED');
    await expectError(await fetch(`${mirror.url}/v2/mine/blobs/uploads/`, { method: 'POST' }), 405, 'UNSUPPORTED', 'with a default upstream every name outside the namespaces is mirrored');
    const put = await fetch(`${mirror.url}/v2/up.test/library/app/manifests/x`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: image.bytes });
    await expectError(put, 405, 'UNSUPPORTED');
  });

  it('answers 404 for what the upstream does not have', async () => {
    await expectError((await pullManifest(mirror.url, 'up.test/library/nothing', 'v1')).res, 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(`${mirror.url}/v2/up.test/library/app/blobs/sha256:${'0'.repeat(64)}`), 404, 'BLOB_UNKNOWN');
  });

  it('answers HEAD of an uncached blob from an upstream HEAD, and a Range GET of one after storing it', async () => {
    const img = await new OciClient(origin.url).pushImage('library/ranged', 'v1', { layers: 1, layerSize: 100_000 });
    const layer = img.layers[0]!;
    const head = await fetch(`${mirror.url}/v2/up.test/library/ranged/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), layer.digest);
    assert.equal(proxy.count('HEAD', `/v2/library/ranged/blobs/${layer.digest}`), 1);
    assert.equal(await mirror.metadataStore.getBlobLink('up.test/library/ranged', parseDigest(layer.digest).digest), undefined, 'a HEAD stores nothing');
    const ranged = await fetch(`${mirror.url}/v2/up.test/library/ranged/blobs/${layer.digest}`, { headers: { range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.bytes.subarray(10, 20));
    assert.ok(await mirror.metadataStore.getBlobLink('up.test/library/ranged', parseDigest(layer.digest).digest));
  });

  it('coalesces 20 concurrent cold pulls of a 3-layer image into one upstream GET per blob and per tag', async () => {
    const cold = await new OciClient(origin.url).pushImage('library/cold', 'v1', { layers: 3, layerSize: 1 << 20 });
    proxy.chunkDelayMs = 5; // the transfers overlap
    try {
      const pulls = Array.from({ length: 20 }, async () => {
        const m = await pullManifest(mirror.url, 'up.test/library/cold', 'v1');
        assert.equal(m.res.status, 200);
        assert.deepEqual(m.bytes, cold.bytes);
        const blobs = await Promise.all([cold.configDigest, ...cold.layers.map((l) => l.digest)].map((d) => pullBlob(mirror.url, 'up.test/library/cold', d)));
        for (const b of blobs) assert.equal(b.status, 200);
      });
      await Promise.all(pulls);
    } finally {
      proxy.chunkDelayMs = 0;
    }
    for (const d of [cold.configDigest, ...cold.layers.map((l) => l.digest)]) assert.equal(proxy.count('GET', `/v2/library/cold/blobs/${d}`), 1, `one upstream GET of ${d}`);
    assert.equal(proxy.count('GET', '/v2/library/cold/manifests/v1'), 1, 'one upstream manifest GET for the tag');
  });

  it('leaves nothing visible after a cut upstream transfer, and the next pull fetches again', async () => {
    const cut = await new OciClient(origin.url).pushImage('library/cut', 'v1', { layers: 1, layerSize: 2 << 20 });
    const layer = cut.layers[0]!;
    proxy.mode = { kind: 'cut', cutAfterBytes: 300_000 };
    try {
      const res = await fetch(`${mirror.url}/v2/up.test/library/cut/blobs/${layer.digest}`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer(), 'the client sees the cut, not a short blob that looks complete');
    } finally {
      proxy.mode = { kind: 'pass' };
    }
    await waitFor(async () => (await mirror.blobStore.stat(parseDigest(layer.digest).digest)) === undefined && (await mirror.metadataStore.getBlobLink('up.test/library/cut', parseDigest(layer.digest).digest)) === undefined);
    assert.equal(await mirror.blobStore.stat(parseDigest(layer.digest).digest), undefined);
    assert.deepEqual(await pullBlob(mirror.url, 'up.test/library/cut', layer.digest), { status: 200, size: layer.bytes.length });
    assert.equal(proxy.count('GET', `/v2/library/cut/blobs/${layer.digest}`), 2);
  });

  it('follows an upstream that redirects a blob GET to another origin (blob storage)', async () => {
    const moved = await new OciClient(origin.url).pushImage('library/moved', 'v1', { layers: 1, layerSize: 1 << 20 });
    const layer = moved.layers[0]!;
    proxy.mode = { kind: 'redirect' };
    try {
      assert.deepEqual(await pullBlob(mirror.url, 'up.test/library/moved', layer.digest), { status: 200, size: layer.bytes.length });
    } finally {
      proxy.mode = { kind: 'pass' };
    }
    assert.equal(proxy.count('GET', `/v2/library/moved/blobs/${layer.digest}`), 1);
    assert.deepEqual(await pullBlob(mirror.url, 'up.test/library/moved', layer.digest), { status: 200, size: layer.bytes.length }, 'stored: served again without the upstream');
    assert.equal(proxy.count('GET', `/v2/library/moved/blobs/${layer.digest}`), 1);
  });

  it('serves cached content with a Warning while the upstream is down or rate-limits, fails uncached content clearly, and resumes', async () => {
    const fresh = await new OciClient(origin.url).pushImage('library/later', 'v1', { layers: 1 });
    for (const mode of [{ kind: 'refuse' }, { kind: 'status', status: 503 }, { kind: 'status', status: 429, retryAfter: 7 }] as const) {
      proxy.mode = mode;
      try {
        const cached = await pullManifest(mirror.url, 'up.test/library/app', 'v1');
        assert.equal(cached.res.status, 200, `cached tag served (${mode.kind})`);
        assert.match(cached.res.headers.get('warning') ?? '', /^110 - "Response is Stale/);
        for (const layer of image.layers) assert.equal((await pullBlob(mirror.url, 'up.test/library/app', layer.digest)).status, 200);
        const uncached = (await pullManifest(mirror.url, 'up.test/library/later', 'v1')).res;
        if (mode.kind === 'status' && mode.status === 429) {
          await expectError(uncached, 429, 'TOOMANYREQUESTS');
          assert.equal(uncached.headers.get('retry-after'), '7');
        } else {
          const body = await expectError(uncached, 503, 'UNKNOWN');
          assert.ok(uncached.headers.get('retry-after'));
          assert.match(JSON.stringify(body), /not cached and upstream up/);
        }
      } finally {
        proxy.mode = { kind: 'pass' };
      }
    }
    const back = await pullManifest(mirror.url, 'up.test/library/later', 'v1');
    assert.equal(back.res.status, 200);
    assert.deepEqual(back.bytes, fresh.bytes);
  });
});

describe('pull-through cache timings', () => {
  let origin: TestRegistry;
  let proxy: UpstreamProxy;
  let mirror: TestRegistry;

  before(async () => {
    origin = await startRegistry('memory');
    proxy = await startUpstreamProxy(origin.url);
    const settings = upstream(proxy.url, { tagTtlMs: 60_000, notFoundTtlMs: 60_000, breakerFailures: 2, breakerOpenMs: 60_000 });
    mirror = await startRegistry('memory', { mirrors: { upstreams: [settings] } });
  });
  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await origin?.close();
  });

  it('does not ask the upstream about a tag again within its TTL, nor about a 404 within the not-found TTL', async () => {
    const image = await new OciClient(origin.url).pushImage('library/ttl', 'v1', { layers: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await pullManifest(mirror.url, 'up.test/library/ttl', 'v1')).res.status, 200);
    assert.equal(proxy.count('GET', '/v2/library/ttl/manifests/v1'), 1);
    assert.equal(proxy.count('HEAD', '/v2/library/ttl/manifests/v1'), 0, 'within the TTL the cached tag is answered as is');
    assert.ok(image.digest);
    for (let i = 0; i < 3; i++) await expectError((await pullManifest(mirror.url, 'up.test/library/ttl', 'missing')).res, 404, 'MANIFEST_UNKNOWN');
    assert.equal(proxy.count('GET', '/v2/library/ttl/manifests/missing'), 1, 'the 404 is remembered');
  });

  it('stops asking a failing upstream once its circuit breaker opens', async () => {
    proxy.mode = { kind: 'status', status: 502 };
    try {
      const before = proxy.requests.length;
      for (let i = 0; i < 5; i++) {
        const res = (await pullManifest(mirror.url, 'up.test/library/dead', `t${i}`)).res;
        await expectError(res, 503, 'UNKNOWN');
        assert.ok(res.headers.get('retry-after'));
      }
      assert.equal(proxy.requests.length - before, 2, 'two failures open the breaker; the next requests do not reach the upstream');
    } finally {
      proxy.mode = { kind: 'pass' };
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

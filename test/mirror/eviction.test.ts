/**
 * Eviction of mirrored content by the online GC (docs/mirror.md "Eviction"):
 * a real upstream (a second instance of this registry) behind the counting
 * proxy, a mirror on disk (filesystem blobs, SQLite), collections started
 * with POST /admin/gc (grace 0, so unlinked content goes in the same run);
 * and the server binary configured by its file, mirroring Debian's
 * docker-registry, with the evictions in /metrics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MirrorStatsBoard } from '../../src/services/mirror/stats.js';
import { blobFile } from '../../support/durability.js';
import { OciClient } from '../../support/oci-client.js';
import { referenceUnavailable, startReferenceRegistry } from '../../support/reference-registry.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { spawnServer, startServer } from '../../support/server-process.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { pullBlob, pullManifest, upstream } from './helpers.js';

type Image = Awaited<ReturnType<OciClient['pushImage']>>;

/** Whether the blob's file is in the storage dir. */
async function onDisk(mirror: { dir?: string | undefined }, digest: string): Promise<boolean> {
  return (await stat(blobFile(mirror.dir!, digest)).catch(() => undefined)) !== undefined;
}

/** Pulls the image by tag and every blob through the mirror. */
async function pullImage(mirror: TestRegistry, repo: string, tag: string, image: Image): Promise<void> {
  const m = await pullManifest(mirror.url, `up.test/${repo}`, tag);
  assert.equal(m.res.status, 200);
  assert.deepEqual(m.bytes, image.bytes);
  const blobs = [image.configDigest, ...image.layers.map((l) => l.digest)];
  for (const d of blobs) assert.equal((await pullBlob(mirror.url, `up.test/${repo}`, d)).status, 200);
  // A fetched blob is committed as the client's response ends: wait for its link.
  const linked = async () => (await Promise.all(blobs.map((d) => mirror.metadataStore.getBlobLink(`up.test/${repo}`, d as never)))).every((l) => l !== undefined);
  for (let i = 0; i < 100 && !(await linked()); i++) await sleep(50);
  assert.ok(await linked(), 'every blob is cached');
}

async function collect(mirror: { url: string }): Promise<Record<string, unknown>> {
  const res = await fetch(`${mirror.url}/admin/gc`, { method: 'POST' });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

async function cached(mirror: TestRegistry, repo: string, image: Image, tag: string): Promise<{ manifest: boolean; tag: boolean; files: boolean[] }> {
  const meta = mirror.metadataStore;
  return {
    manifest: (await meta.getManifest(`up.test/${repo}`, image.digest as never)) !== undefined,
    tag: (await meta.getTag(`up.test/${repo}`, tag)) === image.digest,
    files: await Promise.all(image.layers.map((l) => onDisk(mirror, l.digest))),
  };
}

describe('mirror eviction', () => {
  let origin: TestRegistry;
  let proxy: UpstreamProxy;
  const images: Record<string, Image> = {};

  before(async () => {
    origin = await startRegistry('memory');
    const client = new OciClient(origin.url);
    for (const name of ['old', 'fresh', 'kept', 'x', 'y', 'z']) images[name] = await client.pushImage(`library/${name}`, 'v1', { layers: 2, layerSize: 50_000 });
    proxy = await startUpstreamProxy(origin.url);
  });
  after(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it('evicts what was not pulled for evictAfter (files gone), keeps what was pulled since and what retention keeps, and fetches evicted content again', async () => {
    const board = new MirrorStatsBoard();
    const mirror = await startRegistry('disk', {
      gc: { intervalMs: 0, graceMs: 0 },
      storagePolicy: { retention: [{ repositories: ['up.test/library/kept'], keepWithinMs: 86_400_000 }] },
      mirrors: { upstreams: [upstream(proxy.url, { evictAfterMs: 6_000 })], board },
    });
    try {
      for (const name of ['old', 'fresh', 'kept']) await pullImage(mirror, `library/${name}`, 'v1', images[name]!);
      await sleep(3_000);
      await pullImage(mirror, 'library/fresh', 'v1', images.fresh!);
      await sleep(3_500); // old and kept: not pulled for 6.5 s and more; fresh: for 3.5 s and a little

      const report = await collect(mirror);
      assert.deepEqual(report.eviction, { upstreams: [{ upstream: 'up', manifests: 1, blobs: 3, bytes: sizeOf(images.fresh!) + sizeOf(images.kept!) }] });
      assert.deepEqual(await cached(mirror, 'library/old', images.old!, 'v1'), { manifest: false, tag: false, files: [false, false] }, 'evicted, and the GC deleted its layers');
      assert.deepEqual(await cached(mirror, 'library/fresh', images.fresh!, 'v1'), { manifest: true, tag: true, files: [true, true] }, 'pulled within evictAfter');
      assert.deepEqual(await cached(mirror, 'library/kept', images.kept!, 'v1'), { manifest: true, tag: true, files: [true, true] }, 'a tag retention keeps is not evicted');
      const row = board.read()[0]!;
      assert.equal(row.stats.evictions, 1);
      assert.equal(row.stats.evictedBlobs, 3);

      const before = { manifest: proxy.count('GET', '/v2/library/old/manifests/v1'), layer: proxy.count('GET', `/v2/library/old/blobs/${images.old!.layers[0]!.digest}`) };
      await pullImage(mirror, 'library/old', 'v1', images.old!);
      assert.equal(proxy.count('GET', '/v2/library/old/manifests/v1'), before.manifest + 1, 'the evicted manifest came from the upstream again');
      assert.equal(proxy.count('GET', `/v2/library/old/blobs/${images.old!.layers[0]!.digest}`), before.layer + 1, 'and so did its layer');
      assert.deepEqual(await cached(mirror, 'library/old', images.old!, 'v1'), { manifest: true, tag: true, files: [true, true] }, 'cached again');
    } finally {
      await mirror.close();
    }
  });

  it('beyond maxBytes evicts the least recently pulled image first, until the namespace fits', async () => {
    const board = new MirrorStatsBoard();
    const cap = sizeOf(images.x!) + sizeOf(images.y!) + sizeOf(images.z!) - 1_000; // one image must go
    const mirror = await startRegistry('disk', {
      gc: { intervalMs: 0, graceMs: 0 },
      mirrors: { upstreams: [upstream(proxy.url, { maxBytes: cap })], board, pullGranularityMs: 0 },
    });
    try {
      for (const name of ['x', 'y', 'z']) {
        await pullImage(mirror, `library/${name}`, 'v1', images[name]!);
        await sleep(20);
      }
      await pullManifest(mirror.url, 'up.test/library/x', 'v1'); // x is now the most recently pulled: y the least
      await sleep(20);

      const report = await collect(mirror);
      const bytes = sizeOf(images.x!) + sizeOf(images.z!);
      assert.deepEqual(report.eviction, { upstreams: [{ upstream: 'up', manifests: 1, blobs: 3, bytes }] });
      assert.deepEqual(await cached(mirror, 'library/y', images.y!, 'v1'), { manifest: false, tag: false, files: [false, false] });
      for (const name of ['x', 'z']) assert.deepEqual(await cached(mirror, `library/${name}`, images[name]!, 'v1'), { manifest: true, tag: true, files: [true, true] });
      assert.equal(board.read()[0]!.stats.cachedBytes, bytes);

      const again = await collect(mirror);
      assert.deepEqual(again.eviction, { upstreams: [{ upstream: 'up', manifests: 0, blobs: 0, bytes }] }, 'under the cap nothing more goes');
    } finally {
      await mirror.close();
    }
  });

  it('the server binary evicts by its file\'s maxBytes from a docker-registry upstream, counts it in /metrics, and fetches again', { skip: referenceUnavailable() }, async () => {
    const reference = await startReferenceRegistry();
    const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-evict-'));
    try {
      const image = await new OciClient(reference.url).pushImage('library/busybox', 'latest', { layers: 2, layerSize: 100_000 });
      const config = ['gc:', '  intervalSeconds: 0', '  graceSeconds: 0', 'mirrors:', '  - name: reference', `    url: ${reference.url}`, '    namespace: docker.io', '    evictAfterSeconds: 86400', '    maxBytes: 1000', ''];
      await writeFile(join(dir, 'config.yaml'), config.join('\n'));
      const server = await startServer({ args: ['--config', join(dir, 'config.yaml'), '--storage-dir', join(dir, 'data')] });
      const data = { dir: join(dir, 'data') };
      const fetchedOk = (kind: string, reference: string) => (l: Record<string, unknown>) => {
        const m = l.mirror as Record<string, unknown> | undefined;
        return m?.kind === kind && m.reference === reference && m.outcome === 'ok';
      };
      const pull = async () => {
        assert.deepEqual((await pullManifest(server.url, 'docker.io/library/busybox', 'latest')).bytes, image.bytes);
        for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)]) assert.equal((await pullBlob(server.url, 'docker.io/library/busybox', d)).status, 200);
        for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)]) await server.waitForLog(fetchedOk('blob', d), 5_000);
      };
      try {
        await pull();
        assert.deepEqual(await Promise.all(image.layers.map((l) => onDisk(data, l.digest))), [true, true]);
        const dry = spawnServer({ args: ['gc', '--dry-run', '--config', join(dir, 'config.yaml'), '--storage-dir', data.dir] });
        assert.equal((await dry.exited).code, 0);
        assert.match(dry.logs.join('\n'), /mirror reference: would evict 1 manifests and 3 blob links, 0 bytes cached/, 'the gc command evicts as the server does');
        const report = await collect(server);
        assert.deepEqual(report.eviction, { upstreams: [{ upstream: 'reference', manifests: 1, blobs: 3, bytes: 0 }] });
        assert.deepEqual(await Promise.all(image.layers.map((l) => onDisk(data, l.digest))), [false, false], 'the layers are deleted from disk');
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        const value = (name: string) => Number(new RegExp(`^ferro_oci_${name}\\{upstream="reference"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
        assert.equal(value('mirror_evictions_total'), 1);
        assert.equal(value('mirror_evicted_blobs_total'), 3);
        assert.equal(value('mirror_cached_bytes'), 0);

        const head = await fetch(`${server.url}/v2/docker.io/library/busybox/blobs/${image.layers[0]!.digest}`, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get('content-length'), String(image.layers[0]!.bytes.length));
        await server.waitForLog(fetchedOk('blob-head', image.layers[0]!.digest), 5_000); // one log line per upstream request, a HEAD too

        const logged = server.logs.length;
        await pull();
        assert.ok(server.logs.slice(logged).some((line) => line.includes('"kind":"manifest"') && line.includes('"outcome":"ok"')), 'the evicted manifest was fetched from the upstream again');
        assert.equal(Number(new RegExp('^ferro_oci_mirror_misses_total\\{upstream="reference"\\} (\\S+)$', 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]), 9, 'manifest and 3 blobs, twice, and the HEAD');
      } finally {
        await server.stop();
      }
    } finally {
      await reference.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The bytes an image occupies in the mirror: manifest, config and layers. */
function sizeOf(image: Image): number {
  return image.bytes.length + image.config.length + image.layers.reduce((n, l) => n + l.bytes.length, 0);
}

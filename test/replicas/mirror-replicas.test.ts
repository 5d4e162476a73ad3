/**
 * The pull-through cache on three replicas sharing PostgreSQL (metadata) and
 * a Ceph RGW bucket (blobs), behind a round-robin proxy, mirroring Debian's
 * docker-registry through a counting proxy (support/upstream-proxy.ts):
 *
 * - 20 concurrent cold pulls of a 3-layer image spread over the replicas
 *   send one upstream GET per blob and one manifest GET for the tag (the
 *   single-flight lease in the shared metadata store, docs/mirror.md);
 * - the upstream stopped: every replica still serves the cached image (the
 *   tag with a Warning), an uncached one fails with 503 naming the upstream,
 *   and pulls work again once the upstream is back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { startServer, type RunningServer } from '../../support/server-process.js';
import { OciClient, expectError } from '../../support/oci-client.js';
import { startRoundRobinProxy, type RoundRobinProxy } from '../../support/round-robin-proxy.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';
import { referenceUnavailable, startReferenceRegistry, type ReferenceRegistry } from '../../support/reference-registry.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { pullBlob, pullManifest } from '../mirror/helpers.js';

const REPLICAS = 3;
const PULLS = 20;
const BUCKET = 'mirror-replicas';
const skip = referenceUnavailable() ?? postgresUnavailable() ?? (await cephUnavailable());

describe('the mirror on three replicas sharing PostgreSQL and S3', { skip: skip ?? false, timeout: 170_000 }, () => {
  let pg: TestPostgres | undefined;
  let rgw: Rgw | undefined;
  let reference: ReferenceRegistry | undefined;
  let upstream: UpstreamProxy | undefined;
  let proxy: RoundRobinProxy | undefined;
  let dir: string | undefined;
  const servers: RunningServer[] = [];
  const figures: Record<string, unknown> = {};

  before(async () => {
    [pg, rgw, reference] = await Promise.all([startPostgres(), startRgw('mirror-replicas'), startReferenceRegistry()]);
    await createBucket(rgw, BUCKET);
    upstream = await startUpstreamProxy(reference.url);
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-mirror-replicas-'));
    // tagTtlSeconds 0: every tag pull revalidates (a HEAD), so an outage shows at once; the breaker closes 1 s after the upstream returns.
    const config = ['mirrors:', '  - name: reference', `    url: ${upstream.url}`, '    namespace: docker.io', '    default: true', '    tagTtlSeconds: 0', '    breakerOpenSeconds: 1', ''];
    await writeFile(join(dir, 'config.yaml'), config.join('\n'));
    const env = replicaEnv(pg, rgw, BUCKET, 2);
    servers.push(...(await Promise.all(Array.from({ length: REPLICAS }, () => startServer({ env, args: ['--config', join(dir!, 'config.yaml')], timeoutMs: 60_000 })))));
    proxy = await startRoundRobinProxy(servers.map((s) => ({ host: '127.0.0.1', port: s.port })), { log: true });
  });

  after(async () => {
    console.log(`mirror replicas figures: ${JSON.stringify(figures)}`);
    await proxy?.close();
    await Promise.allSettled(servers.map((s) => s.stop('SIGTERM', 10_000)));
    await upstream?.close();
    await Promise.allSettled([pg?.stop(), rgw?.stop(), reference?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test(`${PULLS} concurrent cold pulls of a 3-layer image over ${REPLICAS} replicas: one upstream GET per blob and one for the tag`, async () => {
    const image = await new OciClient(reference!.url).pushImage('library/app', 'v1', { layers: 3, layerSize: 2 << 20 });
    const blobs = [image.configDigest, ...image.layers.map((l) => l.digest)];
    upstream!.chunkDelayMs = 10; // about 0.3 s per layer: the replicas' pulls overlap
    const from = proxy!.log.length;
    try {
      await Promise.all(
        Array.from({ length: PULLS }, async () => {
          const m = await pullManifest(proxy!.url, 'library/app', 'v1');
          assert.equal(m.res.status, 200, m.bytes.toString());
          assert.deepEqual(m.bytes, image.bytes);
          for (const b of await Promise.all(blobs.map((d) => pullBlob(proxy!.url, 'library/app', d)))) assert.equal(b.status, 200);
        }),
      );
    } finally {
      upstream!.chunkDelayMs = 0;
    }
    const served = proxy!.log.slice(from);
    const perReplica = Array.from({ length: REPLICAS }, (_, i) => served.filter((e) => e.replica === i).length);
    for (const n of perReplica) assert.ok(n >= PULLS, `every replica served its share: ${perReplica.join(', ')}`);
    const blobGets = blobs.map((d) => upstream!.count('GET', `/v2/library/app/blobs/${d}`));
    const tagGets = upstream!.count('GET', '/v2/library/app/manifests/v1');
    Object.assign(figures, { pulls: PULLS, requestsPerReplica: perReplica, upstreamBlobGets: blobGets, upstreamTagGets: tagGets, upstreamTagHeads: upstream!.count('HEAD', '/v2/library/app/manifests/v1') });
    assert.deepEqual(blobGets, [1, 1, 1, 1], 'one upstream GET per blob (config and 3 layers)');
    assert.equal(tagGets, 1, 'one upstream manifest GET for the tag');
    assert.equal(upstream!.count('GET', `/v2/library/app/manifests/${image.digest}`), 0);
  });

  test('with the upstream stopped, every replica serves the cached image (Warning), fails an uncached one clearly, and resumes when it returns', async () => {
    const later = await new OciClient(reference!.url).pushImage('library/later', 'v1', { layers: 1 });
    const cached = await pullManifest(proxy!.url, 'library/app', 'v1');
    assert.equal(cached.res.status, 200);
    const image = JSON.parse(cached.bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    await reference!.halt();
    const outage: Record<string, unknown> = {};
    try {
      for (const s of servers) {
        const tag = await pullManifest(s.url, 'library/app', 'v1');
        assert.equal(tag.res.status, 200, `replica ${s.url} serves the cached tag`);
        assert.match(tag.res.headers.get('warning') ?? '', /^110 - "Response is Stale/);
        for (const d of [image.config.digest, ...image.layers.map((l) => l.digest)]) assert.equal((await pullBlob(s.url, 'docker.io/library/app', d)).status, 200);
        const uncached = (await pullManifest(s.url, 'library/later', 'v1')).res;
        const body = await expectError(uncached, 503, 'UNKNOWN');
        assert.ok(uncached.headers.get('retry-after'));
        assert.match(JSON.stringify(body), /not cached and upstream reference/);
        outage[s.url] = { cachedTag: tag.res.status, warning: tag.res.headers.get('warning'), uncached: uncached.status };
      }
    } finally {
      await reference!.resume();
    }
    figures.outage = outage;
    // The breaker of a replica that saw failures lets one probe through after breakerOpenSeconds.
    const deadline = Date.now() + 15_000;
    for (const s of servers) {
      for (;;) {
        const back = await pullManifest(s.url, 'library/later', 'v1');
        if (back.res.status === 200) {
          assert.deepEqual(back.bytes, later.bytes);
          assert.equal(back.res.headers.get('warning'), null);
          break;
        }
        assert.ok(Date.now() < deadline, `replica ${s.url} resumes pulling from the upstream (last: ${back.res.status} ${back.bytes.toString()})`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    figures.resumed = true;
  });
});

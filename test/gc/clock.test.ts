/**
 * Replicas with skewed clocks (docs/gc.md "Clocks"): two registries share one
 * PostgreSQL schema and one blob directory; one replica's own clock is two
 * minutes behind (more than the 60 s lease and the grace below). Lifecycle
 * times come from the database's clock (MetadataStore.clock), so a layer
 * uploaded through the slow replica is as young to the other replica's
 * collector as it is: kept for the grace period, and the push completes.
 * With each replica's own clock, the receipt is written two minutes in the
 * past and the other replica reclaims the layer at once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { createRegistry } from '../../src/registry.js';
import { openFilesystemBlobStore } from '../../src/storage/blob/filesystem.js';
import { openPostgresMetadataStore, type PostgresMetadataStore } from '../../src/storage/meta/postgres/index.js';
import { OciClient } from '../../support/oci-client.js';
import { digestOf } from '../../src/oci/digest.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { MANIFEST } from './images.js';

const SKEW_MS = -120_000;
const unavailable = postgresUnavailable();

describe('replicas with skewed clocks share the database clock', { skip: unavailable }, () => {
  let server: TestPostgres;
  let dir: string;
  const replicas: Array<{ app: FastifyInstance; store: PostgresMetadataStore; client: OciClient }> = [];

  before(async () => {
    server = await startPostgres();
    dir = await mkdtemp(join(tmpdir(), 'ferro-clock-'));
    for (const skew of [0, SKEW_MS]) {
      const store = await openPostgresMetadataStore({ ...server.config, schema: 'clock', max: 4, localClock: () => Date.now() + skew });
      const app = Fastify({ logger: false, forceCloseConnections: true });
      await app.register(
        createRegistry({ blobStore: await openFilesystemBlobStore(join(dir, 'blobs')), metadataStore: store, gc: { intervalMs: 0, graceMs: 60_000, leaseMs: 60_000 } }),
      );
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address() as { port: number };
      replicas.push({ app, store, client: new OciClient(`http://127.0.0.1:${address.port}`) });
    }
  });
  after(async () => {
    for (const r of replicas) {
      await r.app.close();
      await r.store.close();
    }
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the skewed replica reads the database time', () => {
    const [fine, skewed] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    assert.ok(Math.abs(skewed.store.clock() - Date.now()) < 1000, `skewed replica: ${skewed.store.clock() - Date.now()} ms off`);
    assert.ok(Math.abs(fine.store.clock() - Date.now()) < 1000);
  });

  it('a layer uploaded through the slow replica survives the other replica\'s collection; the push completes', async () => {
    const [fine, skewed] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const layer = randomBytes(3000);
    const config = Buffer.from(JSON.stringify({ os: 'linux' }));
    await skewed.client.pushBlob('app', layer);
    await skewed.client.pushBlob('app', config);
    const res = await fine.client.fetch('/admin/gc', { method: 'POST' });
    const report = (await res.json()) as { linksRemoved: number; deleted: number };
    assert.equal(report.linksRemoved ?? 0, 0, JSON.stringify(report));
    assert.equal((await fine.client.fetch(`/v2/app/blobs/${digestOf(layer)}`, { method: 'HEAD' })).status, 200);
    const manifest = {
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    };
    const put = await skewed.client.putManifest('app', 'v1', JSON.stringify(manifest), MANIFEST);
    assert.equal(put.status, 201, await put.text());
  });
});

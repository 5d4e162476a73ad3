/**
 * At-least-once delivery across replicas: two server processes on one
 * PostgreSQL deliver a backlog of 1,001 events, made by pushes through both
 * while the receiver was down; one is SIGKILLed in the middle. Every event arrives, and duplicates (the dead replica's claims
 * delivered again after their lease) carry the same id and body.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresMetadataStore } from '../../src/postgres.js';
import { postgresUnavailable, startPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/server-process.js';
import { startWebhookReceiver } from '../../support/webhook-receiver.js';
import { imageManifest, OciClient, randomBlob } from '../../support/oci-client.js';
import { until } from '../../support/poll.js';

/** Tagged manifest pushes made while the receiver is down: a backlog of 1 + 2 × MANIFESTS events. */
const MANIFESTS = 500;
const unavailable = postgresUnavailable();

describe('event delivery by two replicas on one PostgreSQL', () => {
  if (unavailable !== undefined) {
    it('needs a PostgreSQL server', { skip: unavailable }, () => {});
    return;
  }
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('a replica SIGKILLed mid-backlog: every event arrives at least once, duplicates with the same id', async (t) => {
    const pg = await startPostgres();
    cleanups.push(() => pg.stop());
    const dir = await mkdtemp(join(tmpdir(), 'ferro-events-replicas-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());

    // Two replicas; the receiver is down (503) while 500 manifests are pushed to 500 new tags through both:
    // repository.created + 500 × (manifest.pushed + tag.created) = 1,001 events wait in the outbox.
    receiver.status = 503;
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ events: { leaseSeconds: 2, pollSeconds: 0.05, initialBackoffSeconds: 0.2, maxBackoffSeconds: 1, subscriptions: [{ name: 'sink', url: `${receiver.url}/sink`, secret: 'whsec_c2VjcmV0' }] } }));
    const env = { FERRO_OCI_METADATA_URL: pg.connectionString, FERRO_OCI_METADATA_SCHEMA: 'registry', FERRO_OCI_STORAGE_DIR: dir, FERRO_OCI_CONFIG: config };
    const a = await startServer({ env });
    cleanups.push(() => a.kill());
    const b = await startServer({ env });
    cleanups.push(() => b.stop());
    const clients = [new OciClient(a.url), new OciClient(b.url)];
    const config0 = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBlob(512);
    const blobs = [
      { digest: await clients[0]!.pushBlob('backlog/app', config0), size: config0.length },
      { digest: await clients[0]!.pushBlob('backlog/app', layer), size: layer.length },
    ];
    const digests: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        for (let i = worker; i < MANIFESTS; i += 16) {
          const manifest = { ...JSON.parse(imageManifest(blobs[0]!, [blobs[1]!]).toString()), annotations: { n: String(i) } };
          const res = await clients[i % 2]!.putManifest('backlog/app', `t${i}`, manifest);
          assert.equal(res.status, 201, await res.text());
          digests.push(res.headers.get('docker-content-digest')!);
        }
      }),
    );
    const store = await openPostgresMetadataStore({ connectionString: pg.connectionString, schema: 'registry' });
    cleanups.push(() => store.close());
    const backlog = (await store.listEvents('pending', { limit: 5000 })).map((e) => e.event);
    assert.equal(backlog.length, 1 + 2 * MANIFESTS, 'the pushes recorded their events');
    assert.deepEqual(new Set(backlog.filter((e) => e.type === 'manifest.pushed').map((e) => e.digest)), new Set(digests));
    assert.equal(receiver.received.length, 0);

    // The receiver comes back, slowly (20 ms an answer); replica a is killed mid-backlog.
    receiver.delayMs = 20;
    receiver.status = 204;
    await receiver.waitFor((all) => all.length >= 300, 60_000);
    const atKill = receiver.received.length;
    await a.kill(); // SIGKILL, with claims in flight
    await receiver.waitFor((all) => new Set(all.map((r) => r.json.id)).size >= backlog.length, 120_000);
    assert.equal((await until(() => store.listEvents('pending', { limit: 1 }), (pending) => pending.length === 0, { tries: 200, intervalMs: 50 })).length, 0, 'the outbox empties');

    const byId = new Map<string, string[]>();
    for (const r of receiver.received) {
      assert.equal(r.headers['webhook-id'], r.json.id);
      byId.set(String(r.json.id), [...(byId.get(String(r.json.id)) ?? []), r.body]);
    }
    assert.deepEqual([...byId.keys()].sort(), backlog.map((e) => e.id).sort(), 'every event arrived');
    for (const bodies of byId.values()) assert.ok(bodies.every((body) => body === bodies[0]), 'a duplicate is the same event');
    const duplicates = receiver.received.length - byId.size;
    t.diagnostic(`backlog ${backlog.length}; received before the kill ${atKill}; requests ${receiver.received.length}; distinct ids ${byId.size}; duplicates ${duplicates}`);
  });
});

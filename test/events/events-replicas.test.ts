/**
 * At-least-once delivery across replicas: two server processes on one
 * PostgreSQL deliver a backlog of 1,000 events; one is SIGKILLed in the
 * middle. Every event arrives, and duplicates (the dead replica's claims
 * delivered again after their lease) carry the same id and body.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresMetadataStore } from '../../src/postgres.js';
import { collectionEvent } from '../../src/storage/meta/event-records.js';
import { postgresUnavailable, startPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/server-process.js';
import { startWebhookReceiver } from '../../support/webhook-receiver.js';

const BACKLOG = 1000;
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
    receiver.delayMs = 20;

    // The backlog: 1,000 events in the outbox before any replica runs.
    const store = await openPostgresMetadataStore({ connectionString: pg.connectionString, schema: 'registry' });
    cleanups.push(() => store.close());
    const now = store.clock();
    const events = Array.from({ length: BACKLOG }, (_, n) => collectionEvent({ n }, now));
    await store.appendEvents(events);

    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ events: { leaseSeconds: 2, pollSeconds: 0.05, subscriptions: [{ name: 'sink', url: `${receiver.url}/sink`, secret: 'whsec_c2VjcmV0' }] } }));
    const env = { FERRO_OCI_METADATA_URL: pg.connectionString, FERRO_OCI_METADATA_SCHEMA: 'registry', FERRO_OCI_STORAGE_DIR: dir, FERRO_OCI_CONFIG: config };
    const a = await startServer({ env });
    cleanups.push(() => a.kill());
    const b = await startServer({ env });
    cleanups.push(() => b.stop());

    await receiver.waitFor((all) => all.length >= 300, 60_000);
    const atKill = receiver.received.length;
    await a.kill(); // SIGKILL, with claims in flight
    await receiver.waitFor((all) => new Set(all.map((r) => r.json.id)).size >= BACKLOG, 120_000);
    for (let i = 0; (await store.listEvents('pending', { limit: 1 })).length > 0; i++) {
      assert.ok(i < 200, 'the outbox empties');
      await new Promise((r) => setTimeout(r, 50));
    }

    const byId = new Map<string, string[]>();
    for (const r of receiver.received) {
      assert.equal(r.headers['webhook-id'], r.json.id);
      byId.set(String(r.json.id), [...(byId.get(String(r.json.id)) ?? []), r.body]);
    }
    assert.deepEqual([...byId.keys()].sort(), events.map((e) => e.id).sort(), 'every event arrived');
    for (const bodies of byId.values()) assert.ok(bodies.every((body) => body === bodies[0]), 'a duplicate is the same event');
    const duplicates = receiver.received.length - byId.size;
    t.diagnostic(`backlog ${BACKLOG}; received before the kill ${atKill}; requests ${receiver.received.length}; distinct ids ${byId.size}; duplicates ${duplicates}`);
  });
});

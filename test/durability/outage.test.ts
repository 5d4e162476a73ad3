/**
 * Backend outages: the server binary on PostgreSQL (metadata) and a Ceph RGW
 * (S3 blobs) under a workload of pushes and pulls, while PostgreSQL is stopped
 * and restarted, then the S3 gateway, then PostgreSQL is frozen (SIGSTOP).
 * During each outage every answer is a success or 503 with Retry-After and a
 * message naming the store (never a 500, never a hang past REQUEST_BOUND_MS),
 * the failures are logged at warn without a stack and /ready answers 503.
 * Afterwards pushes work again and every acknowledged blob and manifest
 * reads back byte for byte. Store calls to a frozen PostgreSQL or gateway
 * fail after their timeouts. (SQLite and filesystem: outage-local.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Pg from 'pg';
import { DatabaseClock } from '../../src/storage/meta/postgres/clock.js';
import { openPostgresMetadataStore } from '../../src/postgres.js';
import { openS3BlobStore } from '../../src/s3.js';
import { digestOf } from '../../src/oci/digest.js';
import { StoreUnavailableError } from '../../src/storage/errors.js';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { REQUEST_BOUND_MS, Workload, badAnswers, untilWorking, verifyAcknowledged } from '../../support/outage.js';
import { fetchRaw, startServer, type RunningServer } from '../../support/server-process.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';

const skip = postgresUnavailable() ?? (await cephUnavailable());

describe('backend outages under load: 503 with Retry-After, nothing acknowledged lost', { skip, timeout: 120_000 }, () => {
  let pg: TestPostgres;
  let rgw: Rgw;
  let server: RunningServer;
  let workload: Workload;

  before(async () => {
    [pg, rgw] = await Promise.all([startPostgres(), startRgw('outage')]);
    await createBucket(rgw, 'outage');
    server = await startServer({ env: replicaEnv(pg, rgw, 'outage', 5) });
    workload = new Workload(server.url);
    workload.start();
    await sleep(1000);
  });

  after(async () => {
    await workload?.stop();
    await server?.stop().catch(() => server.kill());
    await Promise.allSettled([pg?.stop(), rgw?.stop()]);
  });

  /** Takes a backend down under the workload, brings it back, and checks the answers, logs, readiness and recovery. */
  async function outage(phase: string, store: RegExp, down: () => Promise<void>, up: () => Promise<void>): Promise<void> {
    const logsBefore = server.logs.length;
    workload.phase = phase;
    await down();
    await sleep(2000);
    const ready = await fetchRaw(`${server.url}/ready`, { timeoutMs: REQUEST_BOUND_MS });
    await up();
    workload.phase = `${phase}: recovering`;
    const recoveryMs = await untilWorking(server.url, `outage/probe-${phase.toLowerCase().replace(/\W/g, '')}`);
    workload.phase = `${phase}: after`;
    await sleep(1000);

    const counts = { during: workload.counts(phase), recovering: workload.counts(`${phase}: recovering`), after: workload.counts(`${phase}: after`) };
    const messages = [...new Set(workload.answers.filter((a) => a.phase === phase && a.status === 503).map((a) => `${a.retryAfter} ${a.message}`))];
    const slowestMs = Math.max(...workload.answers.filter((a) => a.phase === phase).map((a) => a.ms));
    console.log(JSON.stringify({ phase, counts, slowestMs, recoveryMs, readyDuringOutage: ready.status, messages }));
    assert.ok((counts.during['503'] ?? 0) > 0, `the outage was not noticed: ${JSON.stringify(counts.during)}`);
    for (const p of [phase, `${phase}: recovering`, `${phase}: after`]) {
      const bad = badAnswers(workload, p, store);
      assert.deepEqual(bad.slice(0, 5), [], `${p}: ${bad.length} answers neither a success nor 503 + Retry-After naming the store`);
    }
    assert.equal(ready.status, 503, '/ready during the outage');
    assert.equal((await fetchRaw(`${server.url}/ready`)).status, 200, '/ready after the outage');
    const lines = server.logs.slice(logsBefore).flatMap((line): Array<Record<string, unknown>> => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    const errors = lines.filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(errors.slice(0, 2), [], 'an outage is no error in the log');
    const warned = lines.filter((l) => l.level === 40 && (l as { status?: unknown }).status === 503);
    assert.ok(warned.length > 0, 'the 503 answers are logged at warn');
    assert.ok(
      warned.every((l) => !JSON.stringify(l).includes('    at ')),
      'no stack trace for an expected condition',
    );
  }

  test('PostgreSQL stopped and restarted mid-workload', async () => {
    await outage('PostgreSQL down', /PostgreSQL/, () => pg.halt(), () => pg.restart());
  });

  test('the S3 gateway killed and restarted mid-workload', async () => {
    await outage('S3 down', /S3/, () => rgw.stopGateway(), () => rgw.startGateway());
  });

  test('a frozen PostgreSQL: calls fail after their timeouts, requests with 503 in bounded time', async () => {
    const store = await openPostgresMetadataStore({ connectionString: pg.connectionString, schema: 'registry', max: 2, connectionTimeoutMillis: 1000, queryTimeoutMs: 1000 });
    const logsBefore = server.logs.length;
    await store.getTag('outage/w0', 't0'); // one pooled connection: a statement on it gets no answer
    const clockPool = new Pg.Pool({ connectionString: pg.connectionString, max: 1, connectionTimeoutMillis: 1000 });
    const clock = new DatabaseClock(clockPool, Date.now, 1000);
    await clock.sync(); // its connection is pooled before the freeze
    workload.phase = 'PostgreSQL frozen';
    pg.freeze();
    try {
      const t0 = Date.now();
      // The pooled connection (read timeout), a new one (connect timeout), a wait for a free one (pool timeout).
      const calls = await Promise.allSettled([store.getTag('outage/w0', 't0'), store.getTag('outage/w1', 't0'), store.getTag('outage/w2', 't0')]);
      const elapsed = Date.now() - t0;
      for (const c of calls) {
        assert.equal(c.status, 'rejected');
        assert.ok(c.reason instanceof StoreUnavailableError, String(c.reason));
      }
      assert.ok(elapsed < 5000, `store calls took ${elapsed} ms`);
      console.log(JSON.stringify({ frozenStoreCalls: calls.map((c) => (c as PromiseRejectedResult).reason.message), elapsedMs: elapsed }));
      // The database clock's periodic measure has a read timeout too (it once held a pooled connection for as long as the freeze).
      const clockStarted = Date.now();
      await assert.rejects(clock.sync(), /Query read timeout/);
      assert.ok(Date.now() - clockStarted < 5000, `the clock measure took ${Date.now() - clockStarted} ms`);
      // The server's own timeouts: wait until the workload got its 503s. A worker's request in flight at the freeze
      // may take up to REQUEST_BOUND_MS before its next one (in this phase) starts and takes up to as long again.
      while (workload.counts('PostgreSQL frozen')['503'] === undefined && Date.now() - t0 < 2 * REQUEST_BOUND_MS) await sleep(200);
    } finally {
      pg.thaw();
      await store.close();
      await clockPool.end();
    }
    workload.phase = 'PostgreSQL frozen: recovering';
    const recoveryMs = await untilWorking(server.url, 'outage/probe-frozen');
    const counts = workload.counts('PostgreSQL frozen');
    const messages = [...new Set(workload.answers.filter((a) => a.phase === 'PostgreSQL frozen' && a.status === 503).map((a) => `${a.retryAfter} ${a.message}`))];
    const slowestMs = Math.max(...workload.answers.filter((a) => a.phase === 'PostgreSQL frozen').map((a) => a.ms));
    console.log(JSON.stringify({ phase: 'PostgreSQL frozen', counts, slowestMs, recoveryMs, messages }));
    assert.ok((counts['503'] ?? 0) > 0, `no request failed while PostgreSQL was frozen: ${JSON.stringify(counts)}`);
    for (const p of ['PostgreSQL frozen', 'PostgreSQL frozen: recovering']) {
      const bad = badAnswers(workload, p, /PostgreSQL/);
      assert.deepEqual(bad.slice(0, 5), [], `${p}: ${bad.length} answers neither a success nor 503 + Retry-After naming the store`);
    }
    const errors = server.logs.slice(logsBefore).filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors.slice(0, 2), [], 'a hanging database is no error in the log');
  });

  test('every acknowledged blob and manifest reads back exactly', async () => {
    await workload.stop();
    const result = await verifyAcknowledged(server.url, workload.acked);
    console.log(JSON.stringify({ acknowledged: { blobs: result.blobs, manifests: result.manifests }, lost: result.lost.length }));
    assert.ok(result.manifests > 0);
    assert.deepEqual(result.lost, []);
  });

  test('a frozen S3 gateway: calls fail after the socket timeout and the bounded retries', async () => {
    const store = await openS3BlobStore({
      bucket: 'outage', prefix: 'oci/', endpoint: rgw.endpoint, region: rgw.region, forcePathStyle: rgw.forcePathStyle, credentials: rgw.credentials,
      connectTimeoutMs: 1000, socketTimeoutMs: 1000, maxAttempts: 2,
    });
    const [some] = workload.acked.blobs.values();
    assert.ok(some);
    await rgw.freezeGateway(true);
    try {
      const t0 = Date.now();
      const calls = await Promise.allSettled([store.stat(digestOf(some.bytes)), store.read(digestOf(some.bytes)), store.createUpload(randomUUID())]);
      const elapsed = Date.now() - t0;
      console.log(JSON.stringify({ frozenS3Calls: calls.map((c) => (c.status === 'rejected' ? (c.reason as Error).message : 'resolved')), elapsedMs: elapsed }));
      for (const c of calls) {
        assert.equal(c.status, 'rejected');
        assert.ok(c.reason instanceof StoreUnavailableError, String(c.reason));
      }
      assert.ok(elapsed < 8000, `S3 calls took ${elapsed} ms`);
    } finally {
      await rgw.freezeGateway(false);
      await store.close();
    }
  });
});

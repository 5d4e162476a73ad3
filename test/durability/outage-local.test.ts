/**
 * Outages of the local stores (SQLite metadata, filesystem blobs): a write
 * lock another process holds past the busy timeout makes writes answer 503
 * naming SQLite, and pushes work again once it is released; an upload
 * waiting on a collector's deletion mark answers 503 with Retry-After,
 * logged at warn without a stack. (PostgreSQL and S3: outage.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { digestOf } from '../../src/oci/digest.js';
import { Workload, badAnswers, verifyAcknowledged } from '../../support/outage.js';
import { startRegistry } from '../../support/registry.js';
import { fetchRaw, startServer } from '../../support/server-process.js';

describe('SQLite metadata locked by another process', () => {
  test('writes answer 503 naming SQLite after the busy timeout; pushes work once the lock is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferro-outage-sqlite-'));
    const server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir } });
    const workload = new Workload(server.url);
    const locker = new Database(join(dir, 'metadata.db'));
    try {
      assert.ok(await workload.pushImage('locked/repo', 'before'));
      workload.phase = 'locked';
      locker.exec('BEGIN IMMEDIATE'); // the write lock, as a `check` or `gc` run in another process might hold it
      let bytes: Buffer;
      try {
        bytes = randomBytes(1000);
        assert.equal(await workload.pushBlob('locked/repo', bytes), undefined, 'no write while the lock is held');
      } finally {
        locker.exec('ROLLBACK');
      }
      const bad = badAnswers(workload, 'locked', /SQLite/);
      assert.deepEqual(bad, []);
      console.log(JSON.stringify({ phase: 'SQLite locked', counts: workload.counts('locked'), messages: workload.answers.filter((a) => a.phase === 'locked').map((a) => a.message) }));
      assert.ok(await workload.pushBlob('locked/repo', bytes), 'pushes work again');
      assert.ok(await workload.pushImage('locked/repo', 'after'));
      const result = await verifyAcknowledged(server.url, workload.acked);
      assert.deepEqual(result.lost, []);
      const errors = server.logs.filter((l) => /"level":(50|60)/.test(l));
      assert.deepEqual(errors, [], 'a busy database is no error in the log');
    } finally {
      locker.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('an upload waiting on a collector\'s deletion mark', () => {
  test('gets 503 with Retry-After after reserveWaitMs, logged at warn without a stack', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const registry = await startRegistry('disk', { limits: { reserveWaitMs: 300 }, logger });
    try {
      const meta = registry.metadataStore;
      const bytes = randomBytes(1000);
      const digest = digestOf(bytes);
      // A collector between its mark and its deletion, holding the mark longer than the upload waits.
      assert.ok(await meta.markBlobForDeletion(digest, 'test-gc', { now: Date.now(), graceMs: 0, leaseMs: 3600_000 }));
      const t0 = Date.now();
      const res = await fetchRaw(`${registry.url}/v2/gc/wait/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'content-length': bytes.length } });
      assert.equal(res.status, 503, res.body.toString());
      assert.ok(Date.now() - t0 >= 300, 'it waited for the mark first');
      assert.equal(res.headers['retry-after'], '5');
      assert.match((res.json() as { errors: Array<{ message: string }> }).errors[0]!.message, /being garbage-collected/);
      const logged = lines.filter((l) => l.status === 503);
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.level, 40, 'warn');
      assert.ok(!JSON.stringify(logged[0]).includes('    at '), 'no stack trace');
      assert.ok(!lines.some((l) => typeof l.level === 'number' && l.level >= 50), 'nothing at error');
    } finally {
      await registry.close();
    }
  });
});

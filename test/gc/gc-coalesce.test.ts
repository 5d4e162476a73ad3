/**
 * Collections do not pile up (GarbageCollector): requests while a run is
 * under way queue one follow-up, and later requests join it (issue: every
 * background tick queued another run; runs slower than the interval
 * accumulated without bound and POST /admin/gc waited behind all of them).
 * The run is held under way by its upload sweep, which waits for the test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { digestOf } from '../../src/oci/digest.js';
import { describe, it } from 'node:test';
import { GarbageCollector } from '../../src/services/gc.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';

describe('collection requests coalesce', () => {
  it('17 requests during a run start one follow-up, not 17; every request gets a report', async () => {
    let runs = 0;
    const pending: Array<() => void> = [];
    const gc = new GarbageCollector(
      { blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore() },
      { graceMs: 0, sweepUploads: () => (runs++, new Promise((resolve) => pending.push(() => resolve({ sessions: 0, orphans: 0 })))) },
    );
    const first = gc.run();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(runs, 1);
    const ticks = Array.from({ length: 17 }, () => gc.run());
    const admin = gc.run(); // POST /admin/gc behind the ticks
    pending.shift()!(); // the first run ends
    const firstReport = await first;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(runs, 2, 'one follow-up started');
    pending.shift()!();
    await new Promise((r) => setTimeout(r, 20));
    // (Released regardless, so that a failure here does not leave runs waiting.)
    const drain = setInterval(() => pending.splice(0).forEach((release) => release()), 5);
    try {
      assert.equal(runs, 2, 'no run after the follow-up');
    } finally {
      if (runs !== 2) await Promise.allSettled([...ticks, admin]).finally(() => clearInterval(drain));
    }
    clearInterval(drain);
    const reports = await Promise.all([...ticks, admin]);
    assert.ok(reports.every((r) => r === reports[0]), 'all joined the follow-up');
    assert.notEqual(reports[0], firstReport);
    assert.equal(gc.lastReport, reports[0]);

    // A request after the follow-up started queues a new one; a dry run queues its own.
    const again = gc.run();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(runs, 3);
    const [next, dry, next2] = [gc.run(), gc.run({ dryRun: true }), gc.run()];
    assert.equal(next, next2, 'joined');
    pending.shift()!();
    await again;
    await new Promise((r) => setTimeout(r, 5));
    pending.shift()!();
    assert.equal((await next).dryRun, false);
    assert.equal((await dry).dryRun, true); // a dry run sweeps no uploads: it does not wait on the gate
    assert.equal(runs, 4);
  });

  it('POST /admin/gc under a background schedule faster than the runs: answers within two runs', async (t) => {
    // 500 blobs on disk, no one's: each run stats them all (I/O, so ticks fire meanwhile); the schedule ticks every 2 ms.
    const registry = await startRegistry('disk', { gc: { intervalMs: 2, graceMs: 3600_000 } });
    try {
      for (let i = 0; i < 500; i++) {
        const w = await registry.blobStore.createUpload(`u${i}`);
        const bytes = randomBytes(16);
        await w.append((async function* () { yield bytes; })());
        await w.commit(digestOf(bytes));
      }
      await new Promise((r) => setTimeout(r, 1000)); // ~500 ticks
      const client = new OciClient(registry.url);
      const started = performance.now();
      const res = await client.fetch('/admin/gc', { method: 'POST', signal: AbortSignal.timeout(20_000) });
      assert.equal(res.status, 200);
      const report = (await res.json()) as { durationMs: number };
      const waited = performance.now() - started;
      t.diagnostic(`waited ${Math.round(waited)} ms (a run: ${report.durationMs} ms)`);
      assert.ok(waited < 5000, `waited ${Math.round(waited)} ms for runs of ${report.durationMs} ms`);
    } finally {
      await registry.close();
    }
  });
});

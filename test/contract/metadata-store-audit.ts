/**
 * MetadataStore contract, part: the audit log (src/storage/meta/audit.ts):
 * batches appended in order, queries by time range, actor and repository
 * with paging, pruning by age, and persistence across a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditRecord, MetadataStore } from '../../src/storage/meta/types.js';
import { NOW } from './metadata-fixtures.js';

function record(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: NOW + i * 1000, actor: i % 2 === 0 ? 'alice' : 'bob', action: 'manifest.put', outcome: 'ok', repository: i % 3 === 0 ? 'apps/web' : 'lib/x',
    reference: `v${i}`, address: '192.0.2.7', status: 201, method: 'PUT', requestId: `req-${i}`, ...over,
  };
}

const strip = ({ seq: _seq, ...r }: AuditRecord & { seq: number }) => r;

export function auditContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('audit log', () => {
    it('lists appended records in order, exactly as given, with increasing seq', async () => {
      const s = store();
      const refused: AuditRecord = { time: NOW, actor: 'anonymous', action: 'manifest.get', outcome: 'refused', address: '::1', status: 401, code: 'UNAUTHORIZED', method: 'GET', requestId: 'r' };
      await s.appendAudit([record(1), refused]);
      await s.appendAudit([]);
      await s.appendAudit([record(2)]);
      const all = await s.listAudit({ limit: 10 });
      assert.deepEqual(all.map(strip), [record(1), refused, record(2)]);
      assert.ok(all[0]!.seq < all[1]!.seq && all[1]!.seq < all[2]!.seq);
    });

    it('filters by time range, actor and repository, and pages with afterSeq', async () => {
      const s = store();
      await s.appendAudit(Array.from({ length: 12 }, (_, i) => record(i)));
      const ids = async (q: Parameters<MetadataStore['listAudit']>[0]) => (await s.listAudit(q)).map((r) => r.requestId);
      assert.deepEqual(await ids({ since: NOW + 3000, until: NOW + 6000, limit: 100 }), ['req-3', 'req-4', 'req-5']);
      assert.deepEqual(await ids({ actor: 'bob', limit: 100 }), ['req-1', 'req-3', 'req-5', 'req-7', 'req-9', 'req-11']);
      assert.deepEqual(await ids({ repository: 'apps/web', actor: 'alice', limit: 100 }), ['req-0', 'req-6']);
      assert.deepEqual(await ids({ actor: 'nobody', limit: 100 }), []);
      const first = await s.listAudit({ actor: 'alice', limit: 4 });
      assert.deepEqual(first.map((r) => r.requestId), ['req-0', 'req-2', 'req-4', 'req-6']);
      assert.deepEqual(await ids({ actor: 'alice', afterSeq: first[3]!.seq, limit: 4 }), ['req-8', 'req-10']);
      assert.deepEqual(await ids({ limit: 0 }), []);
    });

    it('prunes records older than a time and says how many', async () => {
      const s = store();
      await s.appendAudit(Array.from({ length: 5 }, (_, i) => record(i)));
      assert.equal(await s.pruneAudit(NOW + 2000), 2);
      assert.equal(await s.pruneAudit(NOW + 2000), 0);
      assert.deepEqual((await s.listAudit({ limit: 10 })).map((r) => r.requestId), ['req-2', 'req-3', 'req-4']);
    });

    it('honours an aborted signal', async () => {
      const s = store();
      const signal = AbortSignal.abort();
      await assert.rejects(s.appendAudit([record(1)], signal));
      await assert.rejects(s.listAudit({ limit: 1 }, signal));
      await assert.rejects(s.pruneAudit(NOW, signal));
    });

    it('keeps the records across a restart', async (t) => {
      await store().appendAudit([record(1), record(2)]);
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not a persistent store');
      assert.deepEqual((await reopened.listAudit({ limit: 10 })).map(strip), [record(1), record(2)]);
    });
  });
}

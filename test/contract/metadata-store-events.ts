/**
 * MetadataStore contract, part: the event outbox (src/storage/meta/events.ts):
 * events recorded with the change that caused them, claims under a lease,
 * settlement, dead letters and replay, and persistence across a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore, OutboxEntry, RegistryEvent } from '../../src/storage/meta/types.js';
import { collectionEvent } from '../../src/storage/meta/event-records.js';
import { blob, manifest, NOW } from './metadata-fixtures.js';

const CTX = { actor: 'alice', requestId: 'req-1', address: '192.0.2.7' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function pending(s: MetadataStore): Promise<RegistryEvent[]> {
  return (await s.listEvents('pending', { limit: 1000 })).map((e) => e.event);
}

function brief(e: RegistryEvent): string {
  return [e.type, e.repository, e.tag ?? '', e.previousDigest === undefined ? '' : 'prev'].join(' ').trim();
}

export function eventsContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('event outbox', () => {
    it('records nothing for writes without an event context', async () => {
      const s = store();
      await s.linkBlob('app', blob('a'), NOW);
      assert.deepEqual(await s.putManifest(manifest('app', '1', { tags: ['v1'] })), { ok: true });
      assert.equal(await s.deleteTag('app', 'v1'), true);
      assert.deepEqual(await pending(s), []);
    });

    it('a put records repository.created, manifest.pushed with every tag, tag.created and tag.moved, with the context', async () => {
      const s = store();
      const m1 = manifest('app', '1', { tags: ['v1', 'latest'], artifactType: 'application/x.demo' });
      assert.deepEqual(await s.putManifest(m1, undefined, CTX), { ok: true });
      const m2 = manifest('app', '2', { tags: ['latest', 'v2'], now: NOW + 1 });
      assert.deepEqual(await s.putManifest(m2, undefined, CTX), { ok: true });
      assert.deepEqual(await s.putManifest(m2, undefined, CTX), { ok: true }); // again: no tag changes
      const events = await pending(s);
      assert.deepEqual(events.map(brief), [
        'repository.created app', 'manifest.pushed app', 'tag.created app v1', 'tag.created app latest',
        'manifest.pushed app', 'tag.moved app latest prev', 'tag.created app v2',
        'manifest.pushed app',
      ]);
      const [, pushed, , , , moved] = events;
      assert.deepEqual(pushed, {
        id: pushed!.id, type: 'manifest.pushed', time: NOW, repository: 'app', digest: m1.digest, mediaType: m1.mediaType,
        size: m1.bytes.byteLength, artifactType: 'application/x.demo', tags: ['v1', 'latest'], ...CTX,
      });
      assert.equal(moved!.digest, m2.digest);
      assert.equal(moved!.previousDigest, m1.digest);
      assert.ok(events.every((e) => UUID.test(e.id)));
      assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are distinct');
    });

    it('a refused put records nothing', async () => {
      const s = store();
      const result = await s.putManifest(manifest('app', '1', { tags: ['v1'], blobs: [blob('absent')] }), undefined, CTX);
      assert.equal(result.ok, false);
      assert.deepEqual(await pending(s), []);
    });

    it('deletes record manifest.deleted with the tags it had and tag.deleted with its digest; absent targets record nothing', async () => {
      const s = store();
      const m = manifest('app', '1', { tags: ['b', 'a', 'c'] });
      await s.putManifest(m);
      assert.equal(await s.deleteTag('app', 'c', undefined, CTX), true);
      assert.equal(await s.deleteTag('app', 'c', undefined, CTX), false);
      assert.equal(await s.deleteManifest('app', m.digest, undefined, CTX), true);
      assert.equal(await s.deleteManifest('app', m.digest, undefined, CTX), false);
      const events = await pending(s);
      assert.deepEqual(events.map(brief), ['tag.deleted app c', 'manifest.deleted app']);
      assert.equal(events[0]!.digest, m.digest);
      assert.deepEqual(events[1]!.tags, ['a', 'b']);
      assert.equal(events[1]!.mediaType, m.mediaType);
    });

    it('conditional deletes (retention, untagged) record tag.deleted and manifest.deleted when they delete; refused and dry runs record nothing', async () => {
      const s = store();
      const m = manifest('app', '1', { tags: ['old'] });
      await s.putManifest(m);
      const [record] = await s.listTagRecords('app', { limit: 10 });
      assert.equal(await s.deleteTagIf('app', 'old', { digest: m.digest, updatedAt: record!.updatedAt + 1 }, undefined, CTX), false);
      assert.equal(await s.deleteTagIf('app', 'old', record!, undefined, CTX), true);
      assert.equal(await s.deleteManifestIf('app', m.digest, { untagged: true, dryRun: true }, undefined, CTX), true);
      assert.equal(await s.deleteManifestIf('app', m.digest, { untagged: true }, undefined, CTX), true);
      assert.equal(await s.deleteManifestIf('app', m.digest, { untagged: true }, undefined, CTX), false);
      const events = await pending(s);
      assert.deepEqual(events.map(brief), ['tag.deleted app old', 'manifest.deleted app']);
      assert.deepEqual([events[0]!.digest, events[0]!.actor], [m.digest, 'alice']);
      assert.deepEqual([events[1]!.digest, events[1]!.mediaType, events[1]!.tags], [m.digest, m.mediaType, []]);
    });

    it('a mount records blob.mounted (and repository.created); an upload link into an existing repository records nothing', async () => {
      const s = store();
      await s.linkBlob('src', blob('a'), NOW);
      await s.linkBlob('dst', blob('a'), NOW, undefined, { ...CTX, mountedFrom: 'src' });
      await s.linkBlob('dst', blob('b'), NOW, undefined, CTX);
      const events = await pending(s);
      assert.deepEqual(events.map(brief), ['repository.created dst', 'blob.mounted dst']);
      assert.equal(events[1]!.from, 'src');
      assert.equal(events[1]!.digest, blob('a').digest);
    });

    it('claims are leased: disjoint while the lease runs, taken over after it; only the holder settles', async () => {
      const s = store();
      await s.appendEvents([1, 2, 3].map((n) => collectionEvent({ n }, NOW)));
      const a = await s.claimEvents('A', { now: NOW, leaseMs: 1000, limit: 2 });
      const b = await s.claimEvents('B', { now: NOW, leaseMs: 1000, limit: 2 });
      assert.deepEqual(a.map((e) => e.event.report), [{ n: 1 }, { n: 2 }]);
      assert.deepEqual(b.map((e) => e.event.report), [{ n: 3 }]);
      assert.deepEqual(await s.claimEvents('C', { now: NOW + 999, leaseMs: 1000, limit: 10 }), []);
      const c = await s.claimEvents('C', { now: NOW + 1000, leaseMs: 1000, limit: 10 });
      assert.equal(c.length, 3, 'expired leases are taken over');
      assert.equal(await s.markEventsDelivered([a[0]!.event.id], 'A'), 0, 'A lost its claim');
      assert.equal(await s.markEventsDelivered([a[0]!.event.id, a[1]!.event.id, 'no-such-id'], 'C'), 2, 'in one call');
      assert.equal(await s.markEventsDelivered([a[0]!.event.id], 'C'), 0, 'settled once');
      assert.equal(await s.markEventsDelivered([], 'C'), 0);
      assert.equal((await pending(s)).length, 1);
    });

    it('a failed entry is due again at its next attempt; a parked one is dead until replayed', async () => {
      const s = store();
      const [e1, e2] = [collectionEvent({ n: 1 }, NOW), collectionEvent({ n: 2 }, NOW)];
      await s.appendEvents([e1!, e2!]);
      await s.claimEvents('A', { now: NOW, leaseMs: 1000, limit: 10 });
      assert.equal(await s.markEventFailed(e1!.id, 'A', NOW + 500, { deliveredTo: ['x'], error: 'HTTP 503' }), true);
      assert.equal(await s.parkEvent(e2!.id, 'A', { deliveredTo: [], error: 'timeout' }), true);
      assert.deepEqual(await s.claimEvents('B', { now: NOW + 499, leaseMs: 1000, limit: 10 }), []);
      const [again] = await s.claimEvents('B', { now: NOW + 500, leaseMs: 1000, limit: 10 });
      assert.deepEqual(pick(again!), { id: e1!.id, state: 'pending', attempts: 1, deliveredTo: ['x'], lastError: 'HTTP 503' });
      const dead = await s.listEvents('dead', { limit: 10 });
      assert.deepEqual(dead.map(pick), [{ id: e2!.id, state: 'dead', attempts: 1, deliveredTo: [], lastError: 'timeout' }]);
      assert.deepEqual(await s.claimEvents('C', { now: NOW + 10_000, leaseMs: 1000, limit: 10 }).then((x) => x.map((e) => e.event.id)), [e1!.id], 'dead entries are not claimed');
      assert.equal(await s.markEventsDelivered([e1!.id], 'C'), 1);
      assert.equal(await s.replayEvents(['nope'], NOW + 20_000), 0);
      assert.equal(await s.replayEvents(undefined, NOW + 20_000), 1);
      assert.deepEqual(await s.listEvents('dead', { limit: 10 }), []);
      const [replayed] = await s.claimEvents('D', { now: NOW + 20_000, leaseMs: 1000, limit: 1 });
      assert.deepEqual({ id: replayed!.event.id, attempts: replayed!.attempts, since: replayed!.since }, { id: e2!.id, attempts: 0, since: NOW + 20_000 });
    });

    it('entries and their state survive a restart', async (t) => {
      const s = store();
      const e = collectionEvent({ removed: 3 }, NOW);
      await s.appendEvents([e]);
      await s.putManifest(manifest('app', '1', { tags: ['v1'] }), undefined, CTX);
      await s.claimEvents('A', { now: NOW, leaseMs: 1000, limit: 1 });
      await s.parkEvent(e.id, 'A', { deliveredTo: ['x'], error: 'HTTP 500' });
      const before = await pending(s);
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not persistent');
      assert.deepEqual(await pending(reopened), before);
      assert.deepEqual((await reopened.listEvents('dead', { limit: 10 })).map(pick), [{ id: e.id, state: 'dead', attempts: 1, deliveredTo: ['x'], lastError: 'HTTP 500' }]);
      const page = await reopened.listEvents('pending', { afterSeq: (await reopened.listEvents('pending', { limit: 1 }))[0]!.seq, limit: 10 });
      assert.equal(page.length, before.length - 1, 'paged by seq');
    });
  });
}

function pick(e: OutboxEntry): Record<string, unknown> {
  return { id: e.event.id, state: e.state, attempts: e.attempts, deliveredTo: e.deliveredTo, ...(e.lastError === undefined ? {} : { lastError: e.lastError }) };
}

/**
 * MetadataStore contract, part: the blob lifecycle of online garbage
 * collection (BlobLifecycle in src/storage/meta/types.ts, docs/gc.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Digest } from '../../src/oci/digest.js';
import { type BlobLifecycle, type MetadataStore } from '../../src/storage/meta/types.js';
import { blob, manifest, mustPut } from './metadata-fixtures.js';

const HOUR = 3600_000;
const LEASE = 60_000;

/** The cases; `store()` is the fresh store of the running case (see metadataStoreContract). */
export function lifecycleContract(store: () => MetadataStore): void {
  describe('blob lifecycle (reservations and deletion marks)', () => {
    const mark = (s: BlobLifecycle, digest: Digest, now: number, extra: { holder?: string; graceMs?: number; dryRun?: boolean } = {}) =>
      s.markBlobForDeletion(digest, extra.holder ?? 'gc', { now, graceMs: extra.graceMs ?? 0, leaseMs: LEASE, ...(extra.dryRun ? { dryRun: true } : {}) });

    it('a reservation blocks the mark; a mark refuses reservations until it is dropped', async () => {
      const s = store();
      const { digest } = blob('x');
      const now = Date.now();
      assert.equal(await s.reserveBlob(digest, 'u1', now, HOUR), true);
      assert.equal(await s.reserveBlob(digest, 'u2', now, HOUR), true, 'several holders may reserve one digest');
      assert.equal(await mark(s, digest, now), false, 'reserved');
      await s.releaseBlob(digest, 'u1');
      assert.equal(await mark(s, digest, now), false, 'still reserved by u2');
      await s.releaseBlob(digest, 'u2');
      await s.releaseBlob(digest, 'u2'); // idempotent
      assert.equal(await mark(s, digest, now), true);
      assert.equal(await s.reserveBlob(digest, 'u3', now + 1, HOUR), false, 'marked');
      await s.unmarkBlob(digest, 'gc');
      assert.equal(await s.reserveBlob(digest, 'u3', now + 2, HOUR), true);
    });

    it('a digest linked in any repository or referenced by any manifest is never marked', async () => {
      const s = store();
      const now = Date.now();
      const layer = blob('layer', 5);
      await s.linkBlob('a', layer, now - HOUR);
      await s.linkBlob('b', layer, now - HOUR);
      assert.equal(await mark(s, layer.digest, now + HOUR), false);
      await s.unlinkBlob('a', layer.digest);
      assert.equal(await mark(s, layer.digest, now + HOUR), false, 'still linked in b');
      const m = manifest('b', 'm', { blobs: [layer] });
      await mustPut(s, m);
      await s.unlinkBlob('b', layer.digest);
      assert.equal(await mark(s, layer.digest, now + HOUR), false, 'referenced by a manifest of b, though linked nowhere');
      assert.ok(await s.deleteManifest('b', m.digest));
      assert.equal(await mark(s, layer.digest, now + HOUR), true);
      await s.unmarkBlob(layer.digest, 'gc');
    });

    it('graceMs counts from the last link, unlink or reservation; a digest never seen counts as used now', async () => {
      const s = store();
      const now = Date.now();
      const reserved = blob('reserved').digest;
      assert.ok(await s.reserveBlob(reserved, 'u', now, 1000));
      await s.releaseBlob(reserved, 'u');
      assert.equal(await mark(s, reserved, now + 9_999, { graceMs: 10_000 }), false);
      assert.equal(await mark(s, reserved, now + 10_000, { graceMs: 10_000 }), true);

      const unlinked = blob('unlinked');
      await s.linkBlob('r', unlinked, now - 10 * HOUR);
      await s.unlinkBlob('r', unlinked.digest); // stamped with the store's clock
      assert.equal(await mark(s, unlinked.digest, Date.now(), { graceMs: 10 * 60_000 }), false, 'unlinked just now');
      assert.equal(await mark(s, unlinked.digest, Date.now() + 11 * 60_000, { graceMs: 10 * 60_000 }), true);

      const unseen = blob('unseen').digest;
      assert.equal(await mark(s, unseen, now, { graceMs: 1000, dryRun: true }), false);
      assert.equal(await mark(s, unseen, now + 5000, { graceMs: 1000 }), false, 'first sight is recorded, the dry run recorded nothing');
      assert.equal(await mark(s, unseen, now + 5999, { graceMs: 1000 }), false);
      assert.equal(await mark(s, unseen, now + 6000, { graceMs: 1000 }), true);
      assert.equal(await mark(s, blob('unseen, no grace').digest, now), true);
    });

    it('expired reservations are ignored; expired marks are taken over by a collector or cleared by a reservation', async () => {
      const s = store();
      const now = Date.now();
      const { digest } = blob('x');
      assert.ok(await s.reserveBlob(digest, 'crashed upload', now, 1000));
      assert.equal(await mark(s, digest, now + 999), false);
      assert.equal(await mark(s, digest, now + 1000, { holder: 'gc1' }), true, 'the reservation expired');
      assert.equal(await mark(s, digest, now + 1001, { holder: 'gc2' }), false, 'gc1 holds the mark');
      assert.equal(await mark(s, digest, now + 1001, { holder: 'gc1' }), true, 'its holder may take it again');
      assert.equal(await mark(s, digest, now + 1001 + LEASE, { holder: 'gc2' }), true, 'gc1 died: its mark expired');
      await s.unmarkBlob(digest, 'gc1'); // not gc1's mark any more: no effect
      assert.equal(await s.reserveBlob(digest, 'u', now + 1002 + LEASE, HOUR), false, 'gc2 holds the mark');
      assert.equal(await s.reserveBlob(digest, 'u', now + 1001 + 2 * LEASE, HOUR), true, 'gc2 died too: the reservation clears the mark');
      assert.equal(await mark(s, digest, now + 1002 + 2 * LEASE, { holder: 'gc3' }), false, 'reserved');
    });

    it('a dry run changes nothing', async () => {
      const s = store();
      const now = Date.now();
      const { digest } = blob('x');
      assert.ok(await s.reserveBlob(digest, 'u', now, HOUR));
      await s.releaseBlob(digest, 'u');
      assert.equal(await mark(s, digest, now, { dryRun: true }), true);
      assert.equal(await s.reserveBlob(digest, 'u', now, HOUR), true, 'not marked');
      assert.equal(await mark(s, digest, now, { dryRun: true }), false, 'reserved');
    });

    it('after unmark, the digest can be reserved and linked again, and is protected by its link', async () => {
      const s = store();
      const now = Date.now();
      const b = blob('again', 9);
      assert.ok(await mark(s, b.digest, now));
      await s.unmarkBlob(b.digest, 'gc');
      assert.ok(await s.reserveBlob(b.digest, 'u', now, HOUR));
      await s.linkBlob('r', b, now);
      await s.releaseBlob(b.digest, 'u');
      assert.equal(await mark(s, b.digest, now + HOUR), false);
      assert.deepEqual(await s.getBlobLink('r', b.digest), { ...b, touchedAt: now });
    });

    it('every lifecycle method rejects with the reason of an aborted signal and has no effect', async () => {
      const s = store();
      const now = Date.now();
      const { digest } = blob('x');
      assert.ok(await s.reserveBlob(digest, 'u', now, HOUR));
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      const signal = controller.signal;
      const calls: [string, () => Promise<unknown>][] = [
        ['reserveBlob', () => s.reserveBlob(blob('y').digest, 'u', now, HOUR, signal)],
        ['releaseBlob', () => s.releaseBlob(digest, 'u', signal)],
        ['markBlobForDeletion', () => s.markBlobForDeletion(blob('y').digest, 'gc', { now, graceMs: 0, leaseMs: LEASE }, signal)],
        ['unmarkBlob', () => s.unmarkBlob(digest, 'gc', signal)],
        ['touchBlobLink', () => s.touchBlobLink('r', blob('z').digest, now + HOUR, signal)],
        ['listReclaimableBlobLinks', () => s.listReclaimableBlobLinks('r', now + HOUR, { limit: 10 }, signal)],
        ['unlinkBlobIf', () => s.unlinkBlobIf('r', blob('z').digest, { touchedBefore: now + HOUR, now }, signal)],
      ];
      await s.linkBlob('r', blob('z'), now);
      for (const [method, call] of calls) await assert.rejects(call(), (err) => err === reason, method);
      assert.deepEqual(await s.getBlobLink('r', blob('z').digest), { ...blob('z'), touchedAt: now }, 'neither touched nor unlinked');
      assert.equal(await mark(s, digest, now), false, 'the reservation is still there');
      assert.equal(await s.reserveBlob(blob('y').digest, 'u', now, HOUR), true, 'y was not marked');
    });

    it('receipts: linking and touching renew them; only an unreferenced link with an old receipt and no live reservation is reclaimable', async () => {
      const s = store();
      const T = 1_000_000;
      const [kept, loose, touched, reserved, relinked] = ['kept', 'loose', 'touched', 'reserved', 'relinked'].map((n) => blob(n, 4)) as [ReturnType<typeof blob>, ReturnType<typeof blob>, ReturnType<typeof blob>, ReturnType<typeof blob>, ReturnType<typeof blob>];
      for (const b of [kept, loose, touched, reserved, relinked]) await s.linkBlob('app', b, T);
      await s.linkBlob('other', loose, T + 500);
      await mustPut(s, manifest('app', 'm', { blobs: [kept] }));
      assert.equal(await s.touchBlobLink('app', touched.digest, T + 100), true);
      assert.equal(await s.touchBlobLink('app', touched.digest, T + 50), true, 'an older touch is a no-op, not a failure');
      assert.equal((await s.getBlobLink('app', touched.digest))?.touchedAt, T + 100, 'never back in time');
      assert.equal(await s.touchBlobLink('nowhere', touched.digest, T + 100), false, 'not linked');
      await s.linkBlob('app', relinked, T + 100); // an upload or mount again renews
      assert.ok(await s.reserveBlob(reserved.digest, 'u', T, HOUR));

      const listed = async (before: number) => (await s.listReclaimableBlobLinks('app', before, { limit: 10 })).map((l) => l.digest).sort();
      assert.deepEqual(await listed(T), [], 'receipts at T are not before T');
      assert.deepEqual(await listed(T + 1), [loose, reserved].map((b) => b.digest).sort(), 'referenced, touched and relinked are not listed');
      const page = await s.listReclaimableBlobLinks('app', T + 1, { limit: 1 });
      assert.equal(page.length, 1);
      assert.deepEqual(await s.listReclaimableBlobLinks('app', T + 1, { last: page[0]!.digest, limit: 10 }), (await s.listReclaimableBlobLinks('app', T + 1, { limit: 10 })).slice(1), 'pages');

      const now = Date.now();
      assert.equal(await s.unlinkBlobIf('app', kept.digest, { touchedBefore: T + HOUR, now }), false, 'referenced by a manifest of the repository');
      assert.equal(await s.unlinkBlobIf('app', touched.digest, { touchedBefore: T + 100, now }), false, 'touched at T + 100');
      assert.equal(await s.unlinkBlobIf('app', reserved.digest, { touchedBefore: T + 1, now: T + 1 }), false, 'reserved until T + 1 h');
      assert.equal(await s.unlinkBlobIf('app', loose.digest, { touchedBefore: T + 1, now }), true);
      assert.equal(await s.unlinkBlobIf('app', loose.digest, { touchedBefore: T + 1, now }), false, 'once');
      assert.equal(await s.getBlobLink('app', loose.digest), undefined);
      assert.deepEqual(await s.getBlobLink('other', loose.digest), { ...loose, touchedAt: T + 500 }, 'other repositories keep theirs');
      assert.equal(await s.unlinkBlobIf('app', touched.digest, { touchedBefore: T + 101, now }), true);
      assert.equal(await mark(s, touched.digest, T + 100 + HOUR, { graceMs: HOUR }), true, 'last_used is the receipt, not the unlink: the content is collectable at once');
    });
  });
}

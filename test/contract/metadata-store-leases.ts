/**
 * MetadataStore contract, part: leases (src/storage/meta/leases.ts): one
 * holder at a time per key, renewal only while held, takeover at expiry,
 * release by the holder only, concurrent acquirers, and persistence across
 * a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/storage/meta/types.js';
import { NOW } from './metadata-fixtures.js';

const KEY = 'mirror blob up docker.io/library/app@sha256:abc';

export function leasesContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('leases', () => {
    it('gives a key to one holder at a time; the holder may acquire again (renewing), keys are independent', async () => {
      const s = store();
      assert.equal(await s.acquireLease(KEY, 'a', NOW, 1000), true);
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 10, 1000), false);
      assert.equal(await s.acquireLease(KEY, 'a', NOW + 500, 1000), true, 'its own lease, renewed to NOW + 1500');
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 1200, 1000), false, 'still held: the renewal moved the expiry');
      assert.equal(await s.acquireLease(`${KEY}2`, 'b', NOW, 1000), true);
    });

    it('lets another holder take an expired lease; the old holder can no longer renew it', async () => {
      const s = store();
      assert.equal(await s.acquireLease(KEY, 'a', NOW, 1000), true);
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 999, 1000), false);
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 1000, 1000), true, 'expired at NOW + 1000: taken over');
      assert.equal(await s.renewLease(KEY, 'a', NOW + 1001, 1000), false);
      assert.equal(await s.acquireLease(KEY, 'a', NOW + 1001, 1000), false);
    });

    it('renews only an unexpired lease of the holder', async () => {
      const s = store();
      assert.equal(await s.renewLease(KEY, 'a', NOW, 1000), false, 'nothing to renew');
      assert.equal(await s.acquireLease(KEY, 'a', NOW, 1000), true);
      assert.equal(await s.renewLease(KEY, 'b', NOW + 1, 1000), false, 'not its lease');
      assert.equal(await s.renewLease(KEY, 'a', NOW + 900, 1000), true);
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 1500, 1000), false, 'renewed until NOW + 1900');
      assert.equal(await s.renewLease(KEY, 'a', NOW + 1900, 1000), false, 'expired at NOW + 1900');
    });

    it('releases only the holder\'s lease, idempotently', async () => {
      const s = store();
      assert.equal(await s.acquireLease(KEY, 'a', NOW, 60_000), true);
      await s.releaseLease(KEY, 'b');
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 1, 1000), false, 'another holder cannot release it');
      await s.releaseLease(KEY, 'a');
      await s.releaseLease(KEY, 'a');
      assert.equal(await s.renewLease(KEY, 'a', NOW + 2, 1000), false);
      assert.equal(await s.acquireLease(KEY, 'b', NOW + 2, 1000), true, 'free after release, long before its expiry');
    });

    it('gives a contested key to exactly one of many concurrent acquirers', async () => {
      const s = store();
      const got = await Promise.all(Array.from({ length: 12 }, (_, i) => s.acquireLease(KEY, `h${i}`, NOW, 1000)));
      assert.equal(got.filter(Boolean).length, 1);
    });

    it('keeps unexpired leases across a restart', async (t) => {
      await store().acquireLease(KEY, 'a', NOW, 60_000);
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not a persistent store');
      assert.equal(await reopened.acquireLease(KEY, 'b', NOW + 1, 1000), false);
      assert.equal(await reopened.renewLease(KEY, 'a', NOW + 1, 1000), true);
    });
  });
}

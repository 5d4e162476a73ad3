/**
 * MetadataStore contract, part: the pull log (src/storage/meta/pulls.ts):
 * the latest time per manifest wins (within a batch and across batches),
 * listings page by digest per repository, forgetting removes rows, and the
 * rows persist across a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestPull, MetadataStore } from '../../src/storage/meta/types.js';
import { digestFromHex, type Digest } from '../../src/oci/digest.js';
import { NOW } from './metadata-fixtures.js';

const d = (c: string): Digest => digestFromHex('sha256', c.repeat(64));
const pull = (repository: string, digest: Digest, at: number): ManifestPull => ({ repository, digest, pulledAt: NOW + at });

async function all(s: MetadataStore, repository: string, limit = 2): Promise<ManifestPull[]> {
  const out: ManifestPull[] = [];
  for (let page = await s.listManifestPulls(repository, { limit }); page.length > 0; page = await s.listManifestPulls(repository, { last: page[page.length - 1]!.digest, limit })) {
    out.push(...page);
  }
  return out;
}

export function pullsContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('pull log', () => {
    it('keeps the latest time per manifest, within a batch and across batches, ordered by digest', async () => {
      const s = store();
      await s.recordManifestPulls([pull('hub/a', d('2'), 5), pull('hub/a', d('1'), 3), pull('hub/a', d('2'), 9), pull('hub/a', d('2'), 7), pull('hub/b', d('1'), 1)]);
      await s.recordManifestPulls([pull('hub/a', d('1'), 2), pull('hub/a', d('3'), 4)]);
      await s.recordManifestPulls([]);
      assert.deepEqual(await all(s, 'hub/a'), [pull('hub/a', d('1'), 3), pull('hub/a', d('2'), 9), pull('hub/a', d('3'), 4)]);
      assert.deepEqual(await all(s, 'hub/b'), [pull('hub/b', d('1'), 1)]);
      assert.deepEqual(await s.listManifestPulls('hub/none', { limit: 5 }), []);
      assert.deepEqual(await s.listManifestPulls('hub/a', { limit: 0 }), []);
    });

    it('forgets rows by digest and says how many there were', async () => {
      const s = store();
      await s.recordManifestPulls([pull('hub/a', d('1'), 1), pull('hub/a', d('2'), 2), pull('hub/b', d('1'), 3)]);
      assert.equal(await s.forgetManifestPulls('hub/a', [d('1'), d('1'), d('9')]), 1);
      assert.equal(await s.forgetManifestPulls('hub/a', []), 0);
      assert.deepEqual(await all(s, 'hub/a'), [pull('hub/a', d('2'), 2)]);
      assert.deepEqual(await all(s, 'hub/b'), [pull('hub/b', d('1'), 3)]);
    });

    it('honours an aborted signal', async () => {
      const s = store();
      const signal = AbortSignal.abort();
      await assert.rejects(s.recordManifestPulls([pull('hub/a', d('1'), 1)], signal));
      await assert.rejects(s.listManifestPulls('hub/a', { limit: 1 }, signal));
      await assert.rejects(s.forgetManifestPulls('hub/a', [d('1')], signal));
      assert.deepEqual(await all(s, 'hub/a'), []);
    });

    it('keeps the rows across a restart', async (t) => {
      await store().recordManifestPulls([pull('hub/a', d('1'), 1), pull('hub/a', d('2'), 2)]);
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not a persistent store');
      assert.deepEqual(await all(reopened, 'hub/a'), [pull('hub/a', d('1'), 1), pull('hub/a', d('2'), 2)]);
    });
  });
}

/**
 * MetadataStore contract, part: the sha256 state saved with an upload session
 * (UploadSession.hashState): set with the offset in one updateUpload, removed
 * by an update without one, kept across a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/storage/meta/types.js';

const session = { id: 'hs', repository: 'app', offset: 0, createdAt: 1000, updatedAt: 1000 };
const state = (seed: number) => Uint8Array.from({ length: 129 }, (_, i) => (i * 7 + seed) % 256);
const saved = async (s: MetadataStore) => {
  const got = await s.getUpload(session.id);
  return got?.hashState === undefined ? undefined : Uint8Array.from(got.hashState);
};

export function hashStateContract(store: () => MetadataStore, restart: () => Promise<MetadataStore | undefined>): void {
  describe('upload hash state', () => {
    it('sets the state with the offset, replaces it, and removes it when an update gives none', async () => {
      await store().createUpload(session);
      assert.equal(await saved(store()), undefined, 'a new session has none');
      assert.equal(await store().updateUpload(session.id, 4096, 2000, undefined, state(1)), true);
      assert.deepEqual(await saved(store()), state(1));
      assert.equal((await store().getUpload(session.id))?.offset, 4096);
      await store().updateUpload(session.id, 8192, 3000, undefined, state(2));
      assert.deepEqual(await saved(store()), state(2));
      await store().updateUpload(session.id, 9000, 4000);
      assert.equal(await saved(store()), undefined, 'a state is only ever the one of the offset beside it');
      assert.deepEqual(await store().getUpload(session.id), { ...session, offset: 9000, updatedAt: 4000 });
    });

    it('keeps the state across a restart', async (t) => {
      await store().createUpload(session);
      await store().updateUpload(session.id, 4096, 2000, undefined, state(3));
      const reopened = await restart();
      if (reopened === undefined) return t.skip('not a persistent store');
      assert.deepEqual(await saved(reopened), state(3));
      assert.equal((await reopened.getUpload(session.id))?.offset, 4096);
    });
  });
}

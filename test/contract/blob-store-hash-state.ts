/**
 * BlobStore contract, part: resumable sha256 state (UploadOptions.resumableHash,
 * BlobWriter.hashState, ResumeOptions.hashState). A writer resumed with a
 * valid state continues from it without reading the upload back; a state that
 * is damaged, of another offset or absent is ignored and the bytes are re-read,
 * so the digest is always the one of the bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import type { BlobStore } from '../../src/storage/blob/types.js';
import { chunksOf, type BlobStoreFixture } from './blob-store.js';

const text = (s: string) => Buffer.from(s);

export function hashStateContract(store: () => BlobStore, fixture: () => BlobStoreFixture): void {
  it('a resumable writer saves its sha256 state; a writer resumed with it reads nothing back', async () => {
    const plain = await store().createUpload('hs-plain');
    await plain.append(chunksOf('plain'));
    assert.equal(plain.hashState(), undefined, 'node:crypto hashes cannot be saved');
    await plain.cancel();

    const writer = await store().createUpload('hs', undefined, { resumableHash: true });
    assert.ok(writer.hashState(), 'a state from the start');
    await writer.append(chunksOf('first chunk, ', 5));
    const state = writer.hashState()!;
    await writer.append(chunksOf('not acknowledged'));
    assert.equal(await writer.digest('sha256'), digestOf(text('first chunk, not acknowledged')));

    const resumed = await store().resumeUpload('hs', 13, undefined, { hashState: state });
    assert.ok(resumed);
    assert.equal(resumed.size, 13, 'bytes past the offset are dropped');
    assert.equal(resumed.rehashedBytes, 0);
    assert.equal(await resumed.digest('sha256'), digestOf(text('first chunk, ')));
    await resumed.append(chunksOf('second'));
    assert.deepEqual(resumed.hashState()?.byteLength, state.byteLength, 'still resumable');
    await resumed.commit(digestOf(text('first chunk, second')));
  });

  it('continues from the state, not from the bytes: the state of other bytes of the same length gives their digest', async () => {
    const earlier = await store().createUpload('hs-used', undefined, { resumableHash: true });
    await earlier.append(chunksOf('XXXXX'));
    const stale = earlier.hashState()!;
    await earlier.cancel();
    const writer = await store().createUpload('hs-used', undefined, { resumableHash: true }); // the same id again
    await writer.append(chunksOf('abcde'));
    const resumed = (await store().resumeUpload('hs-used', 5, undefined, { hashState: stale }))!;
    assert.equal(await resumed.digest('sha256'), digestOf(text('XXXXX')), 'proof that nothing was read back');
    await resumed.cancel();
  });

  it('refuses the state of another upload and re-reads the bytes', async () => {
    const other = await store().createUpload('hs-other', undefined, { resumableHash: true });
    await other.append(chunksOf('XXXXX'));
    const foreign = other.hashState()!;
    await other.cancel();
    const writer = await store().createUpload('hs-mine', undefined, { resumableHash: true });
    await writer.append(chunksOf('abcde'));
    const resumed = (await store().resumeUpload('hs-mine', 5, undefined, { hashState: foreign }))!;
    assert.equal(resumed.rehashedBytes, 5);
    assert.equal(await resumed.digest('sha256'), digestOf(text('abcde')));
    await resumed.cancel();
  });

  it('ignores a damaged, truncated, misplaced or absent state and re-reads the bytes', async () => {
    const writer = await store().createUpload('hs-bad', undefined, { resumableHash: true });
    await writer.append(chunksOf('twelve byte'));
    const wrongLength = writer.hashState()!; // at 11 bytes
    await writer.append(chunksOf('s'));
    const good = writer.hashState()!;
    const flipped = Uint8Array.from(good);
    flipped[20]! ^= 0x01;
    // Intact by its checksum, but hash-wasm's counters out of range (as a forged or once-in-2^32 damaged row would be).
    const garbled = Buffer.from(good);
    garbled.fill(0xff, 9 + 4, garbled.byteLength - 4); // after the header and hash-wasm's build tag
    garbled.writeUInt32BE(createHash('sha256').update('hs-bad').update(garbled.subarray(0, garbled.byteLength - 4)).digest().readUInt32BE(0), garbled.byteLength - 4);
    const cases: Array<[string, Uint8Array | undefined]> = [
      ['a flipped bit', flipped],
      ['a checksummed state hash-wasm cannot use', garbled],
      ['a truncated state', good.subarray(0, good.byteLength - 10)],
      ['the state of another offset', wrongLength],
      ['an empty state', new Uint8Array(0)],
      ['no state', undefined],
    ];
    for (const [what, hashState] of cases) {
      const resumed = await store().resumeUpload('hs-bad', 12, undefined, hashState === undefined ? { resumableHash: true } : { hashState });
      assert.ok(resumed, what);
      assert.equal(resumed.rehashedBytes, 12, `${what}: the bytes are read back`);
      assert.equal(await resumed.digest('sha256'), digestOf(text('twelve bytes')), what);
      assert.ok(resumed.hashState(), `${what}: the resumed writer hashes resumably again`);
    }
    const last = (await store().resumeUpload('hs-bad', 12))!;
    await last.append(chunksOf('!'));
    await last.commit(digestOf(text('twelve bytes!')));
  });

  it('a failed append leaves the saved state as it was', async () => {
    const writer = await store().createUpload('hs-atomic', undefined, { resumableHash: true });
    await writer.append(chunksOf('kept'));
    const before = writer.hashState();
    await assert.rejects(writer.append(chunksOf('too long'), { expectedLength: 3 }));
    assert.deepEqual(writer.hashState(), before);
    await writer.commit(digestOf(text('kept')));
  });

  it('a state saved before a restart resumes the upload after it', async (t) => {
    const fx = fixture();
    if (fx.reopen === undefined) return t.skip('store is not persistent');
    const writer = await store().createUpload('hs-persist', undefined, { resumableHash: true });
    await writer.append(chunksOf('before restart, '));
    const state = writer.hashState()!;
    await store().close();
    const reopened = await fx.reopen();
    try {
      const resumed = (await reopened.resumeUpload('hs-persist', 16, undefined, { hashState: state }))!;
      assert.equal(resumed.rehashedBytes, 0);
      await resumed.append(chunksOf('after'));
      await resumed.commit(digestOf(text('before restart, after')));
    } finally {
      await reopened.close();
    }
  });
}

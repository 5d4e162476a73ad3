/**
 * Runs the BlobStore contract against every implementation, plus checks that
 * only the filesystem store can fail: path confinement, tmp cleanup at open,
 * health reporting and flat memory while streaming a large blob.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FilesystemBlobStore, openFilesystemBlobStore } from '../../src/storage/blob/filesystem.js';
import { digestFromHex, type Digest } from '../../src/oci/digest.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { blobStoreContract, chunksOf, collect, streamLargeBlob } from './blob-store.js';

const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'ferro-blob-'));

/** Every path under `dir`, relative to it, directories with a trailing slash. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name)) + (e.isDirectory() ? '/' : '')).sort();
}

const EMPTY_LAYOUT = ['blobs/', 'blobs/sha256/', 'blobs/sha512/', 'tmp/', 'uploads/'];

blobStoreContract('memory', async () => {
  const store = new MemoryBlobStore();
  return { store, cleanup: () => store.close() };
});

blobStoreContract('filesystem', async () => {
  const dir = await tempDir();
  const store = await openFilesystemBlobStore(dir);
  return {
    store,
    reopen: () => openFilesystemBlobStore(dir),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('FilesystemBlobStore', () => {
  let parent: string;
  let root: string;
  let store: FilesystemBlobStore;

  before(async () => {
    parent = await tempDir();
    root = join(parent, 'a', 'root');
    store = await openFilesystemBlobStore(root);
  });
  after(async () => {
    await store.close();
    await rm(parent, { recursive: true, force: true });
  });

  it('never touches a path outside the root, whatever the id or digest', async () => {
    const badIds = ['../x', '..', '.', 'a/b', 'a\\b', '', 'x'.repeat(129), '/tmp/x', 'a b', 'ü', '.hidden', 'x\0y', '../../a/root/x'];
    for (const id of badIds) {
      await assert.rejects(store.createUpload(id), /invalid upload id/, JSON.stringify(id));
      await assert.rejects(store.resumeUpload(id, 0), /invalid upload id/, JSON.stringify(id));
      await assert.rejects(store.deleteUpload(id), /invalid upload id/, JSON.stringify(id));
    }
    const hex = 'a'.repeat(64);
    const badDigests = ['sha256:../../x', `sha256:../${hex.slice(3)}`, `sha256/../../${hex}`, `sha256:${hex.toUpperCase()}`, `../sha256:${hex}`, `sha1:${hex}`];
    // Forged past the Digest type (a cast, as a JavaScript caller could): still no path outside the root.
    for (const digest of badDigests as Digest[]) {
      assert.equal(await store.stat(digest), undefined, digest);
      assert.equal(await store.read(digest), undefined, digest);
      assert.equal(await store.delete(digest), false, digest);
    }
    assert.deepEqual(await walk(parent), ['a/', 'a/root/', ...EMPTY_LAYOUT.map((p) => `a/root/${p}`)]);
  });

  it('removes tmp leftovers at open and keeps uploads and blobs', async () => {
    const writer = await store.createUpload('kept');
    await writer.append(chunksOf('upload data'));
    const digest = createHash('sha256').update('blob').digest('hex');
    const w2 = await store.createUpload('b');
    await w2.append(chunksOf('blob'));
    await w2.commit(digestFromHex('sha256', digest));
    await writeFile(join(root, 'tmp', 'leftover'), 'x');
    await mkdir(join(root, 'tmp', 'nested', 'deeper'), { recursive: true });
    await writeFile(join(root, 'tmp', 'nested', 'deeper', 'f'), 'y');

    const reopened = await openFilesystemBlobStore(root);
    try {
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
      assert.deepEqual(await walk(root), [...EMPTY_LAYOUT, `blobs/sha256/${digest.slice(0, 2)}/`, `blobs/sha256/${digest.slice(0, 2)}/${digest}`, 'uploads/kept'].sort());
      assert.deepEqual((await collect(reopened.listUploads())).map((u) => [u.id, u.size]), [['kept', 11]]);
    } finally {
      await reopened.close();
      await store.deleteUpload('kept');
      await store.delete(digestFromHex('sha256', digest));
    }
  });

  it('checkHealth names the root and the reason when it cannot write', async () => {
    const dir = await tempDir();
    const broken = await openFilesystemBlobStore(dir);
    try {
      await broken.checkHealth();
      await rm(join(dir, 'tmp'), { recursive: true });
      await assert.rejects(broken.checkHealth(), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, /is not writable/);
        assert.ok(err.message.includes(dir), err.message);
        return true;
      });
    } finally {
      await broken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps memory flat while streaming a 256 MiB blob in and out', async () => {
    const { growthMiB } = await streamLargeBlob(store, 'huge', 256 * 1024 * 1024);
    assert.ok(growthMiB < 64, `rss grew by ${growthMiB.toFixed(1)} MiB`);
  });

  it('rejects every call after close', async () => {
    const dir = await tempDir();
    const closed = await openFilesystemBlobStore(dir);
    const writer = await closed.createUpload('w');
    await closed.close();
    try {
      await assert.rejects(closed.stat(digestFromHex('sha256', 'a'.repeat(64))), /closed/);
      await assert.rejects(closed.createUpload('x'), /closed/);
      await assert.rejects(writer.append(chunksOf('x')), /closed/);
      await writer.cancel();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

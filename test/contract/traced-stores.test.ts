/**
 * The tracing wrappers of the ports (src/server/tracing-stores.ts) are the
 * stores to every caller when tracing is on: the port contracts run against
 * a wrapped filesystem blob store and a wrapped SQLite metadata store (each
 * reopened wrapped too), with a `traced` that records every call it sees.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openFilesystemBlobStore } from '../../src/storage/blob/filesystem.js';
import { openSqliteMetadataStore } from '../../src/storage/meta/sqlite/index.js';
import { tracedBlobStore, tracedMetadataStore, type Traced } from '../../src/server/tracing-stores.js';
import { blobStoreContract } from './blob-store.js';
import { metadataStoreContract } from './metadata-store.js';

const seen = new Set<string>();
const traced: Traced = (name, call) => {
  seen.add(name);
  return call();
};

blobStoreContract('filesystem, traced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-traced-blob-'));
  const store = tracedBlobStore(await openFilesystemBlobStore(dir), traced);
  return {
    store,
    reopen: async () => tracedBlobStore(await openFilesystemBlobStore(dir), traced),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

metadataStoreContract('sqlite, traced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-traced-meta-'));
  const path = join(dir, 'meta.db');
  return {
    store: tracedMetadataStore(openSqliteMetadataStore(path), traced),
    reopen: async () => tracedMetadataStore(openSqliteMetadataStore(path), traced),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

test('every call of the contracts went through the wrappers, writers included; clock is passed through', () => {
  for (const name of ['BlobStore.stat', 'BlobStore.read', 'BlobStore.createUpload', 'BlobWriter.append', 'BlobWriter.commit', 'BlobWriter.cancel', 'MetadataStore.putManifest', 'MetadataStore.linkBlob', 'MetadataStore.appendAudit']) {
    assert.ok(seen.has(name), `${name} in ${[...seen].sort().join(', ')}`);
  }
  assert.ok(!seen.has('MetadataStore.clock'));
});

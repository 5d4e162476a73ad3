import fsp, { mkdtemp, rm, symlink } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { MIGRATIONS, SCHEMA_VERSION, SQL } from '../../src/storage/meta/sqlite/schema.js';
import { openSqliteMetadataStore, type SqliteMetadataStore } from '../../src/storage/meta/sqlite/index.js';
import { SUMMARY_SQL } from '../../src/storage/meta/sqlite/summaries.js';
import { digestFromHex } from '../../src/oci/digest.js';
import { digestOf, metadataStoreContract } from './metadata-store.js';
import { manifest, mustPut } from './metadata-fixtures.js';

metadataStoreContract('memory', async () => ({ store: new MemoryMetadataStore(), cleanup: async () => {} }));

metadataStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-meta-'));
  const path = join(dir, 'meta.db');
  return {
    store: openSqliteMetadataStore(path),
    reopen: async () => openSqliteMetadataStore(path),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

metadataStoreContract('sqlite :memory:', async () => ({ store: openSqliteMetadataStore(':memory:'), cleanup: async () => {} }));

describe('SqliteMetadataStore specifics', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-meta-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a WAL database at the current schema version', async () => {
    const path = join(dir, 'schema.db');
    await openSqliteMetadataStore(path).close();
    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    } finally {
      raw.close();
    }
    await openSqliteMetadataStore(path).close(); // reopening an up-to-date file migrates nothing
  });

  it('migrates a version 1 database, keeping its data; manifests count as used when created', async () => {
    const path = join(dir, 'v1.db');
    const raw = new Database(path);
    raw.exec(MIGRATIONS[0]!.sql);
    raw.pragma('user_version = 1');
    const bytes = Buffer.from('{"schemaVersion":2}');
    const linked = digestFromHex('sha256', '1'.repeat(64));
    raw.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?)').run('app', 1000);
    raw.prepare('INSERT INTO blob_links (repository, digest, size, created_at) VALUES (?, ?, ?, ?)').run('app', linked, 3, 900);
    raw.prepare('INSERT INTO manifests (repository, digest, media_type, bytes, size, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run('app', digestOf(bytes), 'application/vnd.oci.image.manifest.v1+json', bytes, bytes.length, 1000);
    raw.close();
    const store = openSqliteMetadataStore(path);
    try {
      assert.equal((await store.getManifest('app', digestOf(bytes)))?.createdAt, 1000);
      assert.equal(await store.deleteManifestIf('app', digestOf(bytes), { usedBefore: 1000 }), false);
      assert.equal(await store.deleteManifestIf('app', digestOf(bytes), { usedBefore: 1001 }), true);
      assert.deepEqual(await store.getBlobLink('app', linked), { digest: linked, size: 3, touchedAt: 900 }, 'a link of version 1 reads its creation as its receipt');
      assert.equal(await store.unlinkBlobIf('app', linked, { touchedBefore: 900, now: 2000 }), false);
      assert.equal(await store.unlinkBlobIf('app', linked, { touchedBefore: 901, now: 2000 }), true);
    } finally {
      await store.close();
    }
  });

  it('refuses a database written by a newer schema', async () => {
    const path = join(dir, 'newer.db');
    await openSqliteMetadataStore(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => openSqliteMetadataStore(path), /newer than supported/);
  });

  it('serves listings and referrer lookups from indexes, without scans or sorts', async () => {
    const path = join(dir, 'plan.db');
    await openSqliteMetadataStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      const plans: [keyof typeof SQL, unknown[]][] = [
        ['listRepositories', [100]],
        ['listRepositoriesAfter', ['a', 100]],
        ['listTags', ['r', 100]],
        ['listTagsAfter', ['r', 'a', 100]],
        ['listReferrers', ['r', 's']],
        ['listReferrersOfType', ['r', 's', 't']],
        ['listBlobLinks', ['r', 100]],
        ['listBlobLinksAfter', ['r', 'd', 100]],
        ['listManifests', ['r', 100]],
        ['listManifestsAfter', ['r', 'd', 100]],
        ['listIdleUploads', [1, 10]],
        ['blobLinked', ['d']],
        ['blobReferenced', ['d']],
        ['liveReservation', ['d', 1]],
        ['pruneReservations', [1]],
        ['blobState', ['d']],
        ['listTagRecords', ['r', 100]],
        ['listTagRecordsAfter', ['r', 't', 100]],
        ['manifestTagged', ['r', 'd']],
        ['manifestReferenced', ['d', 'r']],
        ['listReclaimableBlobLinks', ['r', '', 1, 100]],
        ['blobReferencedIn', ['d', 'r']],
        ['deleteTagIf', ['r', 't', 'd', 1]],
      ];
      for (const [key, params] of plans) {
        const rows = db.prepare(`EXPLAIN QUERY PLAN ${SQL[key]}`).all(...params) as { detail: string }[];
        const plan = rows.map((r) => r.detail).join('; ');
        assert.doesNotMatch(plan, /TEMP B-TREE/, `${key}: ${plan}`);
        // A bare "SCAN table" reads every row; listRepositories may walk the primary key from its start.
        if (key !== 'listRepositories') assert.doesNotMatch(plan, /\bSCAN\b/, `${key}: ${plan}`);
      }
      // Deleting a manifest must find its tags by (repository, digest), not walk the repository's tags.
      db.pragma('foreign_keys = ON');
      for (const key of ['deleteTagsOf', 'deleteManifest'] as const) {
        const rows = db.prepare(`EXPLAIN QUERY PLAN ${SQL[key]}`).all('r', 'd') as { detail: string }[];
        const plan = rows.map((r) => r.detail).join('; ');
        assert.match(plan, /SEARCH tags USING (COVERING )?INDEX tags_by_digest \(repository=\? AND digest=\?\)/, `${key}: ${plan}`);
        assert.doesNotMatch(plan, /SEARCH tags USING PRIMARY KEY \(repository=\?\)/, `${key}: ${plan}`);
      }
    } finally {
      db.close();
    }
  });

  it('summarizes repositories from indexes: the last push one seek in tags_by_time, the name order the primary key', async () => {
    const path = join(dir, 'summaries.db');
    await openSqliteMetadataStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ search: null, names: null, limit: 25, offset: 0 }) as { detail: string }[]).map((r) => r.detail).join('; ');
      for (const sort of ['name', 'pushed', 'size'] as const) assert.match(plan(SUMMARY_SQL[sort]), /SEARCH t USING COVERING INDEX tags_by_time \(repository=\?\)/, sort);
      assert.doesNotMatch(plan(SUMMARY_SQL.name), /TEMP B-TREE/, 'by name: no sort');
    } finally {
      db.close();
    }
  });

  it('returns a deep page among 100,000 tags of one repository', async () => {
    const path = join(dir, 'deep.db');
    let store: SqliteMetadataStore = openSqliteMetadataStore(path);
    const bytes = Buffer.from('{"schemaVersion":2}');
    const digest = digestOf(bytes);
    const put = await store.putManifest({
      repository: 'big', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes, blobs: [], manifests: [], now: 1,
    });
    assert.deepEqual(put, { ok: true });
    await store.close();

    // Bulk insert in one transaction through a second connection: 100,000 single puts would be 100,000 fsyncs.
    const raw = new Database(path);
    const insert = raw.prepare('INSERT INTO tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)');
    raw.transaction(() => {
      for (let i = 0; i < 100_000; i++) insert.run('big', `t${String(i).padStart(6, '0')}`, digest, 1);
    })();
    raw.close();

    store = openSqliteMetadataStore(path);
    try {
      const expectedAfter = (n: number, count: number) =>
        Array.from({ length: count }, (_, i) => `t${String(n + 1 + i).padStart(6, '0')}`);
      const started = performance.now();
      const deep = await store.listTags('big', { last: 't099950', limit: 100 });
      const elapsed = performance.now() - started;
      assert.deepEqual(deep, expectedAfter(99_950, 49));
      assert.deepEqual(await store.listTags('big', { last: 't049999', limit: 100 }), expectedAfter(49_999, 100));
      assert.deepEqual(await store.listTags('big', { limit: 3 }), ['t000000', 't000001', 't000002']);
      assert.deepEqual(await store.listTags('big', { last: 't099999', limit: 100 }), []);
      assert.ok(elapsed < 1000, `deep page took ${elapsed} ms`);
      assert.ok(await store.deleteManifest('big', digest));
      assert.deepEqual(await store.listTags('big', { limit: 10 }), []);
    } finally {
      await store.close();
    }
  });

  it('a tag page read again shows the tags written since, by this store or by another one on the same file', async () => {
    const path = join(dir, 'two.db');
    const a = openSqliteMetadataStore(path);
    const b = openSqliteMetadataStore(path);
    try {
      await mustPut(a, manifest('app', 'one', { tags: ['v1'] }));
      assert.deepEqual(await a.listTags('app', { limit: 10 }), ['v1']);
      assert.deepEqual(await a.listTags('app', { limit: 10 }), ['v1']);
      await mustPut(b, manifest('app', 'two', { tags: ['v2'] }));
      assert.deepEqual(await a.listTags('app', { limit: 10 }), ['v1', 'v2'], 'a write of another connection is seen');
      assert.ok(await a.deleteTag('app', 'v1'));
      assert.deepEqual(await a.listTags('app', { limit: 10 }), ['v2'], 'a write of this store is seen');
      assert.ok(await b.deleteTag('app', 'v2'));
      assert.deepEqual(await a.listTags('app', { limit: 10 }), []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('syncs the write-ahead log SQLite writes when the database path is a symlink', async () => {
    mkdirSync(join(dir, 'real'));
    mkdirSync(join(dir, 'link'));
    const target = join(dir, 'real', 'meta.db');
    await openSqliteMetadataStore(target).close();
    await symlink(target, join(dir, 'link', 'meta.db'));
    const store = openSqliteMetadataStore(join(dir, 'link', 'meta.db'));
    const opened: string[] = [];
    const open = fsp.open;
    mock.method(fsp, 'open', (path: string, ...rest: []) => (opened.push(path), open(path, ...rest)));
    syncBuiltinESMExports(); // wal-sync.ts imports `open` by name
    try {
      await mustPut(store, manifest('app', 'one', { tags: ['v1'] }));
      assert.ok(opened.length > 0 && opened.every((p) => existsSync(p)), `synced ${opened.join(', ')}, SQLite's WAL is beside the target`);
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
      await store.close();
    }
  });
});

/**
 * The MetadataStore contract and PostgreSQL specifics against a throwaway
 * server (support/postgres.ts). Each contract case gets a fresh schema;
 * `reopen` opens a new pool on the same schema. Skips, saying why, when no
 * PostgreSQL server binaries are installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { openPostgresMetadataStore, type PostgresMetadataStore } from '../../src/postgres.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/storage/meta/postgres/schema.js';
import { statements, type StatementName } from '../../src/storage/meta/postgres/statements.js';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { metadataStoreContract } from './metadata-store.js';
import { blob, digestOf, manifest, mustPut, NOW } from './metadata-fixtures.js';

const unavailable = postgresUnavailable();

if (unavailable !== undefined) {
  describe('PostgresMetadataStore', () => {
    it('needs a PostgreSQL server', { skip: unavailable }, () => {});
  });
} else {
  const server: TestPostgres = await startPostgres();
  const admin = new pg.Pool({ ...server.config, max: 4 });
  admin.on('error', () => {}).on('connect', (client) => client.on('error', () => {})); // the server stops while clients end
  after(async () => {
    await admin.end();
    await server.stop();
  });

  let schemas = 0;
  const freshSchema = (): string => `t${process.pid}_${++schemas}`;
  const q = (schema: string): string => pg.escapeIdentifier(schema);
  const dropSchema = async (schema: string): Promise<void> => {
    await admin.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
  };
  const openIn = (schema: string, extra: Partial<Parameters<typeof openPostgresMetadataStore>[0]> = {}) =>
    openPostgresMetadataStore({ ...server.config, schema, max: 4, ...extra });
  /** Waits until `n` backends wait for a lock (the calls under test are blocked). */
  const waitForLockWaiter = async (n = 1): Promise<void> => {
    for (let i = 0; i < 500; i++) {
      const { rows } = await admin.query<{ n: string }>('SELECT count(DISTINCT pid) AS n FROM pg_locks WHERE NOT granted');
      if (Number(rows[0]?.n) >= n) return;
      await sleep(10);
    }
    throw new Error('nothing waits for a lock');
  };

  metadataStoreContract('postgres', async () => {
    const schema = freshSchema();
    return { store: await openIn(schema), reopen: () => openIn(schema), cleanup: () => dropSchema(schema) };
  });

  describe(`PostgresMetadataStore specifics (${server.version})`, () => {
    it('migrates once when several stores open a fresh schema at once; refuses a newer schema', async () => {
      const schema = freshSchema();
      const stores = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? openIn(schema) : openPostgresMetadataStore({ connectionString: server.connectionString, schema }))),
      );
      await Promise.all(stores.map((s) => s.close()));
      const versions = async () => (await admin.query(`SELECT version, applied_at FROM ${q(schema)}.schema_migrations ORDER BY version`)).rows;
      const first = await versions();
      assert.deepEqual(first.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      await (await openIn(schema)).close();
      assert.deepEqual(await versions(), first, 'reopening migrates nothing');

      await admin.query(`INSERT INTO ${q(schema)}.schema_migrations (version) VALUES ($1)`, [SCHEMA_VERSION + 1]);
      await assert.rejects(openIn(schema), /newer than supported/);
      await dropSchema(schema);
    });

    it('upgrades a version 1 schema with its data', async () => {
      const schema = freshSchema();
      await admin.query(`CREATE SCHEMA ${q(schema)}`);
      await admin.query(`CREATE TABLE ${q(schema)}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      await admin.query(MIGRATIONS[0]!.sql(q(schema)));
      await admin.query(`INSERT INTO ${q(schema)}.schema_migrations (version) VALUES (1)`);
      const layer = blob('old', 3);
      await admin.query(`INSERT INTO ${q(schema)}.repositories VALUES ('app', 1)`);
      await admin.query(`INSERT INTO ${q(schema)}.blob_links VALUES ('app', $1, 3, 1)`, [layer.digest]);
      const store = await openIn(schema);
      try {
        const { rows } = await admin.query(`SELECT version FROM ${q(schema)}.schema_migrations ORDER BY version`);
        assert.deepEqual(rows.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
        assert.deepEqual(await store.getBlobLink('app', layer.digest), { ...layer, touchedAt: 1 }, 'a link of version 1 reads its creation as its receipt');
        await store.unlinkBlob('app', layer.digest);
        assert.equal(await store.markBlobForDeletion(layer.digest, 'gc', { now: Date.now(), graceMs: 60_000, leaseMs: 1000 }), false, 'just unlinked');
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('upgrades a version 2 schema with its data to the manifest lifecycle (version 3)', async () => {
      const schema = freshSchema();
      await admin.query(`CREATE SCHEMA ${q(schema)}`);
      await admin.query(`CREATE TABLE ${q(schema)}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
        await admin.query(migration.sql(q(schema)));
        await admin.query(`INSERT INTO ${q(schema)}.schema_migrations (version) VALUES ($1)`, [migration.version]);
      }
      const layer = blob('old layer', 5);
      const old = manifest('app', 'old', { blobs: [layer] });
      const kept = manifest('app', 'kept');
      await admin.query(`INSERT INTO ${q(schema)}.repositories VALUES ('app', 1)`);
      await admin.query(`INSERT INTO ${q(schema)}.blob_links VALUES ('app', $1, 5, 1)`, [layer.digest]);
      await admin.query(`INSERT INTO ${q(schema)}.blobs (digest, last_used) VALUES ($1, 1)`, [layer.digest]);
      for (const m of [old, kept]) {
        await admin.query(
          `INSERT INTO ${q(schema)}.manifests (repository, digest, media_type, bytes, size, created_at) VALUES ('app', $1, $2, $3, $4, $5)`,
          [m.digest, m.mediaType, m.bytes, m.bytes.byteLength, NOW],
        );
      }
      await admin.query(`INSERT INTO ${q(schema)}.manifest_refs VALUES ('app', $1, 'blob', $2)`, [old.digest, layer.digest]);
      await admin.query(`INSERT INTO ${q(schema)}.tags VALUES ('app', 'v1', $1, $2), ('app', 'v2', $3, $2)`, [old.digest, NOW + 1, kept.digest]);
      const store = await openIn(schema);
      try {
        const { rows } = await admin.query(`SELECT version FROM ${q(schema)}.schema_migrations ORDER BY version`);
        assert.deepEqual(rows.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
        assert.ok(SCHEMA_VERSION >= 3);
        const usedAt = async (m: typeof old) =>
          (await admin.query(`SELECT used_at FROM ${q(schema)}.manifests WHERE digest = $1`, [m.digest])).rows[0]?.used_at as string | null;
        assert.equal(await usedAt(old), null, 'old rows are not rewritten: used_at reads as created_at');
        assert.deepEqual(Buffer.from((await store.getManifest('app', old.digest))!.bytes), Buffer.from(old.bytes));
        assert.deepEqual(await store.listTagRecords('app', { limit: 10 }), [
          { tag: 'v1', digest: old.digest, updatedAt: NOW + 1 },
          { tag: 'v2', digest: kept.digest, updatedAt: NOW + 1 },
        ]);
        assert.equal(await store.deleteManifestIf('app', kept.digest, { usedBefore: NOW, dryRun: true }), false, 'created at NOW');
        assert.equal(await store.deleteManifestIf('app', kept.digest, { usedBefore: NOW + 1, dryRun: true }), true);
        await mustPut(store, { ...kept, now: NOW + 50 }); // a put again stamps the old row
        assert.equal(Number(await usedAt(kept)), NOW + 50);
        assert.equal(await store.deleteManifestIf('app', kept.digest, { usedBefore: NOW + 50 }), false);
        assert.equal(await store.deleteManifestIf('app', old.digest, { untagged: true }), false, 'tagged v1');
        await mustPut(store, { ...kept, tags: ['v1'], now: NOW + 60 }); // v1 moves off the old manifest
        assert.equal(Number(await usedAt(old)), NOW + 60);
        assert.deepEqual((await store.putManifest({ ...old, tags: ['v1'], immutableTags: ['v1'], now: NOW + 70 })), { ok: false, missing: [], tagTaken: { tag: 'v1', digest: kept.digest } });
        assert.equal(await store.deleteManifestIf('app', old.digest, { untagged: true, usedBefore: NOW + 61 }), true);
        assert.deepEqual(await store.listReclaimableBlobLinks('app', 2, { limit: 10 }), [{ ...layer, touchedAt: 1 }], 'the layer only the old manifest used is reclaimable');
        assert.equal(await store.unlinkBlobIf('app', layer.digest, { touchedBefore: 2, now: Date.now() }), true);
        assert.equal(await store.markBlobForDeletion(layer.digest, 'gc', { now: Date.now(), graceMs: 60_000, leaseMs: 1000 }), true, 'unused since its receipt');
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('a role without CREATE privileges opens a migrated schema and works', async () => {
      const schema = freshSchema();
      await (await openIn(schema)).close();
      const role = `rw_${process.pid}`;
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      try {
        await admin.query(`GRANT USAGE ON SCHEMA ${q(schema)} TO ${role}`);
        await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${q(schema)} TO ${role}`);
        const store = await openIn(schema, { user: role });
        try {
          await mustPut(store, manifest('app', 'm', { tags: ['v1'] }));
          assert.deepEqual(await store.listTags('app', { limit: 10 }), ['v1']);
        } finally {
          await store.close();
        }
      } finally {
        await dropSchema(schema);
        await admin.query(`DROP OWNED BY ${role}`);
        await admin.query(`DROP ROLE ${role}`);
      }
    });

    it('stores a manifest naming one blob twice (repeated layers) with one reference row per target', async () => {
      const schema = freshSchema();
      const store = await openIn(schema);
      try {
        const layer = blob('empty', 32);
        const config = blob('config', 7);
        await store.linkBlob('app', layer, NOW);
        await store.linkBlob('app', config, NOW);
        const m = manifest('app', 'dup', { tags: ['v'], blobs: [config, layer, layer] });
        await mustPut(store, m);
        await mustPut(store, m);
        const { rows } = await admin.query(`SELECT kind, target_digest FROM ${q(schema)}.manifest_refs ORDER BY target_digest`);
        assert.deepEqual(rows, [config, layer].map((b) => ({ kind: 'blob', target_digest: b.digest })).sort((x, y) => (x.target_digest < y.target_digest ? -1 : 1)));
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    describe('100,000 tags in one repository', () => {
      const schema = freshSchema();
      let store: PostgresMetadataStore;
      const bytes = Buffer.from('{"schemaVersion":2}');
      const digest = digestOf(bytes);
      before(async () => {
        store = await openIn(schema);
        await mustPut(store, { repository: 'big', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes, blobs: [], manifests: [], now: 1 });
        await store.linkBlob('big', blob('x'), NOW);
        await admin.query(
          `INSERT INTO ${q(schema)}.tags (repository, tag, digest, updated_at)
           SELECT 'big', 't' || lpad(i::text, 6, '0'), $1, 1 FROM generate_series(0, 99999) AS i`,
          [digest],
        );
        await admin.query(`ANALYZE ${q(schema)}.tags`);
      });
      after(async () => {
        await store.close();
        await dropSchema(schema);
      });

      it('answers a deep page correctly and fast', async () => {
        const expectedAfter = (n: number, count: number) => Array.from({ length: count }, (_, i) => `t${String(n + 1 + i).padStart(6, '0')}`);
        const started = performance.now();
        const deep = await store.listTags('big', { last: 't099950', limit: 100 });
        const elapsed = performance.now() - started;
        assert.deepEqual(deep, expectedAfter(99_950, 49));
        assert.deepEqual(await store.listTags('big', { last: 't049999', limit: 100 }), expectedAfter(49_999, 100));
        assert.deepEqual(await store.listTags('big', { limit: 3 }), ['t000000', 't000001', 't000002']);
        assert.deepEqual(await store.listTags('big', { last: 't099999', limit: 100 }), []);
        assert.ok(elapsed < 1000, `deep page took ${elapsed} ms`);
        assert.equal((await store.stats()).tags, 100_000);
      });

      it('plans the tag pages on an index, without Seq Scan or Sort, as custom and generic plans', async () => {
        const sql = statements(q(schema));
        for (const [name, params] of [['listTagsAfter', ['big', 't099950', 100]], ['listTags', ['big', 100]]] as const) {
          for (const plan of await explain(sql[name], params)) {
            assert.match(plan, /Index (Only )?Scan using tags_pkey/, `${name}: ${plan}`);
            assert.doesNotMatch(plan, /Seq Scan|Sort/, `${name}: ${plan}`);
          }
        }
      });

      it('plans every listing and lookup on an index (seq and bitmap scans disabled: index shape only)', async () => {
        const sql = statements(q(schema));
        const cases: [StatementName, unknown[]][] = [
          ['listRepositories', [100]],
          ['listRepositoriesAfter', ['a', 100]],
          ['listBlobLinks', ['r', 100]],
          ['listBlobLinksAfter', ['r', 'd', 100]],
          ['lockBlobLinks', ['r', ['d', 'e']]],
          ['lockManifests', ['r', ['d', 'e']]],
          ['listManifests', ['r', 100]],
          ['listManifestsAfter', ['r', 'd', 100]],
          ['listReferrers', ['r', 's']],
          ['listReferrersOfType', ['r', 's', 't']],
          ['listIdleUploads', [1, 10]],
          ['blobInUse', ['d']],
          ['liveReservation', ['d', 1]],
          ['pruneReservations', [1]],
          ['listTagRecords', ['r', 100]],
          ['listTagRecordsAfter', ['r', 't', 100]],
          ['manifestTagged', ['r', 'd']],
          ['manifestReferenced', ['r', 'd']],
          ['listReclaimableBlobLinks', ['r', '', 1, 100]],
          ['lockBlobLink', ['r', 'd']],
          ['blobReferencedIn', ['r', 'd']],
        ];
        for (const [name, params] of cases) {
          for (const plan of await explain(sql[name], params, ['SET LOCAL enable_seqscan = off', 'SET LOCAL enable_bitmapscan = off'])) {
            assert.doesNotMatch(plan, /Seq Scan|Sort/, `${name}: ${plan}`);
          }
        }
        // What the cascade of deleteManifest runs on tags: the (repository, digest) index, not the repository's
        // tags. Custom plan only: here every tag points at one digest, so the generic estimate rightly is "all rows".
        const cascade = `DELETE FROM ${q(schema)}.tags WHERE repository = $1 AND digest = $2`;
        const [custom] = await explain(cascade, ['big', 'sha256:none']);
        assert.match(custom ?? '', /tags_by_digest/, custom);
      });

      /** EXPLAIN of `text` prepared with `params`, once as a custom and once as a generic plan, in a rolled back transaction. */
      async function explain(text: string, params: readonly unknown[], setup: string[] = []): Promise<string[]> {
        const client = await admin.connect();
        try {
          await client.query('BEGIN');
          for (const s of setup) await client.query(s);
          await client.query(`PREPARE plan_me AS ${text}`);
          const args = params.map((p) => (typeof p === 'number' ? String(p) : Array.isArray(p) ? `ARRAY[${p.map((x) => pg.escapeLiteral(String(x))).join(',')}]` : pg.escapeLiteral(String(p))));
          const plans: string[] = [];
          for (const mode of ['force_custom_plan', 'force_generic_plan']) {
            await client.query(`SET LOCAL plan_cache_mode = ${mode}`);
            const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE plan_me(${args.join(', ')})`);
            plans.push(`[${mode}] ${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
          }
          return plans;
        } finally {
          await client.query('ROLLBACK').catch(() => {});
          await client.query('DEALLOCATE ALL').catch(() => {});
          client.release();
        }
      }
    });

    describe('concurrency', () => {
      const schema = freshSchema();
      let a: PostgresMetadataStore;
      let b: PostgresMetadataStore;
      before(async () => {
        [a, b] = await Promise.all([openIn(schema), openIn(schema)]);
      });
      after(async () => {
        await Promise.all([a.close(), b.close()]);
        await dropSchema(schema);
      });

      it('concurrent puts of one tag from two pools leave it on one of the manifests, consistently', async () => {
        const puts = Array.from({ length: 60 }, (_, i) => manifest('race', `m${i}`, { tags: ['latest'] }));
        const results = await Promise.all(puts.map((m, i) => (i % 2 === 0 ? a : b).putManifest(m)));
        assert.ok(results.every((r) => r.ok));
        const tagged = await a.getTag('race', 'latest');
        assert.ok(tagged !== undefined && puts.some((m) => m.digest === tagged));
        assert.equal(await b.getTag('race', 'latest'), tagged);
        assert.ok(await b.getManifest('race', tagged));
        assert.deepEqual(await a.listTags('race', { limit: 10 }), ['latest']);
        assert.equal((await a.listManifests('race', { limit: 100 })).length, 60);
      });

      it('concurrent puts of one tag set, given in different orders, from two pools: no deadlock, every tag on the same manifest', async () => {
        const orders = [['a', 'b', 'c'], ['c', 'b', 'a'], ['b', 'c', 'a']];
        const puts = Array.from({ length: 30 }, (_, i) => manifest('multi', `m${i}`, { tags: orders[i % 3]! }));
        const results = await Promise.all(puts.map((m, i) => (i % 2 === 0 ? a : b).putManifest(m)));
        assert.ok(results.every((r) => r.ok));
        const tagged = await b.getTag('multi', 'a');
        assert.ok(tagged !== undefined && puts.some((m) => m.digest === tagged));
        assert.equal(await a.getTag('multi', 'b'), tagged, 'each put sets its tags together');
        assert.equal(await a.getTag('multi', 'c'), tagged);
      });

      it('a put racing a delete of the same stored manifest never fails and leaves no dangling tag', async () => {
        for (let round = 0; round < 40; round++) {
          const m = manifest('churn', `m${round % 3}`);
          await mustPut(a, m);
          const [put, deleted] = await Promise.all([a.putManifest({ ...m, tags: [`t${round}`] }), b.deleteManifest('churn', m.digest)]);
          assert.deepEqual(put, { ok: true });
          assert.equal(deleted, true);
          const tag = await a.getTag('churn', `t${round}`);
          const stored = await a.getManifest('churn', m.digest);
          assert.ok(tag === undefined ? stored === undefined : tag === m.digest && stored !== undefined, `round ${round}`);
        }
      });

      it('a delete cannot remove a stored manifest between its re-put and the tag write', async () => {
        const m = manifest('pause', 'm');
        const other = manifest('pause', 'other', { tags: ['v'] });
        await mustPut(a, m);
        await mustPut(a, other);
        const raw = await admin.connect();
        let deleting: Promise<boolean> | undefined;
        try {
          await raw.query('BEGIN');
          await raw.query(`SELECT 1 FROM ${q(schema)}.tags WHERE repository = 'pause' AND tag = 'v' FOR UPDATE`);
          const put = a.putManifest({ ...m, tags: ['v'] }); // stops at the tag write, holding the manifest row
          await waitForLockWaiter();
          deleting = b.deleteManifest('pause', m.digest);
          await Promise.race([deleting, waitForLockWaiter(2)]); // it must wait for the put
          await raw.query('COMMIT');
          assert.deepEqual(await put, { ok: true });
        } finally {
          raw.release();
        }
        assert.equal(await deleting, true);
        assert.equal(await a.getTag('pause', 'v'), undefined, 'the tag went with the manifest');
        assert.equal(await a.getManifest('pause', m.digest), undefined);
      });

      it('concurrent immutable puts of one new tag from two pools: exactly one takes it, the others write nothing', async () => {
        const puts = Array.from({ length: 20 }, (_, i) => manifest('frozen', `m${i}`, { tags: ['v1'], immutableTags: ['v1'] }));
        const results = await Promise.all(puts.map((m, i) => (i % 2 === 0 ? a : b).putManifest(m)));
        const winners = puts.filter((_, i) => results[i]!.ok);
        assert.equal(winners.length, 1);
        const tagged = await a.getTag('frozen', 'v1');
        assert.equal(tagged, winners[0]!.digest);
        for (const r of results) if (!r.ok) assert.deepEqual(r, { ok: false, missing: [], tagTaken: { tag: 'v1', digest: tagged } });
        assert.deepEqual(await a.listManifests('frozen', { limit: 100 }), [tagged]);
      });

      it('deleteManifestIf holds the manifest row: a re-put waiting for it stores the manifest anew', async () => {
        const m = manifest('hold', 'm');
        await mustPut(a, m);
        const raw = await admin.connect();
        try {
          await raw.query('BEGIN');
          await raw.query(`LOCK TABLE ${q(schema)}.manifest_refs IN ACCESS EXCLUSIVE MODE`); // the delete's cascade waits here
          const deleting = b.deleteManifestIf('hold', m.digest, { untagged: true });
          await waitForLockWaiter();
          const put = a.putManifest({ ...m, tags: ['v'], now: NOW + 5 });
          await waitForLockWaiter(2); // the put waits for the locked manifest row
          await raw.query('COMMIT');
          assert.equal(await deleting, true);
          assert.deepEqual(await put, { ok: true });
        } finally {
          raw.release();
        }
        assert.equal(await a.getTag('hold', 'v'), m.digest);
        assert.ok(await a.getManifest('hold', m.digest), 'the push is not undone');
      });

      it('a reservation and a deletion mark of one digest from two pools never both succeed', async () => {
        const now = Date.now();
        const digests = Array.from({ length: 100 }, (_, i) => blob(`gc${i}`).digest);
        for (const d of digests) {
          assert.ok(await a.reserveBlob(d, 'old upload', now - 3600_000, 1000)); // seen long ago: the row exists
          await a.releaseBlob(d, 'old upload');
        }
        const outcomes = await Promise.all(
          digests.map(async (d, i) => {
            const reserve = () => a.reserveBlob(d, 'upload', now, 3600_000);
            const markIt = () => b.markBlobForDeletion(d, 'gc', { now, graceMs: 60_000, leaseMs: 60_000 });
            const [reserved, marked] = i % 2 === 0 ? await Promise.all([reserve(), markIt()]) : (await Promise.all([markIt(), reserve()])).reverse();
            return { reserved, marked };
          }),
        );
        for (const [i, { reserved, marked }] of outcomes.entries()) assert.ok(reserved !== marked, `digest ${i}: reserved ${reserved}, marked ${marked}`);
      });

      it('an unlink committed while the put waits on the checked row makes the put fail, writing nothing', async () => {
        const layer = blob('contended', 5);
        await a.linkBlob('lock', layer, NOW);
        const raw = await admin.connect();
        try {
          await raw.query('BEGIN');
          await raw.query(`DELETE FROM ${q(schema)}.blob_links WHERE repository = 'lock' AND digest = $1`, [layer.digest]);
          const put = a.putManifest(manifest('lock', 'm', { tags: ['v'], blobs: [layer] }));
          await waitForLockWaiter();
          await raw.query('COMMIT');
          assert.deepEqual(await put, { ok: false, missing: [{ digest: layer.digest, kind: 'blob', expectedSize: 5 }] });
        } finally {
          raw.release();
        }
        assert.equal(await a.getTag('lock', 'v'), undefined);
        assert.deepEqual(await a.listManifests('lock', { limit: 10 }), []);
      });

      it('a link reclaim waits for a put that checked the link, then keeps it: the put committed a reference', async () => {
        const layer = blob('reclaim', 5);
        await a.linkBlob('reclaim', layer, NOW);
        const m = manifest('reclaim', 'm', { blobs: [layer] });
        const raw = await admin.connect();
        try {
          // A put in flight: its reference check holds the link FOR SHARE, its rows are written, not committed.
          await raw.query('BEGIN');
          await raw.query(`SELECT 1 FROM ${q(schema)}.blob_links WHERE repository = 'reclaim' AND digest = $1 FOR SHARE`, [layer.digest]);
          await raw.query(`INSERT INTO ${q(schema)}.manifests (repository, digest, media_type, bytes, size, created_at) VALUES ('reclaim', $1, $2, $3, $4, $5)`, [
            m.digest,
            m.mediaType,
            m.bytes,
            m.bytes.byteLength,
            NOW,
          ]);
          await raw.query(`INSERT INTO ${q(schema)}.manifest_refs VALUES ('reclaim', $1, 'blob', $2)`, [m.digest, layer.digest]);
          const reclaim = a.unlinkBlobIf('reclaim', layer.digest, { touchedBefore: NOW + 1, now: Date.now() });
          await waitForLockWaiter();
          await raw.query('COMMIT');
          assert.equal(await reclaim, false);
        } finally {
          raw.release();
        }
        assert.deepEqual(await a.getBlobLink('reclaim', layer.digest), { ...layer, touchedAt: NOW });
      });

      it('an abort cancels a blocked read or transaction at once, with no effect; the store keeps working', async () => {
        const raw = await admin.connect();
        try {
          await raw.query('BEGIN');
          await raw.query(`LOCK TABLE ${q(schema)}.tags IN ACCESS EXCLUSIVE MODE`);
          for (const call of [
            (s: AbortSignal) => a.listTags('abort', { limit: 10 }, s),
            (s: AbortSignal) => a.putManifest(manifest('abort', 'm', { tags: ['v'] }), s),
          ]) {
            const controller = new AbortController();
            const reason = new Error('client went away');
            const pending = call(controller.signal);
            await waitForLockWaiter();
            const started = performance.now();
            controller.abort(reason);
            await assert.rejects(pending, (err) => err === reason);
            assert.ok(performance.now() - started < 1000);
            for (let i = 0; i < 200; i++) {
              const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_locks WHERE NOT granted');
              if (Number(rows[0]?.n) === 0) break; // the cancelled statement no longer waits
              await sleep(10);
            }
          }
        } finally {
          await raw.query('ROLLBACK');
          raw.release();
        }
        assert.equal(await a.repositoryExists('abort'), false);
        assert.deepEqual(await a.listTags('abort', { limit: 10 }), []);
        const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_locks WHERE NOT granted');
        assert.equal(Number(rows[0]?.n), 0, 'no cancelled statement left waiting');
      });
    });

    it('checkHealth fails within its timeout when the server stops answering, and when the database is gone', async () => {
      const relays = new Set<Socket>();
      let blackhole = false;
      const proxy = createServer((socket) => {
        relays.add(socket);
        if (blackhole) return;
        const upstream = tcpConnect(server.config.port, '127.0.0.1');
        relays.add(upstream);
        socket.on('data', (chunk) => blackhole || upstream.write(chunk));
        upstream.on('data', (chunk) => socket.write(chunk));
        const end = () => (socket.destroy(), upstream.destroy());
        socket.on('close', end).on('error', end);
        upstream.on('close', end).on('error', end);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const port = (proxy.address() as { port: number }).port;
      await admin.query('CREATE DATABASE health_db');
      const idleErrors: Error[] = [];
      const store = await openPostgresMetadataStore({
        connectionString: `postgresql://postgres@127.0.0.1:${port}/health_db`,
        healthTimeoutMs: 300,
        onIdleError: (err) => idleErrors.push(err),
      });
      try {
        await store.checkHealth();
        blackhole = true;
        const started = performance.now();
        await assert.rejects(store.checkHealth(), /unhealthy: no answer within 300 ms/);
        assert.ok(performance.now() - started < 1500);
        blackhole = false;
        for (const s of relays) s.destroy();
        await store.checkHealth(); // reconnects
        await admin.query('DROP DATABASE health_db WITH (FORCE)');
        await assert.rejects(store.checkHealth(), /unhealthy/);
      } finally {
        await store.close();
        await store.close();
        proxy.close();
        for (const s of relays) s.destroy();
        await admin.query('DROP DATABASE IF EXISTS health_db WITH (FORCE)');
      }
      await assert.rejects(store.checkHealth(), /closed/);
    });
  });
}

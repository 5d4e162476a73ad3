/**
 * Schema, migrations and statement texts of the PostgreSQL MetadataStore.
 * Every name is qualified with the store's schema (a quoted identifier), so
 * nothing depends on search_path.
 *
 * Schema (version 1), the logical schema of SQLite (../sqlite/schema.ts). Every
 * text key is COLLATE "C", i.e. byte order, like SQLite's BINARY collation and
 * the memory store, whatever the database's default collation:
 *
 *   repositories  name PK ─────────────┬────────────────────────────┐
 *                 created_at           │                            │
 *   blob_links    (repository, digest) PK ── repository ─┘          │
 *                 size, created_at       ix (digest, repository)    │
 *   manifests     (repository, digest) PK ── repository ────────────┘
 *                 media_type, bytes (bytea), size, subject, artifact_type,
 *                 annotations (json: text kept as pushed, key order too), created_at
 *                 ix (repository, subject, digest) WHERE subject IS NOT NULL
 *        ▲  ▲
 *        │  └── tags          (repository, tag) PK, digest, updated_at
 *        │                    ix (repository, digest); cascade on manifest delete
 *        └───── manifest_refs (repository, manifest_digest, kind, target_digest) PK
 *                             ix (target_digest, repository); cascade on manifest delete
 *   uploads       id PK, repository, offset, created_at, updated_at
 *                 ix (updated_at, id)
 *   schema_migrations  version PK, applied_at: one row per applied migration
 *
 * Version 2, the blob lifecycle of garbage collection (types.ts BlobLifecycle), as in SQLite:
 *
 *   blobs              digest PK, last_used, deleting_by, deleting_until   (the deletion mark: holder, expiry)
 *   blob_reservations  (digest, holder) PK, expires_at
 *                      ix (expires_at)
 *
 * A digest without a `blobs` row was never seen by the lifecycle (e.g. data
 * from version 1): it counts as used when a collector first looks at it.
 *
 * Version 3, the manifest lifecycle of retention (types.ts ManifestLifecycle),
 * as SQLite's `manifests.used_at` (SQLite schema version 2):
 *
 *   manifests.used_at  bigint, nullable: the last use (put, tag moved off it,
 *                      deleteTag); NULL (rows of earlier versions) reads as created_at
 *
 * Version 5, the event outbox (outbox.ts), as SQLite's version 4.
 * Version 6, the audit log (audit.ts), as SQLite's version 5.
 * Version 7, leases (leases.ts), as SQLite's version 6.
 * Version 9, the mirror's pull log (pulls.ts), as SQLite's version 8.
 *
 * Version 4, blob links as receipts (types.ts BlobLink), as SQLite's version 3:
 *
 *   blob_links.touched_at  bigint, nullable: the last link (upload, mount) or touch
 *                          (HEAD, GET); NULL (rows of earlier versions) reads as created_at
 *
 * Version 8, resumable upload hashes (services/uploads.ts), as SQLite's version 7:
 *
 *   uploads.hash_state  bytea, nullable: the sha256 state after "offset" bytes; NULL: none saved
 *
 * Adding a nullable column without default rewrites nothing: the upgrade is instant.
 *
 * Timestamps are bigint milliseconds, sizes and offsets bigint: the store reads
 * int8 as a JS number (all stay below 2^53); columns are aliased to the port's
 * field names. manifest_refs targets carry no foreign key, as in SQLite.
 */
import { OUTBOX_MIGRATION, outboxStatements } from './outbox.js';
import { AUDIT_MIGRATION, auditStatements } from './audit.js';
import { LEASES_MIGRATION, leaseStatements } from './leases.js';
import { PULLS_MIGRATION, pullStatements } from './pulls.js';
import { summaryStatements } from './summaries.js';
import { createHash } from 'node:crypto';
import pg from 'pg';

export interface Migration {
  readonly version: number;
  /** The statements, given the quoted schema name. */
  readonly sql: (s: string) => string;
}

/** Applied in order, each in the migration transaction; append only, never edit a released entry. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: (s) => `
      CREATE TABLE ${s}.repositories (
        name text COLLATE "C" NOT NULL PRIMARY KEY,
        created_at bigint NOT NULL
      );

      CREATE TABLE ${s}.blob_links (
        repository text COLLATE "C" NOT NULL REFERENCES ${s}.repositories (name),
        digest text COLLATE "C" NOT NULL,
        size bigint NOT NULL CHECK (size >= 0),
        created_at bigint NOT NULL,
        PRIMARY KEY (repository, digest)
      );
      CREATE INDEX blob_links_by_digest ON ${s}.blob_links (digest, repository);

      CREATE TABLE ${s}.manifests (
        repository text COLLATE "C" NOT NULL REFERENCES ${s}.repositories (name),
        digest text COLLATE "C" NOT NULL,
        media_type text NOT NULL,
        bytes bytea NOT NULL,
        size bigint NOT NULL CHECK (size >= 0),
        subject text COLLATE "C",
        artifact_type text COLLATE "C",
        annotations json,
        created_at bigint NOT NULL,
        PRIMARY KEY (repository, digest)
      );
      CREATE INDEX manifests_by_subject ON ${s}.manifests (repository, subject, digest) WHERE subject IS NOT NULL;

      CREATE TABLE ${s}.manifest_refs (
        repository text COLLATE "C" NOT NULL,
        manifest_digest text COLLATE "C" NOT NULL,
        kind text NOT NULL CHECK (kind IN ('blob', 'manifest')),
        target_digest text COLLATE "C" NOT NULL,
        PRIMARY KEY (repository, manifest_digest, kind, target_digest),
        FOREIGN KEY (repository, manifest_digest) REFERENCES ${s}.manifests (repository, digest) ON DELETE CASCADE
      );
      CREATE INDEX manifest_refs_by_target ON ${s}.manifest_refs (target_digest, repository);

      CREATE TABLE ${s}.tags (
        repository text COLLATE "C" NOT NULL,
        tag text COLLATE "C" NOT NULL,
        digest text COLLATE "C" NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (repository, tag),
        FOREIGN KEY (repository, digest) REFERENCES ${s}.manifests (repository, digest) ON DELETE CASCADE
      );
      CREATE INDEX tags_by_digest ON ${s}.tags (repository, digest);

      CREATE TABLE ${s}.uploads (
        id text COLLATE "C" NOT NULL PRIMARY KEY,
        repository text COLLATE "C" NOT NULL,
        "offset" bigint NOT NULL CHECK ("offset" >= 0),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE INDEX uploads_by_idle ON ${s}.uploads (updated_at, id);
    `,
  },
  {
    version: 2,
    sql: (s) => `
      CREATE TABLE ${s}.blobs (
        digest text COLLATE "C" NOT NULL PRIMARY KEY,
        last_used bigint NOT NULL,
        deleting_by text COLLATE "C",
        deleting_until bigint,
        CHECK ((deleting_by IS NULL) = (deleting_until IS NULL))
      );

      CREATE TABLE ${s}.blob_reservations (
        digest text COLLATE "C" NOT NULL,
        holder text COLLATE "C" NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (digest, holder)
      );
      CREATE INDEX blob_reservations_by_expiry ON ${s}.blob_reservations (expires_at);
    `,
  },
  {
    version: 3,
    sql: (s) => `
      ALTER TABLE ${s}.manifests ADD COLUMN used_at bigint;
    `,
  },
  {
    version: 4,
    sql: (s) => `
      ALTER TABLE ${s}.blob_links ADD COLUMN touched_at bigint;
    `,
  },
  {
    // The event outbox (outbox.ts).
    version: 5,
    sql: OUTBOX_MIGRATION,
  },
  {
    // The audit log (audit.ts).
    version: 6,
    sql: AUDIT_MIGRATION,
  },
  {
    // Leases (leases.ts).
    version: 7,
    sql: LEASES_MIGRATION,
  },
  {
    // Resumable upload hashes: the sha256 state saved with the session.
    version: 8,
    sql: (s) => `
      ALTER TABLE ${s}.uploads ADD COLUMN hash_state bytea;
    `,
  },
  {
    // The mirror's pull log (pulls.ts).
    version: 9,
    sql: PULLS_MIGRATION,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** Statements of the migration transaction (run under the advisory lock). */
export const MIGRATE_SQL = {
  lock: 'SELECT pg_advisory_xact_lock($1::bigint)',
  schemaExists: 'SELECT 1 FROM pg_namespace WHERE nspname = $1',
  createSchema: (s: string) => `CREATE SCHEMA ${s}`,
  versionsExist: 'SELECT to_regclass($1) IS NOT NULL AS found',
  createVersions: (s: string) => `CREATE TABLE ${s}.schema_migrations (
      version integer NOT NULL PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
  currentVersion: (s: string) => `SELECT coalesce(max(version), 0) AS version FROM ${s}.schema_migrations`,
  recordVersion: (s: string) => `INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`,
} as const;

/**
 * Brings `schema` to SCHEMA_VERSION in one transaction under a per-schema
 * advisory lock: replicas opening at once migrate once, the others wait and
 * find it done. Creates only what is missing, so a role without CREATE
 * privileges can open a schema migrated by another. Throws, changing
 * nothing, when the schema was migrated by a newer version.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  const client = await pool.connect();
  let failed = true;
  try {
    await client.query('BEGIN');
    try {
      // The lock is taken before anything is read: each later statement sees what a previous holder committed.
      await client.query(MIGRATE_SQL.lock, [migrationLockKey(schema)]);
      if ((await client.query(MIGRATE_SQL.schemaExists, [schema])).rowCount === 0) await client.query(MIGRATE_SQL.createSchema(s));
      const versions = await client.query<{ found: boolean }>(MIGRATE_SQL.versionsExist, [`${s}.schema_migrations`]);
      if (versions.rows[0]?.found !== true) await client.query(MIGRATE_SQL.createVersions(s));
      const current = Number((await client.query<{ version: number }>(MIGRATE_SQL.currentVersion(s))).rows[0]?.version ?? 0);
      if (current > SCHEMA_VERSION) {
        throw new Error(`metadata schema ${schema} is at version ${current}, newer than supported version ${SCHEMA_VERSION}`);
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query(migration.sql(s));
        await client.query(MIGRATE_SQL.recordVersion(s), [migration.version]);
      }
      await client.query('COMMIT');
      failed = false;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    client.release(failed || undefined);
  }
}

/** A 64-bit advisory lock key per schema name (advisory locks are per database already). */
export function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`ferro-oci-server migrate ${schema}`).digest().readBigInt64BE(0).toString();
}

/**
 * Every statement of the store, given the quoted schema name; each runs as a
 * named prepared statement (parsed once per connection). Listings are keyset
 * pages on an index: `WHERE key > $n ORDER BY key LIMIT $m`.
 */
export function statements(s: string) {
  return {
    ...outboxStatements(s),
    ...auditStatements(s),
    ...leaseStatements(s),
    ...pullStatements(s),
    ...summaryStatements(s),
    health: 'SELECT 1 AS ok',
    repositoryExists: `SELECT 1 AS found FROM ${s}.repositories WHERE name = $1`,
    listRepositories: `SELECT name FROM ${s}.repositories ORDER BY name LIMIT $1`,
    listRepositoriesAfter: `SELECT name FROM ${s}.repositories WHERE name > $1 ORDER BY name LIMIT $2`,

    // One statement with its repository row (the foreign-key check runs at statement end and sees it)
    // and the digest's last_used (BlobLifecycle).
    linkBlob: `WITH repo AS (
                 INSERT INTO ${s}.repositories (name, created_at) VALUES ($1, $4) ON CONFLICT (name) DO NOTHING
               ), touch AS (
                 INSERT INTO ${s}.blobs (digest, last_used) VALUES ($2, $4)
                 ON CONFLICT (digest) DO UPDATE SET last_used = greatest(${s}.blobs.last_used, excluded.last_used)
               )
               INSERT INTO ${s}.blob_links AS l (repository, digest, size, created_at, touched_at) VALUES ($1, $2, $3, $4, $4)
               ON CONFLICT (repository, digest) DO UPDATE SET touched_at = excluded.touched_at
               WHERE coalesce(l.touched_at, l.created_at) < excluded.touched_at`,
    getBlobLink: `SELECT digest, size, coalesce(touched_at, created_at) AS "touchedAt" FROM ${s}.blob_links WHERE repository = $1 AND digest = $2`,
    // Affects one row when the link existed; then stamps last_used with $3.
    unlinkBlob: `WITH gone AS (DELETE FROM ${s}.blob_links WHERE repository = $1 AND digest = $2 RETURNING digest)
                 INSERT INTO ${s}.blobs (digest, last_used) SELECT digest, $3 FROM gone
                 ON CONFLICT (digest) DO UPDATE SET last_used = greatest(${s}.blobs.last_used, excluded.last_used)`,
    listBlobLinks: `SELECT digest, size FROM ${s}.blob_links WHERE repository = $1 ORDER BY digest LIMIT $2`,
    listBlobLinksAfter: `SELECT digest, size FROM ${s}.blob_links WHERE repository = $1 AND digest > $2 ORDER BY digest LIMIT $3`,

    // Reference checks of putManifest: FOR SHARE holds the rows until commit (see manifests.ts, putManifestTx).
    lockBlobLinks: `SELECT digest, size FROM ${s}.blob_links WHERE repository = $1 AND digest = ANY ($2::text[]) FOR SHARE`,
    lockManifests: `SELECT digest, size FROM ${s}.manifests WHERE repository = $1 AND digest = ANY ($2::text[]) FOR SHARE`,
    // With its repository row (as linkBlob). A put again of a stored manifest updates its used_at (the
    // manifest lifecycle), which also locks the row, so that a concurrent deleteManifest waits for this
    // transaction (DO NOTHING would not lock).
    insertManifest: `WITH repo AS (
                       INSERT INTO ${s}.repositories (name, created_at) VALUES ($1, $9) ON CONFLICT (name) DO NOTHING
                     )
                     INSERT INTO ${s}.manifests AS m (repository, digest, media_type, bytes, size, subject, artifact_type, annotations, created_at, used_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (repository, digest) DO UPDATE SET used_at = greatest(coalesce(m.used_at, m.created_at), excluded.used_at)`,
    insertRefs: `INSERT INTO ${s}.manifest_refs (repository, manifest_digest, kind, target_digest)
                 SELECT $1, $2, r.kind, r.target FROM unnest($3::text[], $4::text[]) AS r (kind, target)
                 ON CONFLICT DO NOTHING`,
    getManifest: `SELECT media_type AS "mediaType", bytes, size, subject, artifact_type AS "artifactType", annotations,
                         created_at AS "createdAt" FROM ${s}.manifests WHERE repository = $1 AND digest = $2`,
    listManifests: `SELECT digest FROM ${s}.manifests WHERE repository = $1 ORDER BY digest LIMIT $2`,
    listManifestsAfter: `SELECT digest FROM ${s}.manifests WHERE repository = $1 AND digest > $2 ORDER BY digest LIMIT $3`,
    // Tags and manifest_refs go by ON DELETE CASCADE, in the same statement (tags found through tags_by_digest).
    deleteManifest: `DELETE FROM ${s}.manifests WHERE repository = $1 AND digest = $2`,

    getTag: `SELECT digest FROM ${s}.tags WHERE repository = $1 AND tag = $2`,
    deleteTag: `DELETE FROM ${s}.tags WHERE repository = $1 AND tag = $2`,
    listTags: `SELECT tag FROM ${s}.tags WHERE repository = $1 ORDER BY tag LIMIT $2`,
    listTagsAfter: `SELECT tag FROM ${s}.tags WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3`,

    listReferrers: `SELECT digest, media_type AS "mediaType", size, artifact_type AS "artifactType", annotations FROM ${s}.manifests
                    WHERE repository = $1 AND subject = $2 ORDER BY digest`,
    listReferrersOfType: `SELECT digest, media_type AS "mediaType", size, artifact_type AS "artifactType", annotations FROM ${s}.manifests
                          WHERE repository = $1 AND subject = $2 AND artifact_type = $3 ORDER BY digest`,

    createUpload: `INSERT INTO ${s}.uploads (id, repository, "offset", created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
    getUpload: `SELECT id, repository, "offset", created_at AS "createdAt", updated_at AS "updatedAt", hash_state AS "hashState" FROM ${s}.uploads WHERE id = $1`,
    updateUpload: `UPDATE ${s}.uploads SET "offset" = $2, updated_at = $3, hash_state = $4 WHERE id = $1`,
    deleteUpload: `DELETE FROM ${s}.uploads WHERE id = $1`,
    countUploads: `SELECT count(*) AS n FROM ${s}.uploads`,
    listIdleUploads: `SELECT id, repository, "offset", created_at AS "createdAt", updated_at AS "updatedAt" FROM ${s}.uploads
                      WHERE updated_at < $1 ORDER BY updated_at, id LIMIT $2`,
    stats: `SELECT (SELECT count(*) FROM ${s}.repositories) AS repositories,
                   (SELECT count(*) FROM ${s}.manifests) AS manifests,
                   (SELECT count(*) FROM ${s}.tags) AS tags,
                   (SELECT count(*) FROM ${s}.uploads) AS uploads,
                   count(*) AS blobs, coalesce(sum(size), 0)::bigint AS "blobBytes"
            FROM (SELECT max(size) AS size FROM ${s}.blob_links GROUP BY digest) AS b`,

    // Blob lifecycle (version 2, lifecycle.ts). A transaction first ensures and locks the digest's
    // blobs row, so that reservations and marks of one digest are serialized across replicas.
    ensureBlob: `INSERT INTO ${s}.blobs (digest, last_used) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING`,
    lockBlob: `SELECT last_used, deleting_by, deleting_until FROM ${s}.blobs WHERE digest = $1 FOR UPDATE`,
    blobInUse: `SELECT EXISTS (SELECT 1 FROM ${s}.blob_links WHERE digest = $1)
                    OR EXISTS (SELECT 1 FROM ${s}.manifest_refs WHERE target_digest = $1) AS found`,
    blobLinked: `SELECT EXISTS (SELECT 1 FROM ${s}.blob_links WHERE digest = $1) AS found`,
    liveReservation: `SELECT EXISTS (SELECT 1 FROM ${s}.blob_reservations WHERE digest = $1 AND expires_at > $2) AS found`,
    // A bounded sweep of expired reservations (any digest) that never waits for another transaction.
    pruneReservations: `DELETE FROM ${s}.blob_reservations WHERE (digest, holder) IN (
                          SELECT digest, holder FROM ${s}.blob_reservations WHERE expires_at <= $1
                          ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED)`,
    // $1 digest, $2 holder, $3 now, $4 expiry: stamps last_used, clears an (expired) mark, records the reservation.
    reserveBlob: `WITH touch AS (
                    UPDATE ${s}.blobs SET last_used = greatest(last_used, $3), deleting_by = NULL, deleting_until = NULL WHERE digest = $1
                  )
                  INSERT INTO ${s}.blob_reservations (digest, holder, expires_at) VALUES ($1, $2, $4)
                  ON CONFLICT (digest, holder) DO UPDATE SET expires_at = excluded.expires_at`,
    releaseBlob: `DELETE FROM ${s}.blob_reservations WHERE digest = $1 AND holder = $2`,
    // $1 digest, $2 holder, $3 expiry: every reservation left has expired.
    setMark: `WITH gone AS (DELETE FROM ${s}.blob_reservations WHERE digest = $1)
              UPDATE ${s}.blobs SET deleting_by = $2, deleting_until = $3 WHERE digest = $1`,
    clearMark: `UPDATE ${s}.blobs SET deleting_by = NULL, deleting_until = NULL WHERE digest = $1`,
    forgetBlob: `DELETE FROM ${s}.blobs WHERE digest = $1`,

    // Manifest lifecycle (version 3, manifests.ts, which explains the locks).
    // $1 repository, $2 digest, $3 time: a use of the manifest (locks its row).
    touchManifest: `UPDATE ${s}.manifests SET used_at = greatest(coalesce(used_at, created_at), $3) WHERE repository = $1 AND digest = $2`,
    // Tag writes of putManifest and deleteTag, conditional on the digest read before (0 rows: it changed).
    insertTag: `INSERT INTO ${s}.tags (repository, tag, digest, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (repository, tag) DO NOTHING`,
    moveTag: `UPDATE ${s}.tags SET digest = $3, updated_at = $4 WHERE repository = $1 AND tag = $2 AND digest = $5`,
    deleteTagAt: `DELETE FROM ${s}.tags WHERE repository = $1 AND tag = $2 AND digest = $3`,
    deleteTagIf: `DELETE FROM ${s}.tags WHERE repository = $1 AND tag = $2 AND digest = $3 AND updated_at = $4`,
    listTagRecords: `SELECT tag, digest, updated_at AS "updatedAt" FROM ${s}.tags WHERE repository = $1 ORDER BY tag LIMIT $2`,
    listTagRecordsAfter: `SELECT tag, digest, updated_at AS "updatedAt" FROM ${s}.tags WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3`,
    manifestUse: `SELECT subject, coalesce(used_at, created_at) AS "usedAt" FROM ${s}.manifests WHERE repository = $1 AND digest = $2`,
    lockManifestUse: `SELECT subject, coalesce(used_at, created_at) AS "usedAt" FROM ${s}.manifests WHERE repository = $1 AND digest = $2 FOR UPDATE`,
    manifestExists: `SELECT EXISTS (SELECT 1 FROM ${s}.manifests WHERE repository = $1 AND digest = $2) AS found`,
    manifestTagged: `SELECT EXISTS (SELECT 1 FROM ${s}.tags WHERE repository = $1 AND digest = $2) AS found`,
    manifestReferenced: `SELECT EXISTS (SELECT 1 FROM ${s}.manifest_refs WHERE target_digest = $2 AND repository = $1 AND kind = 'manifest') AS found`,

    // Blob links as receipts (version 4, lifecycle.ts). $1 repository, $2 digest, $3 time.
    touchBlobLink: `UPDATE ${s}.blob_links SET touched_at = $3 WHERE repository = $1 AND digest = $2 AND coalesce(touched_at, created_at) < $3`,
    blobLinkedIn: `SELECT EXISTS (SELECT 1 FROM ${s}.blob_links WHERE repository = $1 AND digest = $2) AS found`,
    // $1 repository, $2 digests after this ('' for the first page), $3 receipt cut-off, $4 limit.
    listReclaimableBlobLinks: `SELECT l.digest, l.size, coalesce(l.touched_at, l.created_at) AS "touchedAt" FROM ${s}.blob_links AS l
                               WHERE l.repository = $1 AND l.digest > $2 AND coalesce(l.touched_at, l.created_at) < $3
                                 AND NOT EXISTS (SELECT 1 FROM ${s}.manifest_refs AS r WHERE r.target_digest = l.digest AND r.repository = $1 AND r.kind = 'blob')
                               ORDER BY l.digest LIMIT $4`,
    lockBlobLink: `SELECT coalesce(touched_at, created_at) AS "touchedAt" FROM ${s}.blob_links WHERE repository = $1 AND digest = $2 FOR UPDATE`,
    blobReferencedIn: `SELECT EXISTS (SELECT 1 FROM ${s}.manifest_refs WHERE target_digest = $2 AND repository = $1 AND kind = 'blob') AS found`,
  } as const;
}

export type StatementName = keyof ReturnType<typeof statements>;

/** Runs one of the store's statements on the connection at hand, in its current transaction if any (rowCount: rows written). */
export type TxQuery = <R>(name: StatementName, values: unknown[]) => Promise<{ rows: R[]; rowCount: number | null }>;

/** The `found` column of a statement's first row (the EXISTS probes). */
export async function found(query: TxQuery, name: StatementName, values: unknown[]): Promise<boolean> {
  return (await query<{ found: boolean }>(name, values)).rows[0]?.found === true;
}

/** A row type whose optional fields come back as SQL NULL. */
export type Nullable<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> | null };

/** The row without its NULL fields: the port's optional fields are absent, not null. */
type WithoutNulls<T> = { [K in keyof T as null extends T[K] ? never : K]: T[K] } & { [K in keyof T as null extends T[K] ? K : never]?: Exclude<T[K], null> };

export function withoutNulls<T extends object>(row: T): WithoutNulls<T> {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as WithoutNulls<T>;
}

/** A non-negative integer limit. */
export function clampLimit(limit: number): number {
  return limit > 0 ? Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER) : 0;
}

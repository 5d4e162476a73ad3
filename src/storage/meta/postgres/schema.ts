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
import { OUTBOX_MIGRATION } from './outbox.js';
import { AUDIT_MIGRATION } from './audit.js';
import { LEASES_MIGRATION } from './leases.js';
import { PULLS_MIGRATION } from './pulls.js';
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

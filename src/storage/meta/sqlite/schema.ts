/**
 * Schema, migrations and statement texts of the SQLite MetadataStore, and
 * the row shapes its reads map to the port's records.
 *
 * Schema (version 1); every TEXT key compares with the default BINARY
 * collation, i.e. UTF-8 byte order:
 *
 *   repositories  name PK ─────────────┬────────────────────────────┐
 *                 created_at           │                            │
 *   blob_links    (repository, digest) PK ── repository ─┘          │
 *                 size, created_at       ix (digest, repository)    │
 *   manifests     (repository, digest) PK ── repository ────────────┘
 *                 media_type, bytes, size, subject, artifact_type,
 *                 annotations (JSON), created_at
 *                 ix (repository, subject, digest) WHERE subject IS NOT NULL
 *        ▲  ▲
 *        │  └── tags          (repository, tag) PK, digest, updated_at
 *        │                    ix (repository, digest); cascade on manifest delete
 *        └───── manifest_refs (repository, manifest_digest, kind, target_digest) PK
 *                             ix (target_digest, repository); cascade on manifest delete
 *   uploads       id PK, repository, offset, created_at, updated_at
 *                 ix (updated_at, id)
 *
 * Version 2, the blob and manifest lifecycles of garbage collection and
 * retention (types.ts BlobLifecycle, ManifestLifecycle; docs/gc.md):
 *
 *   blobs              digest PK, last_used, deleting_by, deleting_until   (the deletion mark: holder, expiry)
 *   blob_reservations  (digest, holder) PK, expires_at
 *                      ix (expires_at)
 *   manifests          + used_at: the last put or tag moved off / deleted; NULL: created_at
 *
 * A digest without a `blobs` row was never seen by the lifecycle (e.g. data
 * from version 1): it counts as used when a collector first looks at it.
 *
 * Version 3, blob links as receipts (types.ts BlobLink):
 *
 *   blob_links         + touched_at: the last link (upload, mount) or touch (HEAD, GET);
 *                        NULL (links of earlier versions) reads as created_at
 *
 * Version 4, the event outbox (outbox.ts; ../events.ts):
 *
 *   events             seq INTEGER PK AUTOINCREMENT, id UNIQUE, data (the event, JSON), state
 *                      ('pending' | 'dead'), since, next_attempt_at, attempts, delivered_to (JSON),
 *                      last_error, lease_holder, lease_until
 *                      ix (state, next_attempt_at, seq)
 *
 * Version 5, the audit log (audit.ts; ../audit.ts):
 *
 *   audit              seq INTEGER PK AUTOINCREMENT, at (the record's time), actor, repository,
 *                      data (the record, JSON); ix (at), (actor, seq), (repository, seq)
 *
 * Version 6, leases (leases.ts; ../leases.ts):
 *
 *   leases             key PK, holder, expires_at; ix (expires_at)
 *
 * Version 7, resumable upload hashes (services/uploads.ts):
 *
 *   uploads            + hash_state BLOB: the sha256 state after "offset" bytes; NULL: none saved
 *
 * Version 8, the mirror's pull log (pulls.ts; ../pulls.ts):
 *
 *   manifest_pulls     (repository, digest) PK, pulled_at; no foreign key (rows outlive manifests)
 *
 * Version 9, repository summaries (summaries.ts; ../summaries.ts):
 *
 *   tags               + ix tags_by_time (repository, updated_at): a repository's last push in one seek
 *
 * manifest_refs targets (blobs or child manifests) carry no foreign key: a
 * target may be unlinked or deleted later; garbage collection reads them.
 * tags is a rowid table on purpose: on a WITHOUT ROWID tags table SQLite
 * plans `DELETE ... WHERE repository = ? AND digest = ?` (and the cascade)
 * on the primary-key prefix, scanning every tag of the repository.
 */
import type Database from 'better-sqlite3';
import { SUMMARY_MIGRATION } from './summaries.js';
import { AUDIT_MIGRATION } from './audit.js';
import { LEASES_MIGRATION } from './leases.js';
import { PULLS_MIGRATION } from './pulls.js';
import { OUTBOX_MIGRATION } from './outbox.js';
import type { Digest } from '../../../oci/digest.js';
import type { BlobLink, UploadSession } from '../types.js';

export interface Migration {
  /** The user_version the database has after this migration. */
  readonly version: number;
  readonly sql: string;
}

/** Applied in order; append only, never edit a released entry. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE repositories (
        name TEXT NOT NULL PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE blob_links (
        repository TEXT NOT NULL REFERENCES repositories (name),
        digest TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 0),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository, digest)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX blob_links_by_digest ON blob_links (digest, repository);

      CREATE TABLE manifests (
        repository TEXT NOT NULL REFERENCES repositories (name),
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        bytes BLOB NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 0),
        subject TEXT,
        artifact_type TEXT,
        annotations TEXT CHECK (annotations IS NULL OR json_valid(annotations)),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository, digest)
      ) STRICT;
      CREATE INDEX manifests_by_subject ON manifests (repository, subject, digest) WHERE subject IS NOT NULL;

      CREATE TABLE manifest_refs (
        repository TEXT NOT NULL,
        manifest_digest TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
        target_digest TEXT NOT NULL,
        PRIMARY KEY (repository, manifest_digest, kind, target_digest),
        FOREIGN KEY (repository, manifest_digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX manifest_refs_by_target ON manifest_refs (target_digest, repository);

      CREATE TABLE tags (
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository, tag),
        FOREIGN KEY (repository, digest) REFERENCES manifests (repository, digest) ON DELETE CASCADE
      ) STRICT;
      CREATE INDEX tags_by_digest ON tags (repository, digest);

      CREATE TABLE uploads (
        id TEXT NOT NULL PRIMARY KEY,
        repository TEXT NOT NULL,
        "offset" INTEGER NOT NULL CHECK ("offset" >= 0),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX uploads_by_idle ON uploads (updated_at, id);
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE blobs (
        digest TEXT NOT NULL PRIMARY KEY,
        last_used INTEGER NOT NULL,
        deleting_by TEXT,
        deleting_until INTEGER,
        CHECK ((deleting_by IS NULL) = (deleting_until IS NULL))
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE blob_reservations (
        digest TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (digest, holder)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX blob_reservations_by_expiry ON blob_reservations (expires_at);

      ALTER TABLE manifests ADD COLUMN used_at INTEGER;
    `,
  },
  {
    version: 3,
    sql: `
      ALTER TABLE blob_links ADD COLUMN touched_at INTEGER;
    `,
  },
  {
    // The event outbox (outbox.ts).
    version: 4,
    sql: OUTBOX_MIGRATION,
  },
  {
    // The audit log (audit.ts).
    version: 5,
    sql: AUDIT_MIGRATION,
  },
  {
    // Leases (leases.ts).
    version: 6,
    sql: LEASES_MIGRATION,
  },
  {
    // Resumable upload hashes: the sha256 state saved with the session.
    version: 7,
    sql: `
      ALTER TABLE uploads ADD COLUMN hash_state BLOB;
    `,
  },
  {
    // The mirror's pull log (pulls.ts).
    version: 8,
    sql: PULLS_MIGRATION,
  },
  {
    // The last push of a repository, for its summary (summaries.ts).
    version: 9,
    sql: SUMMARY_MIGRATION,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Brings the database to SCHEMA_VERSION in one IMMEDIATE transaction (safe
 * when several processes open the file at once). Throws, changing nothing,
 * when the file was written by a newer schema.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`metadata database schema version ${current} is newer than supported version ${SCHEMA_VERSION}`);
    }
    for (const migration of MIGRATIONS) {
      if (migration.version > current) db.exec(migration.sql);
    }
    if (current !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Every statement the store prepares at open. Listings use keyset pagination on an index. */
export const SQL = {
  health: 'SELECT 1 AS ok',
  repositoryExists: 'SELECT 1 AS found FROM repositories WHERE name = ?',
  insertRepository: 'INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
  listRepositories: 'SELECT name FROM repositories ORDER BY name LIMIT ?',
  listRepositoriesAfter: 'SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?',

  linkBlob: `INSERT INTO blob_links (repository, digest, size, created_at, touched_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (repository, digest) DO UPDATE SET touched_at = max(coalesce(touched_at, created_at), excluded.touched_at)`,
  getBlobLink: 'SELECT digest, size, coalesce(touched_at, created_at) AS touched_at FROM blob_links WHERE repository = ? AND digest = ?',
  unlinkBlob: 'DELETE FROM blob_links WHERE repository = ? AND digest = ?',
  listBlobLinks: 'SELECT digest, size FROM blob_links WHERE repository = ? ORDER BY digest LIMIT ?',
  listBlobLinksAfter: 'SELECT digest, size FROM blob_links WHERE repository = ? AND digest > ? ORDER BY digest LIMIT ?',

  manifestSize: 'SELECT size FROM manifests WHERE repository = ? AND digest = ?',
  insertManifest: `INSERT INTO manifests (repository, digest, media_type, bytes, size, subject, artifact_type, annotations, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO NOTHING`,
  insertRef: `INSERT INTO manifest_refs (repository, manifest_digest, kind, target_digest) VALUES (?, ?, ?, ?)
              ON CONFLICT DO NOTHING`,
  getManifest: `SELECT media_type, bytes, size, subject, artifact_type, annotations, created_at
                FROM manifests WHERE repository = ? AND digest = ?`,
  listManifests: 'SELECT digest FROM manifests WHERE repository = ? ORDER BY digest LIMIT ?',
  listManifestsAfter: 'SELECT digest FROM manifests WHERE repository = ? AND digest > ? ORDER BY digest LIMIT ?',
  deleteTagsOf: 'DELETE FROM tags WHERE repository = ? AND digest = ?',
  deleteRefsOf: 'DELETE FROM manifest_refs WHERE repository = ? AND manifest_digest = ?',
  deleteManifest: 'DELETE FROM manifests WHERE repository = ? AND digest = ?',

  upsertTag: `INSERT INTO tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)
              ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
  getTag: 'SELECT digest FROM tags WHERE repository = ? AND tag = ?',
  deleteTag: 'DELETE FROM tags WHERE repository = ? AND tag = ?',
  listTags: 'SELECT tag FROM tags WHERE repository = ? ORDER BY tag LIMIT ?',
  listTagsAfter: 'SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?',

  listReferrers: `SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                  WHERE repository = ? AND subject = ? ORDER BY digest`,
  listReferrersOfType: `SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                        WHERE repository = ? AND subject = ? AND artifact_type = ? ORDER BY digest`,

  createUpload: 'INSERT INTO uploads (id, repository, "offset", created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
  getUpload: 'SELECT id, repository, "offset", created_at, updated_at, hash_state FROM uploads WHERE id = ?',
  updateUpload: 'UPDATE uploads SET "offset" = ?, updated_at = ?, hash_state = ? WHERE id = ?',
  deleteUpload: 'DELETE FROM uploads WHERE id = ?',
  countUploads: 'SELECT count(*) AS n FROM uploads',
  stats: `SELECT (SELECT count(*) FROM repositories) AS repositories,
                 (SELECT count(*) FROM manifests) AS manifests,
                 (SELECT count(*) FROM tags) AS tags,
                 (SELECT count(*) FROM uploads) AS uploads,
                 count(*) AS blobs, coalesce(sum(size), 0) AS blobBytes
            FROM (SELECT max(size) AS size FROM blob_links GROUP BY digest)`,
  listIdleUploads: `SELECT id, repository, "offset", created_at, updated_at FROM uploads
                    WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?`,

  // Blob lifecycle (version 2)
  touchBlob: `INSERT INTO blobs (digest, last_used) VALUES (?, ?)
              ON CONFLICT (digest) DO UPDATE SET last_used = max(last_used, excluded.last_used)`,
  blobState: 'SELECT last_used, deleting_by, deleting_until FROM blobs WHERE digest = ?',
  blobLinked: 'SELECT 1 AS found FROM blob_links WHERE digest = ? LIMIT 1',
  blobReferenced: 'SELECT 1 AS found FROM manifest_refs WHERE target_digest = ? LIMIT 1',
  liveReservation: 'SELECT 1 AS found FROM blob_reservations WHERE digest = ? AND expires_at > ? LIMIT 1',
  pruneReservations: 'DELETE FROM blob_reservations WHERE expires_at <= ?',
  deleteReservationsOf: 'DELETE FROM blob_reservations WHERE digest = ?',
  reserveBlob: `INSERT INTO blob_reservations (digest, holder, expires_at) VALUES (?, ?, ?)
                ON CONFLICT (digest, holder) DO UPDATE SET expires_at = excluded.expires_at`,
  releaseBlob: 'DELETE FROM blob_reservations WHERE digest = ? AND holder = ?',
  clearMark: 'UPDATE blobs SET deleting_by = NULL, deleting_until = NULL WHERE digest = ?',
  setMark: `INSERT INTO blobs (digest, last_used, deleting_by, deleting_until) VALUES (?, ?, ?, ?)
            ON CONFLICT (digest) DO UPDATE SET deleting_by = excluded.deleting_by, deleting_until = excluded.deleting_until`,
  forgetBlob: 'DELETE FROM blobs WHERE digest = ?',

  // Manifest lifecycle (version 2)
  touchManifest: 'UPDATE manifests SET used_at = max(coalesce(used_at, created_at), ?) WHERE repository = ? AND digest = ?',
  listTagRecords: 'SELECT tag, digest, updated_at FROM tags WHERE repository = ? ORDER BY tag LIMIT ?',
  listTagRecordsAfter: 'SELECT tag, digest, updated_at FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?',
  deleteTagIf: 'DELETE FROM tags WHERE repository = ? AND tag = ? AND digest = ? AND updated_at = ?',
  manifestUse: 'SELECT subject, coalesce(used_at, created_at) AS used_at FROM manifests WHERE repository = ? AND digest = ?',
  manifestTagged: 'SELECT 1 AS found FROM tags WHERE repository = ? AND digest = ? LIMIT 1',
  manifestReferenced: "SELECT 1 AS found FROM manifest_refs WHERE target_digest = ? AND repository = ? AND kind = 'manifest' LIMIT 1",
  blobReferencedIn: "SELECT 1 AS found FROM manifest_refs WHERE target_digest = ? AND repository = ? AND kind = 'blob' LIMIT 1",

  // Blob links as receipts (version 3)
  touchBlobLink: 'UPDATE blob_links SET touched_at = max(coalesce(touched_at, created_at), ?) WHERE repository = ? AND digest = ?',
  // Repository, digests after this ('' for the first page), receipt cut-off, limit.
  listReclaimableBlobLinks: `SELECT l.digest, l.size, coalesce(l.touched_at, l.created_at) AS touched_at FROM blob_links AS l
                             WHERE l.repository = ? AND l.digest > ? AND coalesce(l.touched_at, l.created_at) < ?
                               AND NOT EXISTS (SELECT 1 FROM manifest_refs AS r WHERE r.target_digest = l.digest AND r.repository = l.repository AND r.kind = 'blob')
                             ORDER BY l.digest LIMIT ?`,
} as const;

/** The statements of SQL, prepared once at open. */
export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement<unknown[], unknown> };

// Row shapes of the statements the store reads, and their mapping to the port's records.

export interface ManifestRow {
  media_type: string;
  bytes: Buffer;
  size: number;
  subject: Digest | null;
  artifact_type: string | null;
  annotations: string | null;
  created_at: number;
}

export interface ReferrerRow {
  digest: Digest;
  media_type: string;
  size: number;
  artifact_type: string | null;
  annotations: string | null;
}

export interface UploadRow {
  id: string;
  repository: string;
  offset: number;
  created_at: number;
  updated_at: number;
  /** Only in getUpload's row. */
  hash_state?: Buffer | null;
}

export interface LinkRow {
  digest: Digest;
  size: number;
  touched_at: number;
}

export function toLink(row: LinkRow): BlobLink {
  return { digest: row.digest, size: row.size, touchedAt: row.touched_at };
}

export function toSession(row: UploadRow): UploadSession {
  const session = { id: row.id, repository: row.repository, offset: row.offset, createdAt: row.created_at, updatedAt: row.updated_at };
  return row.hash_state ? { ...session, hashState: row.hash_state } : session;
}

/**
 * Schema, migrations and statement texts of the SQLite MetadataStore.
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
 * manifest_refs targets (blobs or child manifests) carry no foreign key: a
 * target may be unlinked or deleted later; garbage collection reads them.
 * tags is a rowid table on purpose: on a WITHOUT ROWID tags table SQLite
 * plans `DELETE ... WHERE repository = ? AND digest = ?` (and the cascade)
 * on the primary-key prefix, scanning every tag of the repository.
 */
import type Database from 'better-sqlite3';

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

  linkBlob: `INSERT INTO blob_links (repository, digest, size, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (repository, digest) DO NOTHING`,
  getBlobLink: 'SELECT digest, size FROM blob_links WHERE repository = ? AND digest = ?',
  unlinkBlob: 'DELETE FROM blob_links WHERE repository = ? AND digest = ?',
  findBlobLink: 'SELECT repository, digest, size FROM blob_links WHERE digest = ? ORDER BY repository LIMIT 1',
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
  getUpload: 'SELECT id, repository, "offset", created_at, updated_at FROM uploads WHERE id = ?',
  updateUpload: 'UPDATE uploads SET "offset" = ?, updated_at = ? WHERE id = ?',
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
} as const;

/**
 * The PostgreSQL store's prepared statements (on the tables of schema.ts) and
 * the small row helpers its files share.
 */
import { outboxStatements } from './outbox.js';
import { auditStatements } from './audit.js';
import { leaseStatements } from './leases.js';
import { pullStatements } from './pulls.js';
import { summaryStatements } from './summaries.js';

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

/**
 * The BlobLifecycle transactions of the SQLite MetadataStore (types.ts,
 * docs/gc.md), over the version 2 tables `blobs` and `blob_reservations`, and
 * the version 3 column `blob_links.touched_at` (link receipts). The
 * ManifestLifecycle ones are in manifests.ts.
 * Writes are IMMEDIATE transactions, so the process that holds the write lock
 * decides alone: a reservation and a deletion mark of the same digest, even
 * from two processes on one file, are serialized.
 */
import type Database from 'better-sqlite3';
import type { Digest } from '../../../oci/digest.js';
import type { BlobUnlinkConditions, MarkBlobOptions } from '../types.js';
import type { Statements } from './schema.js';


interface BlobStateRow {
  last_used: number;
  deleting_by: string | null;
  deleting_until: number | null;
}

export interface SqliteBlobLifecycle {
  reserve(digest: Digest, holder: string, now: number, ttlMs: number): boolean;
  release(digest: Digest, holder: string): void;
  mark(digest: Digest, holder: string, options: MarkBlobOptions): boolean;
  unmark(digest: Digest, holder: string): void;
  unlinkBlobIf(repository: string, digest: Digest, conditions: BlobUnlinkConditions): boolean;
}

export function sqliteBlobLifecycle(db: Database.Database, stmt: Statements): SqliteBlobLifecycle {
  const state = (digest: Digest) => stmt.blobState.get(digest) as BlobStateRow | undefined;
  const inUse = (digest: Digest) => stmt.blobLinked.get(digest) !== undefined || stmt.blobReferenced.get(digest) !== undefined;

  const reserve = db.transaction((digest: Digest, holder: string, now: number, ttlMs: number): boolean => {
    stmt.pruneReservations.run(now);
    const row = state(digest);
    if (row?.deleting_until != null && row.deleting_until > now) return false;
    if (row?.deleting_by != null) stmt.clearMark.run(digest);
    stmt.touchBlob.run(digest, now);
    stmt.reserveBlob.run(digest, holder, now + ttlMs);
    return true;
  }).immediate;

  /** The decision of markBlobForDeletion; writes only when `write`. */
  const decide = (digest: Digest, holder: string, options: MarkBlobOptions, write: boolean): boolean => {
    const { now, graceMs, leaseMs } = options;
    if (inUse(digest) || stmt.liveReservation.get(digest, now) !== undefined) return false;
    const row = state(digest);
    if (row?.deleting_until != null && row.deleting_until > now && row.deleting_by !== holder) return false;
    if (row === undefined && write) stmt.touchBlob.run(digest, now);
    if (now - (row?.last_used ?? now) < graceMs) return false;
    if (!write) return true;
    stmt.deleteReservationsOf.run(digest); // every one of them has expired
    stmt.setMark.run(digest, now, holder, now + leaseMs);
    return true;
  };
  const markTx = db.transaction((digest: Digest, holder: string, options: MarkBlobOptions) => decide(digest, holder, options, true)).immediate;
  const evaluateTx = db.transaction((digest: Digest, holder: string, options: MarkBlobOptions) => decide(digest, holder, options, false)).deferred;

  const unmark = db.transaction((digest: Digest, holder: string): void => {
    if (state(digest)?.deleting_by !== holder) return;
    if (stmt.blobLinked.get(digest) !== undefined) stmt.clearMark.run(digest);
    else stmt.forgetBlob.run(digest);
  }).immediate;

  /** unlinkBlobIf: see BlobLifecycle. */
  const unlinkBlobIf = db.transaction((repository: string, digest: Digest, c: BlobUnlinkConditions): boolean => {
    const link = stmt.getBlobLink.get(repository, digest) as { touched_at: number } | undefined;
    if (link === undefined || !(link.touched_at < c.touchedBefore)) return false;
    if (stmt.blobReferencedIn.get(digest, repository) !== undefined || stmt.liveReservation.get(digest, c.now) !== undefined) return false;
    stmt.unlinkBlob.run(repository, digest);
    stmt.touchBlob.run(digest, link.touched_at);
    return true;
  }).immediate;

  return {
    unlinkBlobIf,
    reserve,
    release: (digest, holder) => void stmt.releaseBlob.run(digest, holder),
    mark: (digest, holder, options) => {
      // A linked or referenced digest (most of them) is refused without taking the write lock.
      if (inUse(digest)) return false;
      return options.dryRun === true ? evaluateTx(digest, holder, options) : markTx(digest, holder, options);
    },
    unmark,
  };
}

/**
 * The BlobLifecycle transactions of the PostgreSQL MetadataStore (types.ts),
 * over the version 2 tables `blobs` and `blob_reservations` and the version 4
 * column `blob_links.touched_at` (link receipts, unlinkIfTx). Each runs in the
 * store's transaction (READ COMMITTED). The reservation and mark transactions
 * first ensure and lock the digest's `blobs` row (INSERT ... ON CONFLICT DO
 * NOTHING, then SELECT ... FOR UPDATE): a reservation and a deletion mark of
 * one digest, even from two replicas, are serialized, and each sees what the
 * other committed. They lock no link or manifest reference: by the protocol
 * every linker holds a reservation, and a manifest can only reference a
 * linked blob. unlinkIfTx locks the link instead (see there).
 */
import type { Digest } from '../../../oci/digest.js';
import type { BlobUnlinkConditions, MarkBlobOptions } from '../types.js';
import { found, type TxQuery } from './statements.js';

interface BlobRow {
  last_used: number;
  deleting_by: string | null;
  deleting_until: number | null;
}

/** The digest's locked row, created (last_used = now) when the lifecycle never saw it. */
async function lockBlob(query: TxQuery, digest: Digest, now: number): Promise<BlobRow> {
  await query('ensureBlob', [digest, now]);
  return (await query<BlobRow>('lockBlob', [digest])).rows[0] as BlobRow;
}

/** reserveBlob: see BlobLifecycle. */
export async function reserveTx(query: TxQuery, digest: Digest, holder: string, now: number, ttlMs: number): Promise<boolean> {
  await query('pruneReservations', [now]);
  const row = await lockBlob(query, digest, now);
  if (row.deleting_until !== null && row.deleting_until > now) return false;
  await query('reserveBlob', [digest, holder, now, now + ttlMs]);
  return true;
}

/** Whether the digest is linked or referenced anywhere: most are, and are refused without a transaction. */
export function inUse(query: TxQuery, digest: Digest): Promise<boolean> {
  return found(query, 'blobInUse', [digest]);
}

/**
 * markBlobForDeletion: see BlobLifecycle. A dry run is this transaction
 * rolled back (the caller's business), so it records nothing.
 */
export async function markTx(query: TxQuery, digest: Digest, holder: string, options: MarkBlobOptions): Promise<boolean> {
  const { now, graceMs, leaseMs } = options;
  const row = await lockBlob(query, digest, now); // a digest never seen is recorded as used now
  if (await inUse(query, digest)) return false;
  if (await found(query, 'liveReservation', [digest, now])) return false;
  if (row.deleting_until !== null && row.deleting_until > now && row.deleting_by !== holder) return false;
  if (now - row.last_used < graceMs) return false;
  await query('setMark', [digest, holder, now + leaseMs]);
  return true;
}

/** unmarkBlob: see BlobLifecycle. Forgets last_used with the mark unless the digest is linked again. */
export async function unmarkTx(query: TxQuery, digest: Digest, holder: string): Promise<void> {
  const row = (await query<BlobRow>('lockBlob', [digest])).rows[0];
  if (row?.deleting_by !== holder) return;
  if (await found(query, 'blobLinked', [digest])) await query('clearMark', [digest]);
  else await query('forgetBlob', [digest]);
}

/**
 * unlinkBlobIf: see BlobLifecycle. The link row is locked FOR UPDATE first: a
 * manifest put that checked it (FOR SHARE) has committed its references by
 * then, which the following statements see; a put or a touch (an UPDATE)
 * that comes later waits, and finds the link gone.
 */
export async function unlinkIfTx(query: TxQuery, repository: string, digest: Digest, c: BlobUnlinkConditions): Promise<boolean> {
  const link = (await query<{ touchedAt: number }>('lockBlobLink', [repository, digest])).rows[0];
  if (link === undefined || !(link.touchedAt < c.touchedBefore)) return false;
  if (await found(query, 'blobReferencedIn', [repository, digest])) return false;
  if (await found(query, 'liveReservation', [digest, c.now])) return false;
  await query('unlinkBlob', [repository, digest, link.touchedAt]); // last_used: at least the receipt
  return true;
}

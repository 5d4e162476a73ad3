/**
 * MetadataStore on PostgreSQL (pg.Pool), for several registry replicas
 * sharing one database. Tables live in one schema (default `public`; see
 * schema.ts), migrated at open. A resolved write is committed.
 *
 * Concurrency: READ COMMITTED plus explicit row locks, no SERIALIZABLE (whose
 * serialization failures would need retry loops on every write):
 * - putManifest (manifests.ts) checks its references FOR SHARE in its write
 *   transaction and locks the manifest row it inserts or finds: a reference
 *   cannot go away between check and insert, nor the manifest before its tag
 *   is written. Locks are taken in the order references, manifest, then per
 *   tag (sorted) the manifest it leaves and the tag; deleteManifest locks
 *   manifest, then tags (cascade). A deadlock the server still detects is
 *   retried.
 * - ManifestLifecycle (manifests.ts): the tag writes of
 *   putManifest and deleteTag are conditional on the digest read before and
 *   stamp used_at of the manifest the tag leaves; deleteManifestIf locks the
 *   manifest FOR UPDATE before checking its conditions, in one transaction
 *   with the delete. An immutable tag taken
 *   rolls the put back.
 * - deleteManifest is one DELETE whose ON DELETE CASCADE removes tags and
 *   referrer refs: atomic without an explicit transaction.
 * - BlobLifecycle (lifecycle.ts): reservations and deletion marks of
 *   a digest serialize on its `blobs` row lock; linkBlob and unlinkBlob
 *   stamp that row's last_used in their own statement.
 * The pool, transactions, aborts, timeouts and the error boundary are
 * connection.ts's. AbortSignal: checked at entry and before COMMIT. An abort while a statement
 * runs cancels it (pg_cancel_backend, run.ts) and discards
 * the connection; reads and uncommitted transactions reject at once with
 * signal.reason, having no effect; a single-statement write settles with its
 * statement (signal.reason when cancelled, its result when it finished first).
 * A write refused for a full disk (SQLSTATE 53100) throws StorageFullError.
 * Outages throw StoreUnavailableError (see unavailableReason in run.ts),
 * in bounded time: connecting or waiting for a pooled connection fails after
 * connectionTimeoutMillis, a statement without an answer after queryTimeoutMs
 * (its connection is then discarded).
 */
import type { Digest } from '../../../oci/digest.js';
import type {
  BlobLink,
  BlobRef,
  BlobUnlinkConditions,
  ManifestDeleteConditions,
  MarkBlobOptions,
  ManifestRecord,
  MetadataStore,
  PageOptions,
  PutManifestInput,
  PutManifestResult,
  ReferrerRecord,
  StoreStats,
  TagRecord,
  UploadSession,
} from '../types.js';
import { clampLimit, withoutNulls, type Nullable } from './statements.js';
import { inUse, markTx, reserveTx, unlinkIfTx, unmarkTx } from './lifecycle.js';
import { deleteManifestIfTx, deleteTagTx, putManifestTx } from './manifests.js';
import { sqlState, UNIQUE_VIOLATION } from './run.js';
import { appendEventsTx, createRepositoryTx, manifestFactsTx, toEntries, type OutboxRow } from './outbox.js';
import type { ClaimOptions, EventContext, EventFailure, OutboxEntry, RegistryEvent } from '../events.js';
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';
import { auditColumns, auditListValues, toAuditEntries } from './audit.js';
import type { ManifestPull } from '../pulls.js';
import { pullColumns } from './pulls.js';
import { SUMMARY_STATEMENT, summaryValues, toSummaryPage, type SummaryRow } from './summaries.js';
import type { RepositorySummaryPage, RepositorySummaryQuery } from '../summaries.js';
import { deleteManifestEvents, deleteTagEvents, linkBlobEvents, putManifestEvents } from '../event-records.js';

import { PostgresConnection, type PostgresMetadataStoreOptions } from './connection.js';

export type { PostgresMetadataStoreOptions };

/**
 * Opens a pool and brings the schema to SCHEMA_VERSION, in one transaction
 * under a per-schema advisory lock (replicas may open at once). Rejects,
 * leaving nothing open, when the database is unreachable or was migrated by a
 * newer version.
 */
export function openPostgresMetadataStore(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
  return PostgresMetadataStore.open(options);
}

export class PostgresMetadataStore implements MetadataStore {
  readonly #db: PostgresConnection;

  private constructor(db: PostgresConnection) {
    this.#db = db;
  }

  /** See openPostgresMetadataStore. */
  static async open(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
    return new PostgresMetadataStore(await PostgresConnection.open(options));
  }

  /** The database's clock (clock.ts), shared by every replica. */
  readonly shared = true;

  clock(): number {
    return this.#db.clock.now();
  }

  async repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.one(signal, 'repositoryExists', [repository])) !== undefined;
  }

  async listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    const rows = await this.#db.page<{ name: string }>(signal, page, 'listRepositories', 'listRepositoriesAfter', []);
    return rows.map((r) => r.name);
  }

  async listRepositorySummaries(query: RepositorySummaryQuery, signal?: AbortSignal): Promise<RepositorySummaryPage> {
    return toSummaryPage(await this.#db.rows<SummaryRow>(signal, SUMMARY_STATEMENT[query.sort], summaryValues(query)));
  }

  async linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal, context?: EventContext): Promise<void> {
    if (context === undefined) {
      await this.#db.write(signal, 'linkBlob', [repository, blob.digest, blob.size, now]);
      return;
    }
    await this.#db.transaction(signal, async (query) => {
      const created = await createRepositoryTx(query, repository, now);
      await query('linkBlob', [repository, blob.digest, blob.size, now]);
      await appendEventsTx(query, linkBlobEvents(repository, blob, created, now, context));
    });
  }

  async getBlobLink(repository: string, digest: Digest, signal?: AbortSignal): Promise<BlobLink | undefined> {
    return this.#db.one<BlobLink>(signal, 'getBlobLink', [repository, digest]);
  }

  async touchBlobLink(repository: string, digest: Digest, now: number, signal?: AbortSignal): Promise<boolean> {
    // 0 rows also when the receipt is newer already: then the link exists.
    return (await this.#db.write(signal, 'touchBlobLink', [repository, digest, now])) > 0 || (await this.#db.one<{ found: boolean }>(signal, 'blobLinkedIn', [repository, digest]))?.found === true;
  }

  async listReclaimableBlobLinks(repository: string, touchedBefore: number, page: PageOptions, signal?: AbortSignal): Promise<BlobLink[]> {
    if (!(page.limit > 0)) return [];
    return this.#db.rows<BlobLink>(signal, 'listReclaimableBlobLinks', [repository, page.last ?? '', touchedBefore, Math.floor(page.limit)]);
  }

  async unlinkBlobIf(repository: string, digest: Digest, conditions: BlobUnlinkConditions, signal?: AbortSignal): Promise<boolean> {
    return this.#db.transaction(signal, (query) => unlinkIfTx(query, repository, digest, conditions));
  }

  async unlinkBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'unlinkBlob', [repository, digest, this.clock()])) > 0;
  }

  async listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]> {
    return this.#db.page<BlobRef>(signal, page, 'listBlobLinks', 'listBlobLinksAfter', [repository]);
  }

  async putManifest(input: PutManifestInput, signal?: AbortSignal, context?: EventContext): Promise<PutManifestResult> {
    // A refused put writes nothing: the manifest row of a tag taken is rolled back.
    if (context === undefined) return this.#db.transaction(signal, (query) => putManifestTx(query, input), (result) => result.ok);
    return this.#db.transaction(signal, async (query) => {
      const created = await createRepositoryTx(query, input.repository, input.now);
      // Read before putManifestTx's conditional tag writes: a concurrent move in between is named as the previous digest late.
      const previous = new Map<string, string | undefined>();
      for (const tag of new Set(input.tags ?? [])) previous.set(tag, (await query<{ digest: string }>('getTag', [input.repository, tag])).rows[0]?.digest);
      const result = await putManifestTx(query, input);
      if (result.ok) await appendEventsTx(query, putManifestEvents({ ...input, size: input.bytes.byteLength }, previous, created, input.now, context));
      return result;
    }, (result) => result.ok);
  }

  async getManifest(repository: string, digest: Digest, signal?: AbortSignal): Promise<ManifestRecord | undefined> {
    type Row = Nullable<Omit<ManifestRecord, 'repository' | 'digest'>, 'subject' | 'artifactType' | 'annotations'>;
    const row = await this.#db.one<Row>(signal, 'getManifest', [repository, digest]);
    return row === undefined ? undefined : { repository, digest, ...withoutNulls(row) };
  }

  async deleteManifest(repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    if (context === undefined) return (await this.#db.write(signal, 'deleteManifest', [repository, digest])) > 0;
    return this.#db.transaction(signal, async (query) => {
      const found = await manifestFactsTx(query, repository, digest);
      if (found === undefined) return false;
      await query('deleteManifest', [repository, digest]);
      await appendEventsTx(query, deleteManifestEvents(found.facts, found.tags, this.clock(), context));
      return true;
    });
  }

  async getTag(repository: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    return (await this.#db.one<{ digest: Digest }>(signal, 'getTag', [repository, tag]))?.digest;
  }

  async deleteTag(repository: string, tag: string, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    return this.#db.transaction(signal, async (query) => {
      const digest = context === undefined ? undefined : (await query<{ digest: string }>('getTag', [repository, tag])).rows[0]?.digest;
      const deleted = await deleteTagTx(query, repository, tag, this.clock());
      if (deleted && context !== undefined && digest !== undefined) await appendEventsTx(query, deleteTagEvents(repository, tag, digest, this.clock(), context));
      return deleted;
    });
  }

  async listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<Digest[]> {
    const rows = await this.#db.page<{ digest: Digest }>(signal, page, 'listManifests', 'listManifestsAfter', [repository]);
    return rows.map((r) => r.digest);
  }

  async listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    const rows = await this.#db.page<{ tag: string }>(signal, page, 'listTags', 'listTagsAfter', [repository]);
    return rows.map((r) => r.tag);
  }

  async listReferrers(repository: string, subject: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]> {
    type Row = Nullable<ReferrerRecord, 'artifactType' | 'annotations'>;
    const rows = await (artifactType === undefined
      ? this.#db.rows<Row>(signal, 'listReferrers', [repository, subject])
      : this.#db.rows<Row>(signal, 'listReferrersOfType', [repository, subject, artifactType]));
    return rows.map(withoutNulls);
  }

  /** Throws when the id exists (the unique violation, as cause), keeping the first session. */
  async createUpload(session: UploadSession, signal?: AbortSignal): Promise<void> {
    try {
      await this.#db.write(signal, 'createUpload', [session.id, session.repository, session.offset, session.createdAt, session.updatedAt]);
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw new Error(`upload session ${session.id} already exists`, { cause: err });
      throw err;
    }
  }

  async getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined> {
    const row = await this.#db.one<UploadSession & { hashState: Buffer | null }>(signal, 'getUpload', [id]);
    if (row?.hashState !== null) return row;
    const { hashState: _none, ...session } = row;
    return session;
  }

  async updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal, hashState?: Uint8Array): Promise<boolean> {
    return (await this.#db.write(signal, 'updateUpload', [id, offset, updatedAt, hashState ?? null])) > 0;
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'deleteUpload', [id])) > 0;
  }

  async countUploads(signal?: AbortSignal): Promise<number> {
    return (await this.#db.one<{ n: number }>(signal, 'countUploads', []))?.n ?? 0;
  }

  async listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]> {
    const n = clampLimit(limit);
    this.#db.enter(signal);
    if (n === 0) return [];
    return this.#db.rows<UploadSession>(signal, 'listIdleUploads', [before, n]);
  }

  async stats(signal?: AbortSignal): Promise<StoreStats> {
    return (await this.#db.one<StoreStats>(signal, 'stats', [])) as StoreStats;
  }

  async reserveBlob(digest: Digest, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#db.transaction(signal, (query) => reserveTx(query, digest, holder, now, ttlMs));
  }

  async releaseBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    await this.#db.write(signal, 'releaseBlob', [digest, holder]);
  }

  async markBlobForDeletion(digest: Digest, holder: string, options: MarkBlobOptions, signal?: AbortSignal): Promise<boolean> {
    // A linked or referenced digest (most of them) is refused without a transaction or lock.
    if (await this.#db.withClient(signal, true, (query) => inUse(query, digest))) return false;
    return this.#db.transaction(signal, (query) => markTx(query, digest, holder, options), options.dryRun !== true);
  }

  async unmarkBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    await this.#db.transaction(signal, (query) => unmarkTx(query, digest, holder));
  }

  async listTagRecords(repository: string, page: PageOptions, signal?: AbortSignal): Promise<TagRecord[]> {
    return this.#db.page<TagRecord>(signal, page, 'listTagRecords', 'listTagRecordsAfter', [repository]);
  }

  async deleteTagIf(repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    const values = [repository, tag, expected.digest, expected.updatedAt];
    if (context === undefined) return (await this.#db.write(signal, 'deleteTagIf', values)) > 0;
    return this.#db.transaction(signal, async (query) => {
      if (((await query('deleteTagIf', values)).rowCount ?? 0) === 0) return false;
      await appendEventsTx(query, deleteTagEvents(repository, tag, expected.digest, this.clock(), context));
      return true;
    });
  }

  async deleteManifestIf(repository: string, digest: Digest, conditions: ManifestDeleteConditions, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    const record = context !== undefined && conditions.dryRun !== true;
    return this.#db.transaction(
      signal,
      async (query) => {
        const found = record ? await manifestFactsTx(query, repository, digest) : undefined;
        const deleted = await deleteManifestIfTx(query, repository, digest, conditions);
        if (deleted && found !== undefined) await appendEventsTx(query, deleteManifestEvents(found.facts, found.tags, this.clock(), context!));
        return deleted;
      },
      conditions.dryRun !== true,
    );
  }

  // Outbox (events.ts, outbox.ts)
  async appendEvents(events: readonly RegistryEvent[], signal?: AbortSignal): Promise<void> {
    await this.#db.transaction(signal, (query) => appendEventsTx(query, events));
  }

  async claimEvents(holder: string, options: ClaimOptions, signal?: AbortSignal): Promise<OutboxEntry[]> {
    const limit = clampLimit(options.limit);
    if (limit === 0) return [];
    return toEntries(await this.#db.transaction(signal, async (query) => (await query<OutboxRow>('claimEvents', [holder, options.now + options.leaseMs, options.now, limit])).rows));
  }

  async markEventsDelivered(ids: readonly string[], holder: string, signal?: AbortSignal): Promise<number> {
    return ids.length === 0 ? 0 : this.#db.write(signal, 'eventsDelivered', [ids, holder]);
  }

  async markEventFailed(id: string, holder: string, nextAttemptAt: number, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'settleEvent', [id, holder, 'pending', nextAttemptAt, JSON.stringify(failure.deliveredTo), failure.error])) > 0;
  }

  async parkEvent(id: string, holder: string, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'settleEvent', [id, holder, 'dead', Number.MAX_SAFE_INTEGER, JSON.stringify(failure.deliveredTo), failure.error])) > 0;
  }

  async listEvents(state: 'pending' | 'dead', options: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#db.enter(signal);
    const limit = clampLimit(options.limit);
    if (limit === 0) return [];
    return toEntries(await this.#db.rows<OutboxRow>(signal, 'listEvents', [state, options.afterSeq ?? -1, limit]));
  }

  async replayEvents(ids: readonly string[] | undefined, now: number, signal?: AbortSignal): Promise<number> {
    return this.#db.write(signal, 'replayEvents', [now, ids === undefined ? null : [...ids]]);
  }

  // Audit log (audit.ts)
  async appendAudit(records: readonly AuditRecord[], signal?: AbortSignal): Promise<void> {
    if (records.length > 0) await this.#db.write(signal, 'appendAudit', auditColumns(records));
    else this.#db.enter(signal);
  }

  async listAudit(query: AuditQuery, signal?: AbortSignal): Promise<AuditEntry[]> {
    this.#db.enter(signal);
    const limit = clampLimit(query.limit);
    return limit === 0 ? [] : toAuditEntries(await this.#db.rows(signal, 'listAudit', auditListValues(query, limit)));
  }

  async pruneAudit(before: number, signal?: AbortSignal): Promise<number> {
    return this.#db.write(signal, 'pruneAudit', [before]);
  }

  // Leases (leases.ts)
  async acquireLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'acquireLease', [key, holder, now + ttlMs, now])) > 0;
  }

  async renewLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    return (await this.#db.write(signal, 'renewLease', [key, holder, now + ttlMs, now])) > 0;
  }

  async releaseLease(key: string, holder: string, signal?: AbortSignal): Promise<void> {
    await this.#db.write(signal, 'releaseLease', [key, holder]);
  }

  // Pull log (pulls.ts)
  async recordManifestPulls(pulls: readonly ManifestPull[], signal?: AbortSignal): Promise<void> {
    this.#db.enter(signal);
    if (pulls.length > 0) await this.#db.write(signal, 'recordPulls', pullColumns(pulls));
  }

  async listManifestPulls(repository: string, page: PageOptions, signal?: AbortSignal): Promise<ManifestPull[]> {
    return this.#db.page<ManifestPull>(signal, page, 'listPulls', 'listPullsAfter', [repository]); // int8 arrives as a number (connection.ts)
  }

  async forgetManifestPulls(repository: string, digests: readonly Digest[], signal?: AbortSignal): Promise<number> {
    this.#db.enter(signal);
    return digests.length === 0 ? 0 : this.#db.write(signal, 'forgetPulls', [repository, [...new Set(digests)]]);
  }

  /** `SELECT 1` within healthTimeoutMs; throws (the cause attached) when it fails, times out or the store is closed. */
  checkHealth(signal?: AbortSignal): Promise<void> {
    return this.#db.checkHealth(signal);
  }

  /** Ends the pool (waiting for calls in flight); later calls reject. Idempotent. */
  close(): Promise<void> {
    return this.#db.close();
  }
}

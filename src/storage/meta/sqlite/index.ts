/**
 * MetadataStore on one SQLite file (better-sqlite3). WAL journal with
 * synchronous=NORMAL and group commit (wal-sync.ts): every write survives
 * kill -9 once it resolves; every write but the upload-session bookkeeping
 * (createUpload, updateUpload, deleteUpload, reserveBlob, releaseBlob), the
 * leases, the outbox's claims and settlements and the pull log also resolves
 * only once it is on disk, and survives power loss. Statements are
 * prepared once at open; multi-statement writes run in one transaction.
 * better-sqlite3 is synchronous, so each method runs to completion once
 * started; an AbortSignal is honoured at entry only. A write refused for lack
 * of space throws StorageFullError, having no effect; one refused for a lock
 * held too long or an I/O error, StoreUnavailableError.
 */
import { realpathSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Digest } from '../../../oci/digest.js';
import type {
  BlobLink,
  BlobRef,
  BlobUnlinkConditions,
  ManifestDeleteConditions,
  TagRecord,
  MarkBlobOptions,
  ManifestRecord,
  MetadataStore,
  PageOptions,
  PutManifestInput,
  PutManifestResult,
  ReferrerRecord,
  StoreStats,
  UploadSession,
} from '../types.js';
import { toLink, toSession, type LinkRow, type ManifestRow, type ReferrerRow, type Statements, type UploadRow } from './schema.js';
import { sqliteBlobLifecycle, type SqliteBlobLifecycle } from './lifecycle.js';
import { sqliteManifestWrites, type SqliteManifestWrites } from './manifests.js';
import { sqliteOutbox, type SqliteOutbox } from './outbox.js';
import { sqliteAudit, type SqliteAudit } from './audit.js';
import { sqliteLeases, type SqliteLeases } from './leases.js';
import { sqliteSummaries } from './summaries.js';
import type { RepositorySummaryPage, RepositorySummaryQuery } from '../summaries.js';
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';
import type { PullLog } from '../pulls.js';
import { sqlitePulls } from './pulls.js';
import type { ClaimOptions, EventContext, EventFailure, OutboxEntry, RegistryEvent } from '../events.js';
import { linkBlobEvents } from '../event-records.js';
import { clampLimit, openDatabase, pageLimit, writing } from './connection.js';
import { sqliteEventWrites, type SqliteEventWrites } from './event-writes.js';
import { WalSync } from './wal-sync.js';
import { ListingCache } from './listing-cache.js';

/**
 * Opens (creating when absent) the database at `path` and migrates its
 * schema; `:memory:` gives a private, non-persistent database. The parent
 * directory must exist. Throws when the file cannot be opened, cannot use WAL
 * or was written by a newer schema version.
 */
export function openSqliteMetadataStore(path: string): SqliteMetadataStore {
  return new SqliteMetadataStore(path);
}

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: Database.Database;
  readonly #stmt: Statements;
  readonly #linkBlob: (repository: string, blob: BlobRef, now: number, context: EventContext | undefined) => void;
  readonly #outbox: SqliteOutbox;
  readonly #audit: SqliteAudit;
  readonly #leases: SqliteLeases;
  readonly #pulls: PullLog;
  readonly #summaries: (query: RepositorySummaryQuery) => RepositorySummaryPage;
  /** The manifest writes with their events, each in one transaction. */
  readonly #withEvents: SqliteEventWrites;
  readonly #unlinkBlob: (repository: string, digest: Digest, now: number) => boolean;
  readonly #lifecycle: SqliteBlobLifecycle;
  readonly #manifests: SqliteManifestWrites;
  readonly #wal: WalSync;
  readonly #listings: ListingCache;

  /** See openSqliteMetadataStore. */
  constructor(path: string) {
    const { db, stmt } = openDatabase(path);
    // SQLite follows a symlinked database path: its WAL is beside the file the link points to.
    this.#wal = new WalSync(db.memory || db.name === '' ? undefined : `${realpathSync(db.name)}-wal`);
    this.#listings = new ListingCache(db);
    this.#stmt = stmt;
    this.#db = db;
    // IMMEDIATE: take the write lock up front, so a read-then-write transaction
    // waits (busy_timeout) for another process instead of failing with SQLITE_BUSY.
    this.#outbox = sqliteOutbox(db);
    this.#audit = sqliteAudit(db);
    this.#leases = sqliteLeases(db);
    this.#pulls = sqlitePulls(db, (signal) => this.#enter(signal), writing);
    this.#summaries = sqliteSummaries(db);
    this.#linkBlob = db.transaction((repository: string, blob: BlobRef, now: number, context: EventContext | undefined) => {
      const created = this.#stmt.insertRepository.run(repository, now).changes > 0;
      if (context !== undefined) this.#outbox.append(linkBlobEvents(repository, blob, created, now, context));
      this.#stmt.linkBlob.run(repository, blob.digest, blob.size, now, now);
      this.#stmt.touchBlob.run(blob.digest, now);
    }).immediate;
    this.#unlinkBlob = db.transaction((repository: string, digest: Digest, now: number) => {
      const removed = this.#stmt.unlinkBlob.run(repository, digest).changes > 0;
      if (removed) this.#stmt.touchBlob.run(digest, now);
      return removed;
    }).immediate;
    this.#lifecycle = sqliteBlobLifecycle(db, this.#stmt);
    this.#manifests = sqliteManifestWrites(db, this.#stmt);
    this.#withEvents = sqliteEventWrites(db, this.#stmt, this.#outbox, this.#manifests, () => this.clock());
  }

  #enter(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (!this.#db.open) throw new Error('the metadata store is closed');
  }

  async repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#stmt.repositoryExists.get(repository) !== undefined;
  }

  async listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    return (page.last === undefined
      ? this.#stmt.listRepositories.all(limit)
      : this.#stmt.listRepositoriesAfter.all(page.last, limit)) as string[]; // plucked (connection.ts)
  }

  async listRepositorySummaries(query: RepositorySummaryQuery, signal?: AbortSignal): Promise<RepositorySummaryPage> {
    this.#enter(signal);
    return this.#summaries(query);
  }

  async linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal, context?: EventContext): Promise<void> {
    this.#enter(signal);
    await this.#wal.durably(() => this.#linkBlob(repository, blob, now, context));
  }

  async getBlobLink(repository: string, digest: Digest, signal?: AbortSignal): Promise<BlobLink | undefined> {
    this.#enter(signal);
    const row = this.#stmt.getBlobLink.get(repository, digest) as LinkRow | undefined;
    return row === undefined ? undefined : toLink(row);
  }

  async touchBlobLink(repository: string, digest: Digest, now: number, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => this.#stmt.touchBlobLink.run(now, repository, digest).changes > 0);
  }

  async listReclaimableBlobLinks(repository: string, touchedBefore: number, page: PageOptions, signal?: AbortSignal): Promise<BlobLink[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    return (this.#stmt.listReclaimableBlobLinks.all(repository, page.last ?? '', touchedBefore, limit) as LinkRow[]).map(toLink);
  }

  async unlinkBlobIf(repository: string, digest: Digest, conditions: BlobUnlinkConditions, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => this.#lifecycle.unlinkBlobIf(repository, digest, conditions));
  }

  async unlinkBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => this.#unlinkBlob(repository, digest, this.clock()));
  }

  async listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    const rows = (page.last === undefined
      ? this.#stmt.listBlobLinks.all(repository, limit)
      : this.#stmt.listBlobLinksAfter.all(repository, page.last, limit)) as BlobRef[];
    return rows.map((r) => ({ digest: r.digest, size: r.size }));
  }

  async putManifest(input: PutManifestInput, signal?: AbortSignal, context?: EventContext): Promise<PutManifestResult> {
    this.#enter(signal);
    return this.#wal.durably(() => (context === undefined ? this.#manifests.putManifest(input) : this.#withEvents.putManifest(input, context)));
  }

  async getManifest(repository: string, digest: Digest, signal?: AbortSignal): Promise<ManifestRecord | undefined> {
    this.#enter(signal);
    const row = this.#stmt.getManifest.get(repository, digest) as ManifestRow | undefined;
    if (row === undefined) return undefined;
    return {
      repository,
      digest,
      mediaType: row.media_type,
      bytes: row.bytes,
      size: row.size,
      ...(row.subject === null ? {} : { subject: row.subject }),
      ...(row.artifact_type === null ? {} : { artifactType: row.artifact_type }),
      ...(row.annotations === null ? {} : { annotations: JSON.parse(row.annotations) as Record<string, string> }),
      createdAt: row.created_at,
    };
  }

  async deleteManifest(repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => (context === undefined ? this.#manifests.deleteManifest(repository, digest) : this.#withEvents.deleteManifest(repository, digest, context)));
  }

  async listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<Digest[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    const rows = (page.last === undefined
      ? this.#stmt.listManifests.all(repository, limit)
      : this.#stmt.listManifestsAfter.all(repository, page.last, limit)) as { digest: Digest }[];
    return rows.map((r) => r.digest);
  }

  async getTag(repository: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    this.#enter(signal);
    return (this.#stmt.getTag.get(repository, tag) as { digest: Digest } | undefined)?.digest;
  }

  async deleteTag(repository: string, tag: string, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => (context === undefined ? this.#manifests.deleteTag(repository, tag, this.clock()) : this.#withEvents.deleteTag(repository, tag, context)));
  }

  async listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    // A frozen page (listing-cache.ts) of plucked rows (connection.ts).
    return this.#listings.page(`${limit}\0${repository}\0${page.last ?? ''}`, () =>
      (page.last === undefined ? this.#stmt.listTags.all(repository, limit) : this.#stmt.listTagsAfter.all(repository, page.last, limit)) as string[]) as string[];
  }

  async listReferrers(repository: string, subject: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]> {
    this.#enter(signal);
    const rows = (artifactType === undefined
      ? this.#stmt.listReferrers.all(repository, subject)
      : this.#stmt.listReferrersOfType.all(repository, subject, artifactType)) as ReferrerRow[];
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      size: r.size,
      ...(r.artifact_type === null ? {} : { artifactType: r.artifact_type }),
      ...(r.annotations === null ? {} : { annotations: JSON.parse(r.annotations) as Record<string, string> }),
    }));
  }

  async createUpload(session: UploadSession, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    writing(() => this.#stmt.createUpload.run(session.id, session.repository, session.offset, session.createdAt, session.updatedAt));
  }

  async getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined> {
    this.#enter(signal);
    const row = this.#stmt.getUpload.get(id) as UploadRow | undefined;
    return row === undefined ? undefined : toSession(row);
  }

  async updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal, hashState?: Uint8Array): Promise<boolean> {
    this.#enter(signal);
    return writing(() => this.#stmt.updateUpload.run(offset, updatedAt, hashState ?? null, id).changes > 0);
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return writing(() => this.#stmt.deleteUpload.run(id).changes > 0);
  }

  async countUploads(signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return (this.#stmt.countUploads.get() as { n: number }).n;
  }

  async stats(signal?: AbortSignal): Promise<StoreStats> {
    this.#enter(signal);
    return this.#stmt.stats.get() as StoreStats;
  }

  async listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]> {
    this.#enter(signal);
    const n = clampLimit(limit);
    if (n === 0) return [];
    return (this.#stmt.listIdleUploads.all(before, n) as UploadRow[]).map(toSession);
  }

  async reserveBlob(digest: Digest, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return writing(() => this.#lifecycle.reserve(digest, holder, now, ttlMs));
  }

  async releaseBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    writing(() => this.#lifecycle.release(digest, holder));
  }

  async markBlobForDeletion(digest: Digest, holder: string, options: MarkBlobOptions, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#wal.durably(() => this.#lifecycle.mark(digest, holder, options));
  }

  async unmarkBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    await this.#wal.durably(() => this.#lifecycle.unmark(digest, holder));
  }

  async listTagRecords(repository: string, page: PageOptions, signal?: AbortSignal): Promise<TagRecord[]> {
    this.#enter(signal);
    const limit = pageLimit(page);
    if (limit === 0) return [];
    const rows = (page.last === undefined
      ? this.#stmt.listTagRecords.all(repository, limit)
      : this.#stmt.listTagRecordsAfter.all(repository, page.last, limit)) as { tag: string; digest: Digest; updated_at: number }[];
    return rows.map((r) => ({ tag: r.tag, digest: r.digest, updatedAt: r.updated_at }));
  }

  async deleteTagIf(repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    if (context !== undefined) return this.#wal.durably(() => this.#withEvents.deleteTagIf(repository, tag, expected, context));
    return this.#wal.durably(() => this.#stmt.deleteTagIf.run(repository, tag, expected.digest, expected.updatedAt).changes > 0);
  }

  async deleteManifestIf(repository: string, digest: Digest, conditions: ManifestDeleteConditions, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    if (context !== undefined && conditions.dryRun !== true) return this.#wal.durably(() => this.#withEvents.deleteManifestIf(repository, digest, conditions, context));
    return this.#wal.durably(() => this.#manifests.deleteManifestIf(repository, digest, conditions, this.clock()));
  }

  // Outbox (events.ts)
  async appendEvents(events: readonly RegistryEvent[], signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    await this.#wal.durably(() => this.#outbox.append(events));
  }

  // Claims and settlements commit without waiting for the WAL fsync (like leases): they survive kill -9, and one lost
  // to a power loss only means a redelivery with the same id (at least once) or a retry counted again.
  async claimEvents(holder: string, options: ClaimOptions, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#enter(signal);
    return writing(() => this.#outbox.claim(holder, options));
  }

  async markEventsDelivered(ids: readonly string[], holder: string, signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return ids.length === 0 ? 0 : writing(() => this.#outbox.delivered(ids, holder));
  }

  async markEventFailed(id: string, holder: string, nextAttemptAt: number, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return writing(() => this.#outbox.settle(id, holder, 'pending', nextAttemptAt, failure));
  }

  async parkEvent(id: string, holder: string, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return writing(() => this.#outbox.settle(id, holder, 'dead', Number.MAX_SAFE_INTEGER, failure));
  }

  async listEvents(state: 'pending' | 'dead', options: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#enter(signal);
    return this.#outbox.list(state, options.afterSeq, options.limit);
  }

  async replayEvents(ids: readonly string[] | undefined, now: number, signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return this.#wal.durably(() => this.#outbox.replay(ids, now));
  }

  // Audit log (audit.ts)
  async appendAudit(records: readonly AuditRecord[], signal?: AbortSignal): Promise<void> { this.#enter(signal); await this.#wal.durably(() => this.#audit.append(records)); }
  async listAudit(query: AuditQuery, signal?: AbortSignal): Promise<AuditEntry[]> { this.#enter(signal); return this.#audit.list(query); }
  async pruneAudit(before: number, signal?: AbortSignal): Promise<number> { this.#enter(signal); return this.#wal.durably(() => this.#audit.prune(before)); }

  // Leases (leases.ts)
  async acquireLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> { this.#enter(signal); return writing(() => this.#leases.acquire(key, holder, now, ttlMs)); }
  async renewLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> { this.#enter(signal); return writing(() => this.#leases.renew(key, holder, now, ttlMs)); }
  async releaseLease(key: string, holder: string, signal?: AbortSignal): Promise<void> { this.#enter(signal); writing(() => this.#leases.release(key, holder)); }

  // Pull log (pulls.ts)
  readonly recordManifestPulls: PullLog['recordManifestPulls'] = (pulls, signal) => this.#pulls.recordManifestPulls(pulls, signal);
  readonly listManifestPulls: PullLog['listManifestPulls'] = (repository, page, signal) => this.#pulls.listManifestPulls(repository, page, signal);
  readonly forgetManifestPulls: PullLog['forgetManifestPulls'] = (repository, digests, signal) => this.#pulls.forgetManifestPulls(repository, digests, signal);

  /** The host clock: one database file is used from one host. */
  readonly shared = false;

  clock(): number {
    return Date.now();
  }

  /** Runs `SELECT 1`; throws (with the SQLite error as cause) when it fails or the store is closed. */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    try {
      if (!this.#db.open) throw new Error('the metadata store is closed');
      this.#stmt.health.get();
    } catch (err) {
      throw new Error(`SQLite metadata store is unhealthy: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Closes the database; later calls reject. Idempotent. */
  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

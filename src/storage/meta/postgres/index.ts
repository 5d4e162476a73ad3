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
 * AbortSignal: checked at entry and before COMMIT. An abort while a statement
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
import pg from 'pg';
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
import { clampLimit, migrate, statements, withoutNulls, type Nullable, type StatementName, type TxQuery } from './schema.js';
import { inUse, markTx, reserveTx, unlinkIfTx, unmarkTx } from './lifecycle.js';
import { deleteManifestIfTx, deleteTagTx, putManifestTx } from './manifests.js';
import { DEADLOCK, DISK_FULL, runAbortable, sqlState, UNIQUE_VIOLATION, unavailableReason } from './run.js';
import { DatabaseClock } from './clock.js';
import { StorageFullError, StoreUnavailableError } from '../../errors.js';
import { appendEventsTx, createRepositoryTx, manifestFactsTx, toEntries, type OutboxRow } from './outbox.js';
import type { ClaimOptions, EventContext, EventFailure, OutboxEntry, RegistryEvent } from '../events.js';
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';
import { auditColumns, auditListValues, toAuditEntries } from './audit.js';
import { deleteManifestEvents, deleteTagEvents, linkBlobEvents, putManifestEvents } from '../event-records.js';

/**
 * pg.Pool settings (`connectionString` or host/user/..., `max`: pool size, default 10;
 * `connectionTimeoutMillis`, default here 5000; `keepAlive`, default here true) and the store's own.
 */
export interface PostgresMetadataStoreOptions extends pg.PoolConfig {
  /** Schema of the tables; created at open when absent (needs CREATE on the database). Default `public`. */
  readonly schema?: string;
  /** checkHealth fails after this many milliseconds without an answer. Default 5000. */
  readonly healthTimeoutMs?: number;
  /** A statement of a store method without an answer for this long fails with StoreUnavailableError. Default 10000. */
  readonly queryTimeoutMs?: number;
  /** Called with errors of idle pooled connections (the pool drops them; the next query reconnects). */
  readonly onIdleError?: (err: Error) => void;
  /** This process's clock, to which clock() adds the measured offset to the database's. Default Date.now (tests skew it). */
  readonly localClock?: () => number;
}

/** pg takes a per-statement read timeout that its types do not declare. */
type TimedQuery = pg.QueryConfig & { readonly query_timeout: number };

/** How the store is named in StoreUnavailableError. */
const STORE = 'PostgreSQL metadata store';

const TX_ATTEMPTS = 3;
/** The int8 type, read as a number: sizes, offsets, timestamps and counts stay below 2^53. */
const INT8 = 20;

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
  readonly #pool: pg.Pool;
  readonly #config: pg.ClientConfig;
  readonly #sql: ReturnType<typeof statements>;
  readonly #healthTimeoutMs: number;
  readonly #clock: DatabaseClock;
  readonly #queryTimeoutMs: number;
  #closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, config: pg.ClientConfig, schema: string, healthTimeoutMs: number, queryTimeoutMs: number, clock: DatabaseClock) {
    this.#pool = pool;
    this.#clock = clock;
    this.#config = config;
    this.#sql = statements(pg.escapeIdentifier(schema));
    this.#healthTimeoutMs = healthTimeoutMs;
    this.#queryTimeoutMs = queryTimeoutMs;
  }

  /** See openPostgresMetadataStore. */
  static async open(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
    const { schema = 'public', healthTimeoutMs = 5000, queryTimeoutMs = 10_000, onIdleError, localClock, ...given } = options;
    const config = { connectionTimeoutMillis: 5000, keepAlive: true, ...given };
    const types = config.types ?? pg.types;
    const getTypeParser = ((oid: number, format?: string) => (oid === INT8 ? Number : types.getTypeParser(oid, format as 'text'))) as pg.CustomTypesConfig['getTypeParser'];
    const pool = new pg.Pool({ ...config, types: { getTypeParser } });
    // Without listeners a connection error (server restart, pg_terminate_backend) would crash the process:
    // the pool reports idle connections' errors; a connection ending or between statements just fails its next use.
    pool.on('error', (err) => onIdleError?.(err));
    pool.on('connect', (client) => client.on('error', () => {}));
    const clock = new DatabaseClock(pool, localClock, queryTimeoutMs);
    try {
      await migrate(pool, schema);
      await clock.start();
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PostgresMetadataStore(pool, config, schema, healthTimeoutMs, queryTimeoutMs, clock);
  }

  /** The database's clock (clock.ts), shared by every replica. */
  clock(): number {
    return this.#clock.now();
  }

  async repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#one(signal, 'repositoryExists', [repository])) !== undefined;
  }

  async listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    const rows = await this.#page<{ name: string }>(signal, page, 'listRepositories', 'listRepositoriesAfter', []);
    return rows.map((r) => r.name);
  }

  async linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal, context?: EventContext): Promise<void> {
    if (context === undefined) {
      await this.#write(signal, 'linkBlob', [repository, blob.digest, blob.size, now]);
      return;
    }
    await this.#transaction(signal, async (query) => {
      const created = await createRepositoryTx(query, repository, now);
      await query('linkBlob', [repository, blob.digest, blob.size, now]);
      await appendEventsTx(query, linkBlobEvents(repository, blob, created, now, context));
    });
  }

  async getBlobLink(repository: string, digest: Digest, signal?: AbortSignal): Promise<BlobLink | undefined> {
    return this.#one<BlobLink>(signal, 'getBlobLink', [repository, digest]);
  }

  async touchBlobLink(repository: string, digest: Digest, now: number, signal?: AbortSignal): Promise<boolean> {
    // 0 rows also when the receipt is newer already: then the link exists.
    return (await this.#write(signal, 'touchBlobLink', [repository, digest, now])) > 0 || (await this.#one<{ found: boolean }>(signal, 'blobLinkedIn', [repository, digest]))?.found === true;
  }

  async listReclaimableBlobLinks(repository: string, touchedBefore: number, page: PageOptions, signal?: AbortSignal): Promise<BlobLink[]> {
    if (!(page.limit > 0)) return [];
    return this.#rows<BlobLink>(signal, 'listReclaimableBlobLinks', [repository, page.last ?? '', touchedBefore, Math.floor(page.limit)]);
  }

  async unlinkBlobIf(repository: string, digest: Digest, conditions: BlobUnlinkConditions, signal?: AbortSignal): Promise<boolean> {
    return this.#transaction(signal, (query) => unlinkIfTx(query, repository, digest, conditions));
  }

  async unlinkBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'unlinkBlob', [repository, digest, this.clock()])) > 0;
  }

  async listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]> {
    return this.#page<BlobRef>(signal, page, 'listBlobLinks', 'listBlobLinksAfter', [repository]);
  }

  async putManifest(input: PutManifestInput, signal?: AbortSignal, context?: EventContext): Promise<PutManifestResult> {
    // A refused put writes nothing: the manifest row of a tag taken is rolled back.
    if (context === undefined) return this.#transaction(signal, (query) => putManifestTx(query, input), (result) => result.ok);
    return this.#transaction(signal, async (query) => {
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
    const row = await this.#one<Row>(signal, 'getManifest', [repository, digest]);
    return row === undefined ? undefined : { repository, digest, ...withoutNulls(row) };
  }

  async deleteManifest(repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    if (context === undefined) return (await this.#write(signal, 'deleteManifest', [repository, digest])) > 0;
    return this.#transaction(signal, async (query) => {
      const found = await manifestFactsTx(query, repository, digest);
      if (found === undefined) return false;
      await query('deleteManifest', [repository, digest]);
      await appendEventsTx(query, deleteManifestEvents(found.facts, found.tags, this.clock(), context));
      return true;
    });
  }

  async getTag(repository: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    return (await this.#one<{ digest: Digest }>(signal, 'getTag', [repository, tag]))?.digest;
  }

  async deleteTag(repository: string, tag: string, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    return this.#transaction(signal, async (query) => {
      const digest = context === undefined ? undefined : (await query<{ digest: string }>('getTag', [repository, tag])).rows[0]?.digest;
      const deleted = await deleteTagTx(query, repository, tag, this.clock());
      if (deleted && context !== undefined && digest !== undefined) await appendEventsTx(query, deleteTagEvents(repository, tag, digest, this.clock(), context));
      return deleted;
    });
  }

  async listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<Digest[]> {
    const rows = await this.#page<{ digest: Digest }>(signal, page, 'listManifests', 'listManifestsAfter', [repository]);
    return rows.map((r) => r.digest);
  }

  async listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    const rows = await this.#page<{ tag: string }>(signal, page, 'listTags', 'listTagsAfter', [repository]);
    return rows.map((r) => r.tag);
  }

  async listReferrers(repository: string, subject: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]> {
    type Row = Nullable<ReferrerRecord, 'artifactType' | 'annotations'>;
    const rows = await (artifactType === undefined
      ? this.#rows<Row>(signal, 'listReferrers', [repository, subject])
      : this.#rows<Row>(signal, 'listReferrersOfType', [repository, subject, artifactType]));
    return rows.map(withoutNulls);
  }

  /** Throws when the id exists (the unique violation, as cause), keeping the first session. */
  async createUpload(session: UploadSession, signal?: AbortSignal): Promise<void> {
    try {
      await this.#write(signal, 'createUpload', [session.id, session.repository, session.offset, session.createdAt, session.updatedAt]);
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw new Error(`upload session ${session.id} already exists`, { cause: err });
      throw err;
    }
  }

  async getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined> {
    return this.#one<UploadSession>(signal, 'getUpload', [id]);
  }

  async updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'updateUpload', [id, offset, updatedAt])) > 0;
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'deleteUpload', [id])) > 0;
  }

  async countUploads(signal?: AbortSignal): Promise<number> {
    return (await this.#one<{ n: number }>(signal, 'countUploads', []))?.n ?? 0;
  }

  async listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]> {
    const n = clampLimit(limit);
    this.#enter(signal);
    if (n === 0) return [];
    return this.#rows<UploadSession>(signal, 'listIdleUploads', [before, n]);
  }

  async stats(signal?: AbortSignal): Promise<StoreStats> {
    return (await this.#one<StoreStats>(signal, 'stats', [])) as StoreStats;
  }

  async reserveBlob(digest: Digest, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#transaction(signal, (query) => reserveTx(query, digest, holder, now, ttlMs));
  }

  async releaseBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    await this.#write(signal, 'releaseBlob', [digest, holder]);
  }

  async markBlobForDeletion(digest: Digest, holder: string, options: MarkBlobOptions, signal?: AbortSignal): Promise<boolean> {
    // A linked or referenced digest (most of them) is refused without a transaction or lock.
    if (await this.#withClient(signal, true, (query) => inUse(query, digest))) return false;
    return this.#transaction(signal, (query) => markTx(query, digest, holder, options), options.dryRun !== true);
  }

  async unmarkBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    await this.#transaction(signal, (query) => unmarkTx(query, digest, holder));
  }

  async listTagRecords(repository: string, page: PageOptions, signal?: AbortSignal): Promise<TagRecord[]> {
    return this.#page<TagRecord>(signal, page, 'listTagRecords', 'listTagRecordsAfter', [repository]);
  }

  async deleteTagIf(repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'deleteTagIf', [repository, tag, expected.digest, expected.updatedAt])) > 0;
  }

  async deleteManifestIf(repository: string, digest: Digest, conditions: ManifestDeleteConditions, signal?: AbortSignal): Promise<boolean> {
    return this.#transaction(signal, (query) => deleteManifestIfTx(query, repository, digest, conditions), conditions.dryRun !== true);
  }

  // Outbox (events.ts, outbox.ts)
  async appendEvents(events: readonly RegistryEvent[], signal?: AbortSignal): Promise<void> {
    await this.#transaction(signal, (query) => appendEventsTx(query, events));
  }

  async claimEvents(holder: string, options: ClaimOptions, signal?: AbortSignal): Promise<OutboxEntry[]> {
    const limit = clampLimit(options.limit);
    if (limit === 0) return [];
    return toEntries(await this.#transaction(signal, async (query) => (await query<OutboxRow>('claimEvents', [holder, options.now + options.leaseMs, options.now, limit])).rows));
  }

  async markEventDelivered(id: string, holder: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'eventDelivered', [id, holder])) > 0;
  }

  async markEventFailed(id: string, holder: string, nextAttemptAt: number, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'settleEvent', [id, holder, 'pending', nextAttemptAt, JSON.stringify(failure.deliveredTo), failure.error])) > 0;
  }

  async parkEvent(id: string, holder: string, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    return (await this.#write(signal, 'settleEvent', [id, holder, 'dead', Number.MAX_SAFE_INTEGER, JSON.stringify(failure.deliveredTo), failure.error])) > 0;
  }

  async listEvents(state: 'pending' | 'dead', options: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#enter(signal);
    const limit = clampLimit(options.limit);
    if (limit === 0) return [];
    return toEntries(await this.#rows<OutboxRow>(signal, 'listEvents', [state, options.afterSeq ?? -1, limit]));
  }

  async replayEvents(ids: readonly string[] | undefined, now: number, signal?: AbortSignal): Promise<number> {
    return this.#write(signal, 'replayEvents', [now, ids === undefined ? null : [...ids]]);
  }

  // Audit log (audit.ts)
  async appendAudit(records: readonly AuditRecord[], signal?: AbortSignal): Promise<void> {
    if (records.length > 0) await this.#write(signal, 'appendAudit', auditColumns(records));
    else this.#enter(signal);
  }

  async listAudit(query: AuditQuery, signal?: AbortSignal): Promise<AuditEntry[]> {
    this.#enter(signal);
    const limit = clampLimit(query.limit);
    return limit === 0 ? [] : toAuditEntries(await this.#rows(signal, 'listAudit', auditListValues(query, limit)));
  }

  async pruneAudit(before: number, signal?: AbortSignal): Promise<number> {
    return this.#write(signal, 'pruneAudit', [before]);
  }

  /** `SELECT 1` within healthTimeoutMs; throws (the cause attached) when it fails, times out or the store is closed. */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${this.#healthTimeoutMs} ms`)), this.#healthTimeoutMs);
    const relay = (): void => timeout.abort(signal?.reason);
    signal?.addEventListener('abort', relay, { once: true });
    try {
      await this.#rows(timeout.signal, 'health', []);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new Error(`PostgreSQL metadata store is unhealthy: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', relay);
    }
  }

  /** Ends the pool (waiting for calls in flight); later calls reject. Idempotent. */
  async close(): Promise<void> {
    this.#clock.stop();
    this.#closing ??= this.#pool.end();
    await this.#closing;
  }

  #enter(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closing !== undefined) throw new Error('the metadata store is closed');
  }

  async #rows<R>(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<R[]> {
    return (await this.#withClient(signal, true, (query) => query<R>(name, values))).rows;
  }

  async #one<R>(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<R | undefined> {
    return (await this.#rows<R>(signal, name, values))[0];
  }

  /** Runs a single-statement write (atomic by itself); resolves with the number of rows affected. */
  async #write(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<number> {
    return (await this.#withClient(signal, false, (query) => query(name, values))).rowCount ?? 0;
  }

  async #page<R>(signal: AbortSignal | undefined, page: PageOptions, first: StatementName, after: StatementName, keys: unknown[]): Promise<R[]> {
    this.#enter(signal);
    const limit = clampLimit(page.limit);
    if (limit === 0) return [];
    return page.last === undefined ? this.#rows<R>(signal, first, [...keys, limit]) : this.#rows<R>(signal, after, [...keys, page.last, limit]);
  }

  /** BEGIN, `work`, COMMIT (ROLLBACK when `commit` is or returns false) on one connection; rolls back on any error and retries a detected deadlock. */
  async #transaction<T>(signal: AbortSignal | undefined, work: (query: TxQuery) => Promise<T>, commit: boolean | ((result: T) => boolean) = true): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withClient(signal, true, async (query, client, disarm) => {
          const control = (text: string) => client.query<pg.QueryResultRow>({ text, query_timeout: this.#queryTimeoutMs } as TimedQuery);
          await control('BEGIN');
          try {
            const result = await work(query);
            signal?.throwIfAborted();
            disarm(); // COMMIT is never cancelled: once it is sent, the outcome is its own
            await control((typeof commit === 'function' ? commit(result) : commit) ? 'COMMIT' : 'ROLLBACK');
            return result;
          } catch (err) {
            // A lost connection is discarded; the server rolls back on its own.
            if (unavailableReason(err) === undefined) await control('ROLLBACK').catch(() => {});
            throw err;
          }
        });
      } catch (err) {
        if (sqlState(err) !== DEADLOCK || attempt >= TX_ATTEMPTS || signal?.aborted) throw err;
      }
    }
  }

  /**
   * See runAbortable; statements run as named prepared statements under queryTimeoutMs.
   * The store's error boundary: a full disk becomes StorageFullError, an outage StoreUnavailableError.
   */
  async #withClient<T>(signal: AbortSignal | undefined, early: boolean, work: (query: TxQuery, client: pg.PoolClient, disarm: () => void) => Promise<T>): Promise<T> {
    this.#enter(signal);
    try {
      return await runAbortable(this.#pool, this.#config, signal, early, (client, disarm) => {
        const query: TxQuery = <R>(name: StatementName, values: unknown[]) => {
          const statement: TimedQuery = { name: `ferro_${name}`, text: this.#sql[name], values, query_timeout: this.#queryTimeoutMs };
          return client.query<R & pg.QueryResultRow>(statement);
        };
        return work(query, client, disarm);
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      if (sqlState(err) === DISK_FULL) throw new StorageFullError(err);
      const reason = unavailableReason(err);
      if (reason !== undefined) throw new StoreUnavailableError(STORE, reason, err);
      throw err;
    }
  }
}

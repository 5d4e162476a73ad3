/**
 * The connection side of the PostgreSQL MetadataStore (index.ts): the pool,
 * migration and clock at open, statements run as named prepared statements
 * under queryTimeoutMs, transactions (deadlocks retried), aborts
 * (run.ts runAbortable), health and close. The store's error boundary: a full
 * disk becomes StorageFullError, an outage StoreUnavailableError.
 */
import pg from 'pg';
import type { PageOptions } from '../types.js';
import { StorageFullError, StoreUnavailableError } from '../../errors.js';
import { migrate } from './schema.js';
import { clampLimit, statements, type StatementName, type TxQuery } from './statements.js';
import { DEADLOCK, DISK_FULL, runAbortable, sqlState, unavailableReason } from './run.js';
import { DatabaseClock } from './clock.js';

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

export class PostgresConnection {
  readonly #pool: pg.Pool;
  readonly #config: pg.ClientConfig;
  readonly #sql: ReturnType<typeof statements>;
  readonly #healthTimeoutMs: number;
  readonly #queryTimeoutMs: number;
  /** The database's clock (clock.ts), shared by every replica. */
  readonly clock: DatabaseClock;
  #closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, config: pg.ClientConfig, schema: string, healthTimeoutMs: number, queryTimeoutMs: number, clock: DatabaseClock) {
    this.#pool = pool;
    this.clock = clock;
    this.#config = config;
    this.#sql = statements(pg.escapeIdentifier(schema));
    this.#healthTimeoutMs = healthTimeoutMs;
    this.#queryTimeoutMs = queryTimeoutMs;
  }

  /** Opens the pool, migrates the schema and starts the clock; leaves nothing open when that fails. */
  static async open(options: PostgresMetadataStoreOptions): Promise<PostgresConnection> {
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
    return new PostgresConnection(pool, config, schema, healthTimeoutMs, queryTimeoutMs, clock);
  }

  /** `SELECT 1` within healthTimeoutMs; throws (the cause attached) when it fails, times out or the store is closed. */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${this.#healthTimeoutMs} ms`)), this.#healthTimeoutMs);
    const relay = (): void => timeout.abort(signal?.reason);
    signal?.addEventListener('abort', relay, { once: true });
    try {
      await this.rows(timeout.signal, 'health', []);
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
    this.clock.stop();
    this.#closing ??= this.#pool.end();
    await this.#closing;
  }

  enter(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closing !== undefined) throw new Error('the metadata store is closed');
  }

  async rows<R>(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<R[]> {
    return (await this.withClient(signal, true, (query) => query<R>(name, values))).rows;
  }

  async one<R>(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<R | undefined> {
    return (await this.rows<R>(signal, name, values))[0];
  }

  /** Runs a single-statement write (atomic by itself); resolves with the number of rows affected. */
  async write(signal: AbortSignal | undefined, name: StatementName, values: unknown[]): Promise<number> {
    return (await this.withClient(signal, false, (query) => query(name, values))).rowCount ?? 0;
  }

  async page<R>(signal: AbortSignal | undefined, page: PageOptions, first: StatementName, after: StatementName, keys: unknown[]): Promise<R[]> {
    this.enter(signal);
    const limit = clampLimit(page.limit);
    if (limit === 0) return [];
    return page.last === undefined ? this.rows<R>(signal, first, [...keys, limit]) : this.rows<R>(signal, after, [...keys, page.last, limit]);
  }

  /** BEGIN, `work`, COMMIT (ROLLBACK when `commit` is or returns false) on one connection; rolls back on any error and retries a detected deadlock. */
  async transaction<T>(signal: AbortSignal | undefined, work: (query: TxQuery) => Promise<T>, commit: boolean | ((result: T) => boolean) = true): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.withClient(signal, true, async (query, client, disarm) => {
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
  async withClient<T>(signal: AbortSignal | undefined, early: boolean, work: (query: TxQuery, client: pg.PoolClient, disarm: () => void) => Promise<T>): Promise<T> {
    this.enter(signal);
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

/**
 * Abortable work on a pg.Pool connection, for the PostgreSQL MetadataStore
 * (index.ts): an abort cancels the running statement with
 * pg_cancel_backend, sent over a separate short-lived connection (the pool
 * may be exhausted), and discards the connection. unavailableReason() tells
 * the errors that mean the database cannot be used right now; sqlState()
 * reads the others' SQLSTATE.
 */
import pg from 'pg';
import { networkFailure } from '../../errors.js';

/** PostgreSQL SQLSTATEs the store reacts to. */
export const DISK_FULL = '53100';
export const UNIQUE_VIOLATION = '23505';
export const DEADLOCK = '40P01';

/** The SQLSTATE of a database error, when it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `work` on a pooled connection. An abort while waiting for the
 * connection rejects at once. An abort while `work` runs (until `disarm`)
 * cancels the running statement and discards the connection; with `early`
 * (reads, uncommitted transactions: nothing can take effect any more) the
 * call rejects at once, otherwise (a single-statement write) it settles with
 * the statement: signal.reason when it failed, its result when it finished.
 */
export async function runAbortable<T>(
  pool: pg.Pool,
  config: pg.ClientConfig,
  signal: AbortSignal | undefined,
  early: boolean,
  work: (client: pg.PoolClient, disarm: () => void) => Promise<T>,
): Promise<T> {
  const client = await connect(pool, signal);
  let released = false;
  const release = (destroy: boolean): void => {
    if (released) return;
    released = true;
    client.release(destroy || undefined);
  };
  if (signal?.aborted) {
    release(false);
    throw signal.reason;
  }
  let cancelled = false;
  let rejectEarly!: (reason: unknown) => void;
  const aborted = new Promise<never>((_, reject) => (rejectEarly = reject));
  aborted.catch(() => {});
  const onAbort = (): void => {
    cancelled = true;
    void cancelBackend(config, client);
    if (!early) return;
    release(true); // the server rolls back whatever is uncommitted
    rejectEarly(signal?.reason);
  };
  const disarm = (): void => signal?.removeEventListener('abort', onAbort);
  signal?.addEventListener('abort', onAbort, { once: true });
  let broken = false;
  const running = (async () => {
    try {
      return await work(client, disarm);
    } catch (err) {
      broken = unavailableReason(err) !== undefined; // e.g. a read timeout: the statement may still be running
      throw err;
    } finally {
      disarm();
      release(cancelled || broken); // a connection a cancel was sent to, or that failed, is discarded
    }
  })();
  running.catch(() => {}); // it may settle after an early rejection
  try {
    return await (early ? Promise.race([running, aborted]) : running);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/** pool.connect(), rejecting with signal.reason on abort; a connection arriving later goes back to the pool. */
function connect(pool: pg.Pool, signal: AbortSignal | undefined): Promise<pg.PoolClient> {
  if (signal === undefined) return pool.connect();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    pool
      .connect()
      .then((client) => (signal.aborted ? client.release() : resolve(client)), reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Cancels the statement running on `client`'s backend (best effort). */
async function cancelBackend(config: pg.ClientConfig, client: pg.PoolClient): Promise<void> {
  const pid = (client as unknown as { processID?: unknown }).processID;
  if (typeof pid !== 'number') return;
  const canceller = new pg.Client({ ...config, connectionTimeoutMillis: config.connectionTimeoutMillis || 5000 });
  canceller.on('error', () => {});
  try {
    await canceller.connect();
    await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    // Best effort: the statement then runs to its end and the call settles with it.
  } finally {
    await canceller.end().catch(() => {});
  }
}

/** pg's own messages (it gives them no code) for a connection that failed, timed out or is gone. */
const CONNECTION_MESSAGES: ReadonlyArray<readonly [string, string]> = [
  ['timeout exceeded when trying to connect', 'no free connection in time'],
  ['Connection terminated due to connection timeout', 'no connection in time'],
  ['Connection terminated unexpectedly', 'connection lost'],
  ['Connection terminated', 'connection lost'],
  ['Client has encountered a connection error and is not queryable', 'connection lost'],
  ['Query read timeout', 'no answer in time'],
];

/** SQLSTATEs meaning the server cannot serve now (class 08: connection exceptions). */
const UNAVAILABLE_STATES: Readonly<Record<string, string>> = {
  '57014': 'statement timed out',
  '57P01': 'server shutting down',
  '57P02': 'server crashed',
  '57P03': 'server not accepting connections yet',
  '53300': 'too many connections',
  '53200': 'server out of memory',
  '58030': 'server I/O error',
};

/**
 * The reason when `err` means the database cannot be used right now
 * (unreachable, connection lost, no answer or connection in time, shutting
 * down or starting up, out of connections), else undefined.
 */
export function unavailableReason(err: unknown): string | undefined {
  const code = sqlState(err);
  if (code !== undefined) {
    if (code in UNAVAILABLE_STATES) return UNAVAILABLE_STATES[code];
    if (/^08[0-9A-Z]{3}$/.test(code)) return 'connection failure';
  }
  const network = networkFailure(err);
  if (network !== undefined) return network;
  const message = err instanceof Error ? err.message : '';
  return CONNECTION_MESSAGES.find(([m]) => message === m)?.[1];
}

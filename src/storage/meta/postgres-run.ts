/**
 * Abortable work on a pg.Pool connection, for the PostgreSQL MetadataStore
 * (postgres.ts): an abort cancels the running statement with
 * pg_cancel_backend, sent over a separate short-lived connection (the pool
 * may be exhausted), and discards the connection.
 */
import pg from 'pg';

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
  const running = (async () => {
    try {
      return await work(client, disarm);
    } finally {
      disarm();
      release(cancelled); // a connection a cancel was sent to is discarded
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

/**
 * The clock replicas share (types.ts MetadataStore.clock): PostgreSQL's.
 * Leases, reservations, receipts and grace decisions compare times written by
 * different processes, so they must come from one clock, not from each
 * replica's own (a replica whose clock is off by about a lease would bring
 * back the race the leases prevent). Reading the database's clock on every
 * decision would cost a round trip each; instead the offset between the
 * local clock and `clock_timestamp()` is measured at open and every
 * SYNC_INTERVAL_MS (the midpoint of the round trip: error at most half of
 * it), and `now()` is the local clock plus that offset.
 */
import type pg from 'pg';

export const CLOCK_SYNC_INTERVAL_MS = 30_000;
const SQL = 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now';

export class DatabaseClock {
  #offset = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** This process's clock. */
    private readonly local: () => number = Date.now,
    /** A measure without an answer in this time fails (a frozen database must not hold a pooled connection forever). */
    private readonly queryTimeoutMs = 10_000,
  ) {}

  /** The database's time now, in ms since the epoch. */
  now(): number {
    return Math.round(this.local() + this.#offset);
  }

  /** The last measured difference database − local, ms. */
  get offsetMs(): number {
    return this.#offset;
  }

  /** Measures the offset once (rejects when the database does not answer). */
  async sync(): Promise<void> {
    const before = this.local();
    const { rows } = await this.pool.query<{ now: number }>({ text: SQL, query_timeout: this.queryTimeoutMs } as pg.QueryConfig);
    const after = this.local();
    this.#offset = Number(rows[0]!.now) - (before + after) / 2;
  }

  /** Measures now, then every `intervalMs` in the background (a failed measure keeps the last offset). */
  async start(intervalMs = CLOCK_SYNC_INTERVAL_MS): Promise<void> {
    await this.sync();
    this.#timer = setInterval(() => void this.sync().catch(() => undefined), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

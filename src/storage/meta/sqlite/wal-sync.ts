/**
 * Group commit of the SQLite MetadataStore. The database runs WAL with
 * synchronous=NORMAL: a commit write()s its WAL frames and returns without
 * fsync, so it survives kill -9 of the process (the frames are in the OS page
 * cache) but not yet a power loss. A write that is acknowledged as durable
 * then awaits `durable()`, which fdatasyncs the WAL file in libuv's thread
 * pool, off the event loop: one fdatasync covers every commit made before it
 * started, however many concurrent requests made them. Fsyncing the WAL after
 * the commit is what synchronous=FULL does inside it (checkpoints still sync
 * the WAL and the database themselves under NORMAL), so an acknowledged write
 * survives power loss as before.
 */
import { open } from 'node:fs/promises';
import { StoreUnavailableError } from '../../errors.js';
import { writing } from './connection.js';

export class WalSync {
  /** The fdatasync in flight, and the one queued behind it for commits made since it started. */
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  /** `walPath`: the database's `-wal` file; undefined for a database in memory (nothing to sync). */
  constructor(private readonly walPath: string | undefined) {}

  /** Runs a write (see writing), then waits until it is on disk. */
  async durably<T>(write: () => T): Promise<T> {
    const result = writing(write);
    await this.durable();
    return result;
  }

  /**
   * Resolves once every commit made before the call is on disk. Rejects with
   * StoreUnavailableError when the sync fails: the commits stand, but may not
   * be on disk (their effect is unknown, as with a lost connection).
   */
  durable(): Promise<void> {
    if (this.walPath === undefined) return Promise.resolve();
    if (this.#running === undefined) return (this.#running = this.#sync(this.walPath));
    // The sync in flight may have started before our commit: wait for the next one.
    this.#queued ??= this.#running.then(
      () => this.#startQueued(),
      () => this.#startQueued(),
    );
    return this.#queued;
  }

  #startQueued(): Promise<void> {
    this.#queued = undefined;
    return this.durable();
  }

  async #sync(path: string): Promise<void> {
    try {
      // Opened per sync: SQLite may delete and recreate the WAL (after the last connection closes).
      const file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // no WAL: every commit is checkpointed (and synced) into the database
        throw err;
      });
      if (file === undefined) return;
      try {
        await file.datasync();
      } finally {
        await file.close();
      }
    } catch (err) {
      throw new StoreUnavailableError('SQLite metadata store', `cannot sync its write-ahead log: ${(err as { code?: string }).code ?? String(err)}`, err);
    } finally {
      this.#running = undefined;
    }
  }
}

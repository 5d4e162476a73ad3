/**
 * Cached pages of tags of the SQLite MetadataStore: a page read again while
 * the database has not changed is answered from memory, the same frozen
 * array each time. "Not changed" is checked on every read, in one statement:
 * total_changes() counts this connection's row changes (every write of ours
 * changes at least one row directly, whatever it cascades to) and
 * data_version changes when another connection, in this process or another,
 * commits. Any change empties the whole cache, so a page is never staler than
 * the read that answers it.
 */
import type Database from 'better-sqlite3';

/** Cached entries at most (names summed over the pages), so the cache stays a few MiB. */
const MAX_ENTRIES = 20_000;

export class ListingCache {
  readonly #version: Database.Statement<[], unknown[]>;
  #token = '';
  #entries = 0;
  readonly #pages = new Map<string, readonly string[]>();

  constructor(db: Database.Database) {
    this.#version = db.prepare<[], unknown[]>('SELECT total_changes(), data_version FROM pragma_data_version').raw();
  }

  /** The page under `key`, from the cache while the database is unchanged, else from `read` (then cached). */
  page(key: string, read: () => string[]): readonly string[] {
    const token = (this.#version.get() as unknown[]).join(':');
    if (token !== this.#token) {
      this.#pages.clear();
      this.#entries = 0;
      this.#token = token;
    }
    const cached = this.#pages.get(key);
    if (cached !== undefined) return cached;
    const rows = Object.freeze(read());
    if (rows.length <= MAX_ENTRIES) {
      if (this.#entries + rows.length > MAX_ENTRIES) {
        this.#pages.clear();
        this.#entries = 0;
      }
      this.#pages.set(key, rows);
      this.#entries += rows.length;
    }
    return rows;
  }
}

/**
 * Opening the database of the SQLite MetadataStore (index.ts): WAL, a busy
 * timeout, synchronous NORMAL (the writes that must survive power loss sync
 * the WAL after their commit: wal-sync.ts), foreign keys, the schema migrated (schema.ts) and
 * every statement prepared once. Closes the database and throws when a step
 * fails (a file that cannot be opened, cannot use WAL or was written by a
 * newer schema version). And the store's error boundary for writes (writing).
 */
import Database from 'better-sqlite3';
import { SQL, migrate, type Statements } from './schema.js';
import { StorageFullError, StoreUnavailableError } from '../../errors.js';
import type { PageOptions } from '../types.js';

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** Statements whose rows are their single column's value (`.pluck()`). */
const PLUCKED = ['listTags', 'listTagsAfter', 'listRepositories', 'listRepositoriesAfter'] as const satisfies readonly (keyof typeof SQL)[];

export function openDatabase(path: string): { readonly db: Database.Database; readonly stmt: Statements } {
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && mode !== 'memory') throw new Error(`cannot enable WAL on ${path}: journal_mode is ${String(mode)}`);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    const stmt = {} as Record<keyof typeof SQL, Database.Statement<unknown[], unknown>>;
    for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) stmt[key] = db.prepare<unknown[], unknown>(SQL[key]);
    // One-column listings answer the column's values, not one object per row.
    for (const key of PLUCKED) stmt[key].pluck();
    return { db, stmt };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Runs a write; a full volume (SQLITE_FULL, the write rolled back) becomes
 * StorageFullError; a lock still held by another process after the busy
 * timeout, or an I/O error, becomes StoreUnavailableError.
 */
export function writing<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_FULL') throw new StorageFullError(err);
    if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|READONLY_DBMOVED)/.test(code)) throw new StoreUnavailableError('SQLite metadata store', code, err);
    throw err;
  }
}

/** A non-negative integer limit; SQLite reads a negative LIMIT as "no limit". */
export function clampLimit(limit: number): number {
  return limit > 0 ? Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER) : 0;
}

export function pageLimit(page: PageOptions): number {
  return clampLimit(page.limit);
}

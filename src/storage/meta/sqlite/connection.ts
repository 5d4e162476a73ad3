/**
 * Opening the database of the SQLite MetadataStore (index.ts): WAL, a busy
 * timeout, synchronous FULL, foreign keys, the schema migrated (schema.ts) and
 * every statement prepared once. Closes the database and throws when a step
 * fails (a file that cannot be opened, cannot use WAL or was written by a
 * newer schema version).
 */
import Database from 'better-sqlite3';
import { SQL, migrate, type Statements } from './schema.js';

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

export function openDatabase(path: string): { readonly db: Database.Database; readonly stmt: Statements } {
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && mode !== 'memory') throw new Error(`cannot enable WAL on ${path}: journal_mode is ${String(mode)}`);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    const stmt = {} as Record<keyof typeof SQL, Database.Statement<unknown[], unknown>>;
    for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) stmt[key] = db.prepare<unknown[], unknown>(SQL[key]);
    return { db, stmt };
  } catch (err) {
    db.close();
    throw err;
  }
}

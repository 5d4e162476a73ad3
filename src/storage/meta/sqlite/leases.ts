/**
 * The leases of the SQLite MetadataStore (../leases.ts LeaseStore): table
 * `leases` (schema version 6). acquire runs in one IMMEDIATE transaction.
 */
import type Database from 'better-sqlite3';

export const LEASES_MIGRATION = `
  CREATE TABLE leases (
    key TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX leases_by_expiry ON leases (expires_at);
`;

const SQL = {
  prune: 'DELETE FROM leases WHERE expires_at <= ?',
  // Takes a free key, or renews the holder's own (expired ones are pruned first).
  take: `INSERT INTO leases (key, holder, expires_at) VALUES (@key, @holder, @until)
         ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE leases.holder = excluded.holder`,
  renew: 'UPDATE leases SET expires_at = @until WHERE key = @key AND holder = @holder AND expires_at > @now',
  release: 'DELETE FROM leases WHERE key = ? AND holder = ?',
} as const;

export interface SqliteLeases {
  acquire(key: string, holder: string, now: number, ttlMs: number): boolean;
  renew(key: string, holder: string, now: number, ttlMs: number): boolean;
  release(key: string, holder: string): void;
}

export function sqliteLeases(db: Database.Database): SqliteLeases {
  const prune = db.prepare<[number]>(SQL.prune);
  const take = db.prepare<[Record<string, unknown>]>(SQL.take);
  const renew = db.prepare<[Record<string, unknown>]>(SQL.renew);
  const release = db.prepare<[string, string]>(SQL.release);
  const acquire = db.transaction((key: string, holder: string, now: number, ttlMs: number): boolean => {
    prune.run(now);
    return take.run({ key, holder, until: now + ttlMs }).changes > 0;
  }).immediate;
  return {
    acquire,
    renew: (key, holder, now, ttlMs) => renew.run({ key, holder, now, until: now + ttlMs }).changes > 0,
    release: (key, holder) => void release.run(key, holder),
  };
}

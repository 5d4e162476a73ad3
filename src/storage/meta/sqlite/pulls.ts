/**
 * The pull log of the SQLite MetadataStore (../pulls.ts PullLog): table
 * `manifest_pulls` (schema version 8).
 */
import type Database from 'better-sqlite3';
import type { Digest } from '../../../oci/digest-type.js';
import { latestPulls, type ManifestPull, type PullLog } from '../pulls.js';
import { pageLimit } from './connection.js';

export const PULLS_MIGRATION = `
  CREATE TABLE manifest_pulls (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    pulled_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
  ) STRICT, WITHOUT ROWID;
`;

const SQL = {
  record: `INSERT INTO manifest_pulls (repository, digest, pulled_at) VALUES (?, ?, ?)
           ON CONFLICT (repository, digest) DO UPDATE SET pulled_at = max(pulled_at, excluded.pulled_at)`,
  list: 'SELECT repository, digest, pulled_at AS pulledAt FROM manifest_pulls WHERE repository = ? AND digest > ? ORDER BY digest LIMIT ?',
  forget: 'DELETE FROM manifest_pulls WHERE repository = ? AND digest = ?',
} as const;

/**
 * The pull log on `db` (migrated): `enter` is the store's entry check,
 * `writing` maps a failed write to the store's errors; record and forget run
 * in one IMMEDIATE transaction each.
 */
export function sqlitePulls(db: Database.Database, enter: (signal: AbortSignal | undefined) => void, writing: <T>(write: () => T) => T): PullLog {
  const insert = db.prepare<[string, string, number]>(SQL.record);
  const list = db.prepare<[string, string, number], ManifestPull>(SQL.list);
  const remove = db.prepare<[string, string]>(SQL.forget);
  const record = db.transaction((pulls: readonly ManifestPull[]) => {
    for (const p of latestPulls(pulls)) insert.run(p.repository, p.digest, p.pulledAt);
  }).immediate;
  const forget = db.transaction((repository: string, digests: readonly Digest[]) => {
    let n = 0;
    for (const d of new Set(digests)) n += remove.run(repository, d).changes;
    return n;
  }).immediate;
  return {
    recordManifestPulls: async (pulls, signal) => {
      enter(signal);
      if (pulls.length > 0) writing(() => record(pulls));
    },
    listManifestPulls: async (repository, page, signal) => {
      enter(signal);
      const limit = pageLimit(page);
      return limit > 0 ? list.all(repository, page.last ?? '', limit) : [];
    },
    forgetManifestPulls: async (repository, digests, signal) => {
      enter(signal);
      return writing(() => forget(repository, digests));
    },
  };
}

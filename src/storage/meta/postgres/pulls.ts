/**
 * The pull log of the PostgreSQL MetadataStore (../pulls.ts PullLog): table
 * `manifest_pulls` (schema version 9), as SQLite's (version 8).
 */
import { latestPulls, type ManifestPull } from '../pulls.js';

export const PULLS_MIGRATION = (s: string): string => `
  CREATE TABLE ${s}.manifest_pulls (
    repository text COLLATE "C" NOT NULL,
    digest text COLLATE "C" NOT NULL,
    pulled_at bigint NOT NULL,
    PRIMARY KEY (repository, digest)
  );
`;

export function pullStatements(s: string) {
  return {
    // $1 repositories, $2 digests, $3 times (one entry per key: latestPulls)
    recordPulls: `INSERT INTO ${s}.manifest_pulls AS p (repository, digest, pulled_at)
                  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                  ON CONFLICT (repository, digest) DO UPDATE SET pulled_at = greatest(p.pulled_at, excluded.pulled_at)`,
    listPulls: `SELECT repository, digest, pulled_at AS "pulledAt" FROM ${s}.manifest_pulls WHERE repository = $1 ORDER BY digest LIMIT $2`,
    listPullsAfter: `SELECT repository, digest, pulled_at AS "pulledAt" FROM ${s}.manifest_pulls WHERE repository = $1 AND digest > $2 ORDER BY digest LIMIT $3`,
    forgetPulls: `DELETE FROM ${s}.manifest_pulls WHERE repository = $1 AND digest = ANY($2::text[])`,
  } as const;
}

/** The values of recordPulls for `pulls`. */
export function pullColumns(pulls: readonly ManifestPull[]): unknown[] {
  const latest = latestPulls(pulls);
  return [latest.map((p) => p.repository), latest.map((p) => p.digest), latest.map((p) => p.pulledAt)];
}

/**
 * The leases of the PostgreSQL MetadataStore (../leases.ts LeaseStore):
 * table `leases` (schema version 7), as SQLite's (version 6). Each method is
 * one statement; acquire's INSERT … ON CONFLICT serializes on the key's row.
 */
export const LEASES_MIGRATION = (s: string): string => `
  CREATE TABLE ${s}.leases (
    key text COLLATE "C" NOT NULL PRIMARY KEY,
    holder text NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE INDEX leases_by_expiry ON ${s}.leases (expires_at);
`;

export function leaseStatements(s: string) {
  return {
    // $1 key, $2 holder, $3 until, $4 now. Takes a free or expired key, or renews the holder's own; along the
    // way removes a few expired leases of other keys (SKIP LOCKED: replicas pruning at once never wait on each other).
    acquireLease: `WITH pruned AS (
                     DELETE FROM ${s}.leases WHERE key IN (
                       SELECT key FROM ${s}.leases WHERE expires_at <= $4 AND key <> $1 ORDER BY expires_at LIMIT 16 FOR UPDATE SKIP LOCKED)
                   )
                   INSERT INTO ${s}.leases AS l (key, holder, expires_at) VALUES ($1, $2, $3)
                   ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                   WHERE l.holder = excluded.holder OR l.expires_at <= $4`,
    // $1 key, $2 holder, $3 until, $4 now
    renewLease: `UPDATE ${s}.leases SET expires_at = $3 WHERE key = $1 AND holder = $2 AND expires_at > $4`,
    // $1 key, $2 holder
    releaseLease: `DELETE FROM ${s}.leases WHERE key = $1 AND holder = $2`,
  } as const;
}

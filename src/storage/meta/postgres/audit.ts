/**
 * The audit log of the PostgreSQL MetadataStore (../audit.ts AuditLog):
 * table `audit` (schema version 6), as SQLite's (version 5).
 */
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';

export const AUDIT_MIGRATION = (s: string): string => `
  CREATE TABLE ${s}.audit (
    seq bigserial PRIMARY KEY,
    at bigint NOT NULL,
    actor text COLLATE "C" NOT NULL,
    repository text COLLATE "C",
    data jsonb NOT NULL
  );
  CREATE INDEX audit_time ON ${s}.audit (at);
  CREATE INDEX audit_actor ON ${s}.audit (actor, seq);
  CREATE INDEX audit_repository ON ${s}.audit (repository, seq);
`;

export function auditStatements(s: string) {
  return {
    // $1 times, $2 actors, $3 repositories, $4 records (JSON text)
    appendAudit: `INSERT INTO ${s}.audit (at, actor, repository, data)
                  SELECT a.t, a.actor, a.repo, a.data::jsonb FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS a (t, actor, repo, data, n) ORDER BY a.n`,
    // $1 after seq, $2 since, $3 until, $4 actor (NULL: any), $5 repository (NULL: any), $6 limit
    listAudit: `SELECT seq, data FROM ${s}.audit WHERE seq > $1 AND at >= $2 AND at < $3
                  AND ($4::text IS NULL OR actor = $4) AND ($5::text IS NULL OR repository = $5) ORDER BY seq LIMIT $6`,
    pruneAudit: `DELETE FROM ${s}.audit WHERE at < $1`,
  } as const;
}

/** The values of appendAudit for `records`. */
export function auditColumns(records: readonly AuditRecord[]): unknown[] {
  return [records.map((r) => r.time), records.map((r) => r.actor), records.map((r) => r.repository ?? null), records.map((r) => JSON.stringify(r))];
}

/** The values of listAudit for `q` (limit already clamped). */
export function auditListValues(q: AuditQuery, limit: number): unknown[] {
  return [q.afterSeq ?? 0, q.since ?? Number.MIN_SAFE_INTEGER, q.until ?? Number.MAX_SAFE_INTEGER, q.actor ?? null, q.repository ?? null, limit];
}

export function toAuditEntries(rows: readonly { seq: number | string; data: AuditRecord }[]): AuditEntry[] {
  return rows.map((row) => ({ ...row.data, seq: Number(row.seq) }));
}

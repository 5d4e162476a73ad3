/**
 * The audit log of the SQLite MetadataStore (../audit.ts AuditLog): table
 * `audit` (schema version 5); the record is kept whole as JSON in `data`,
 * with the columns a query filters on beside it.
 */
import type Database from 'better-sqlite3';
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';

export const AUDIT_MIGRATION = `
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    repository TEXT,
    data TEXT NOT NULL CHECK (json_valid(data))
  ) STRICT;
  CREATE INDEX audit_time ON audit (at);
  CREATE INDEX audit_actor ON audit (actor, seq);
  CREATE INDEX audit_repository ON audit (repository, seq);
`;

const SQL = {
  insert: 'INSERT INTO audit (at, actor, repository, data) VALUES (?, ?, ?, ?)',
  list: `SELECT seq, data FROM audit WHERE seq > @after AND at >= @since AND at < @until
           AND (@actor IS NULL OR actor = @actor) AND (@repository IS NULL OR repository = @repository)
         ORDER BY seq LIMIT @limit`,
  prune: 'DELETE FROM audit WHERE at < ?',
} as const;

export interface SqliteAudit {
  append(records: readonly AuditRecord[]): void;
  list(query: AuditQuery): AuditEntry[];
  prune(before: number): number;
}

/** The audit statements on `db` (migrated); append runs in one IMMEDIATE transaction. */
export function sqliteAudit(db: Database.Database): SqliteAudit {
  const insert = db.prepare<unknown[]>(SQL.insert);
  const list = db.prepare<[Record<string, unknown>], { seq: number; data: string }>(SQL.list);
  const prune = db.prepare<[number]>(SQL.prune);
  const append = db.transaction((records: readonly AuditRecord[]) => {
    for (const r of records) insert.run(r.time, r.actor, r.repository ?? null, JSON.stringify(r));
  }).immediate;
  return {
    append,
    list: (q) =>
      list
        .all({ after: q.afterSeq ?? 0, since: q.since ?? Number.MIN_SAFE_INTEGER, until: q.until ?? Number.MAX_SAFE_INTEGER, actor: q.actor ?? null, repository: q.repository ?? null, limit: Math.max(0, Math.floor(q.limit)) })
        .map((row) => ({ ...(JSON.parse(row.data) as AuditRecord), seq: row.seq })),
    prune: (before) => prune.run(before).changes,
  };
}

/**
 * Repository summaries of the SQLite MetadataStore (../summaries.ts): one
 * statement per sort order over `repositories`, the tag count and last push
 * read from the `tags` primary key (repository, tag) and the bytes from the
 * `blob_links` primary key (repository, digest), per repository. Sorted by
 * name, only the page's rows are summarized (the OFFSET rows are skipped
 * before the subqueries run); sorted by push or size, every matching one is.
 * Its index `tags_by_time` (schema version 9) makes the last push one seek.
 * No table of its own: nothing to keep in step with the writes.
 */
import type Database from 'better-sqlite3';
import type { RepositorySummaryPage, RepositorySummaryQuery, RepositorySummaryRecord } from '../summaries.js';

/** @search: NULL or a lowercase substring; @names: NULL or a JSON array of names. */
export const SUMMARY_MIGRATION = `
  CREATE INDEX tags_by_time ON tags (repository, updated_at);
`;

const MATCHING = `FROM repositories r
  WHERE (@search IS NULL OR instr(lower(r.name), @search) > 0)
    AND (@names IS NULL OR r.name IN (SELECT value FROM json_each(@names)))`;

const ORDER = {
  name: 'r.name',
  pushed: 'pushed_at DESC, r.name', // NULL sorts lowest: repositories without tags come last
  size: 'bytes DESC, r.name',
} as const;

const page = (order: string) => `SELECT r.name AS name,
    (SELECT count(*) FROM tags t WHERE t.repository = r.name) AS tags,
    (SELECT max(t.updated_at) FROM tags t WHERE t.repository = r.name) AS pushed_at,
    (SELECT coalesce(sum(b.size), 0) FROM blob_links b WHERE b.repository = r.name) AS bytes
  ${MATCHING} ORDER BY ${order} LIMIT @limit OFFSET @offset`;

export const SUMMARY_SQL = {
  count: `SELECT count(*) AS n ${MATCHING}`,
  name: page(ORDER.name),
  pushed: page(ORDER.pushed),
  size: page(ORDER.size),
} as const;

interface Row {
  readonly name: string;
  readonly tags: number;
  readonly pushed_at: number | null;
  readonly bytes: number;
}

/** listRepositorySummaries on `db` (migrated): the count and the page in one read transaction. */
export function sqliteSummaries(db: Database.Database): (query: RepositorySummaryQuery) => RepositorySummaryPage {
  const count = db.prepare<[Record<string, unknown>], { n: number }>(SUMMARY_SQL.count);
  const pages = {
    name: db.prepare<[Record<string, unknown>], Row>(SUMMARY_SQL.name),
    pushed: db.prepare<[Record<string, unknown>], Row>(SUMMARY_SQL.pushed),
    size: db.prepare<[Record<string, unknown>], Row>(SUMMARY_SQL.size),
  };
  return db.transaction((query: RepositorySummaryQuery) => {
    const filter = { search: query.search ?? null, names: query.names === undefined ? null : JSON.stringify(query.names) };
    const total = count.get(filter)!.n;
    const limit = Math.max(0, Math.floor(query.limit));
    if (limit === 0) return { total, items: [] };
    const rows = pages[query.sort].all({ ...filter, limit, offset: Math.max(0, Math.floor(query.offset)) });
    return { total, items: rows.map(toRecord) };
  });
}

function toRecord(row: Row): RepositorySummaryRecord {
  return { name: row.name, tags: row.tags, bytes: row.bytes, ...(row.pushed_at === null ? {} : { pushedAt: row.pushed_at }) };
}

/**
 * Repository summaries of the PostgreSQL MetadataStore (../summaries.ts), as
 * SQLite's: one statement per sort order (count and page in one snapshot),
 * the tag count and last push read from the `tags` primary key (repository,
 * tag), the bytes from the `blob_links` primary key (repository, digest).
 * No table or index of its own (nothing to keep in step with the writes, no
 * migration): unlike SQLite's tags_by_time, an index (repository, updated_at)
 * here wins the planner over the primary key for the tag listings on small
 * tables, which then sort.
 */
import type { RepositorySummaryPage, RepositorySummaryQuery } from '../summaries.js';

// $1 search (NULL or a lowercase substring), $2 names (NULL or text[]), $3 limit, $4 offset
const WHERE = `($1::text IS NULL OR strpos(lower(r.name), $1::text) > 0) AND ($2::text[] IS NULL OR r.name = ANY($2::text[]))`;

/** The page in `order` (inner, over the output columns) and `outer` (the same over `p`), with the total on every row, or on one row of NULLs when the page is empty. */
const page = (s: string, order: string, outer: string) => `WITH p AS (
    SELECT r.name AS name,
      (SELECT count(*) FROM ${s}.tags t WHERE t.repository = r.name) AS tags,
      (SELECT max(t.updated_at) FROM ${s}.tags t WHERE t.repository = r.name) AS pushed_at,
      (SELECT coalesce(sum(b.size), 0)::bigint FROM ${s}.blob_links b WHERE b.repository = r.name) AS bytes
    FROM ${s}.repositories r WHERE ${WHERE} ORDER BY ${order} LIMIT $3 OFFSET $4
  )
  SELECT (SELECT count(*) FROM ${s}.repositories r WHERE ${WHERE}) AS total, p.name, p.tags, p.pushed_at, p.bytes
  FROM (VALUES (1)) AS one (x) LEFT JOIN p ON true ORDER BY ${outer}`;

export function summaryStatements(s: string) {
  return {
    summariesByName: page(s, 'r.name', 'p.name'),
    summariesByPushed: page(s, 'pushed_at DESC NULLS LAST, r.name', 'p.pushed_at DESC NULLS LAST, p.name'),
    summariesBySize: page(s, 'bytes DESC, r.name', 'p.bytes DESC, p.name'),
  } as const;
}

export const SUMMARY_STATEMENT = { name: 'summariesByName', pushed: 'summariesByPushed', size: 'summariesBySize' } as const;

export interface SummaryRow {
  readonly total: number;
  readonly name: string | null;
  readonly tags: number | null;
  readonly pushed_at: number | null;
  readonly bytes: number | null;
}

/** The statement values of `query`. */
export function summaryValues(query: RepositorySummaryQuery): unknown[] {
  return [query.search ?? null, query.names === undefined ? null : [...query.names], Math.max(0, Math.floor(query.limit)), Math.max(0, Math.floor(query.offset))];
}

export function toSummaryPage(rows: readonly SummaryRow[]): RepositorySummaryPage {
  const items = rows.filter((r) => r.name !== null).map((r) => ({ name: r.name!, tags: r.tags!, bytes: r.bytes!, ...(r.pushed_at === null ? {} : { pushedAt: r.pushed_at }) }));
  return { total: rows[0]?.total ?? 0, items };
}

/** Repository summaries of the in-memory MetadataStore (../summaries.ts): computed from the repositories at each call. */
import { compareSummaries, type RepositorySummaryPage, type RepositorySummaryQuery, type RepositorySummaryRecord } from '../summaries.js';
import type { Repository } from './schema.js';

function summarize(name: string, repo: Repository): RepositorySummaryRecord {
  let pushedAt: number | undefined;
  for (const t of repo.tags.values()) if (pushedAt === undefined || t.updatedAt > pushedAt) pushedAt = t.updatedAt;
  let bytes = 0;
  for (const link of repo.links.values()) bytes += link.size;
  return { name, tags: repo.tags.size, bytes, ...(pushedAt === undefined ? {} : { pushedAt }) };
}

/** One page of `names` (every repository, in byte order) as `query` asks. */
export function listSummaries(names: readonly string[], repos: ReadonlyMap<string, Repository>, query: RepositorySummaryQuery): RepositorySummaryPage {
  const only = query.names === undefined ? undefined : new Set(query.names);
  const matching = names.filter((n) => (only === undefined || only.has(n)) && (query.search === undefined || n.toLowerCase().includes(query.search)));
  const offset = Math.max(0, Math.floor(query.offset));
  const limit = Math.max(0, Math.floor(query.limit));
  const page = (list: string[]) => list.slice(offset, offset + limit).map((n) => summarize(n, repos.get(n)!));
  if (query.sort === 'name') return { total: matching.length, items: page(matching) };
  const all = matching.map((n) => summarize(n, repos.get(n)!)).sort(compareSummaries(query.sort));
  return { total: all.length, items: all.slice(offset, offset + limit) };
}

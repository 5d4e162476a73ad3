/**
 * Repository summaries, the MetadataStore port's part for the web UI's
 * repository list (docs/ui.md): one page of repositories with their tag
 * count, last push and size, sorted and filtered in the store, so that a
 * page costs one query whatever the number of repositories. Types only.
 */

export interface RepositorySummaryRecord {
  readonly name: string;
  /** Tags of the repository. */
  readonly tags: number;
  /** Bytes of the blobs linked in the repository (BlobRef sizes, each link once). */
  readonly bytes: number;
  /** The latest TagRecord.updatedAt of the repository; absent without tags. */
  readonly pushedAt?: number;
}

export interface RepositorySummaryQuery {
  /**
   * `name`: byte order of the names; `pushed`: latest pushedAt first, then
   * repositories without tags; `size`: most bytes first. Ties by name.
   */
  readonly sort: 'name' | 'pushed' | 'size';
  /** Only names containing this (the names of the spec are lowercase: give it lowercased). */
  readonly search?: string;
  /**
   * Only these names (the caller's access filter, applied before sorting and
   * counting, so that pages stay full). Absent: every repository.
   */
  readonly names?: readonly string[];
  /** Skip this many of the sorted, filtered repositories. */
  readonly offset: number;
  readonly limit: number;
}

export interface RepositorySummaryPage {
  /** How many repositories match (search and names), whatever offset and limit. */
  readonly total: number;
  readonly items: RepositorySummaryRecord[];
}

export interface RepositorySummaries {
  /** One page of repository summaries, read in one consistent snapshot. */
  listRepositorySummaries(query: RepositorySummaryQuery, signal?: AbortSignal): Promise<RepositorySummaryPage>;
}

/** The comparator of the `sort` orders, for stores that sort in memory. */
export function compareSummaries(sort: RepositorySummaryQuery['sort']): (a: RepositorySummaryRecord, b: RepositorySummaryRecord) => number {
  const byName = (a: RepositorySummaryRecord, b: RepositorySummaryRecord) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  if (sort === 'size') return (a, b) => b.bytes - a.bytes || byName(a, b);
  if (sort === 'pushed') return (a, b) => (b.pushedAt ?? -Infinity) - (a.pushedAt ?? -Infinity) || byName(a, b);
  return byName;
}

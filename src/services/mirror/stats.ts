/** Counters of one upstream, read by the metrics plugin at scrape time. */
export interface UpstreamStats {
  /** Requests answered from the cache without asking the upstream. */
  hits: number;
  /** Requests that had to fetch from the upstream. */
  misses: number;
  /** Body bytes read from the upstream (blobs and manifests). */
  bytesFetched: number;
  /** Requests that joined another request's fetch instead of sending their own. */
  coalesced: number;
  /** Answers from the cache while the upstream failed (with a Warning header). */
  staleServes: number;
  /** Upstream failures (unreachable, timeout, 5xx, 429, auth, cut transfers, breaker open). */
  errors: number;
  /** Cached manifests evicted by the GC (eviction.ts). */
  evictions: number;
  /** Cached blob links removed by eviction (their content goes with the GC's blob scan). */
  evictedBlobs: number;
  /** The namespace's bytes after the last eviction run; absent before the first. */
  cachedBytes?: number;
}

export function emptyStats(): UpstreamStats {
  return { hits: 0, misses: 0, bytesFetched: 0, coalesced: 0, staleServes: 0, errors: 0, evictions: 0, evictedBlobs: 0 };
}

/** One line per upstream fetch (what was fetched, the outcome, bytes and time). */
export interface FetchEvent {
  readonly upstream: string;
  /** blob-head: a HEAD of an uncached blob (answered with the upstream's size). */
  readonly kind: 'manifest' | 'blob' | 'blob-head' | 'revalidate';
  readonly repository: string;
  readonly reference: string;
  /** changed: a revalidated tag points elsewhere upstream (a GET by digest follows unless that digest is cached). */
  readonly outcome: 'ok' | 'unchanged' | 'changed' | 'not-found' | 'failed';
  readonly bytes?: number;
  readonly ms: number;
  readonly error?: string;
}

/** One upstream's counters and circuit-breaker state. */
export interface UpstreamStatsRow {
  readonly upstream: string;
  readonly stats: Readonly<UpstreamStats>;
  readonly breaker: 'closed' | 'open' | 'half-open';
}

/**
 * Where a MirrorService publishes its counters: give one board to the
 * service (MirrorOptions.board) and to whatever reports them (the metrics).
 */
export class MirrorStatsBoard {
  private source: (() => UpstreamStatsRow[]) | undefined;

  attach(source: () => UpstreamStatsRow[]): void {
    this.source = source;
  }

  read(): UpstreamStatsRow[] {
    return this.source?.() ?? [];
  }
}

/**
 * The pull-through cache's metrics (docs/mirror.md), per upstream, read from
 * the MirrorService's counters at scrape time:
 *   mirror_hits_total{upstream}             answered from the cache without asking the upstream
 *   mirror_misses_total{upstream}           fetched from the upstream
 *   mirror_fetched_bytes_total{upstream}    body bytes read from the upstream
 *   mirror_coalesced_total{upstream}        requests that joined another's fetch
 *   mirror_stale_serves_total{upstream}     cached answers while the upstream failed
 *   mirror_upstream_errors_total{upstream}  upstream failures
 *   mirror_evictions_total{upstream}        cached manifests evicted by the GC
 *   mirror_evicted_blobs_total{upstream}    cached blob links evicted by the GC
 *   mirror_cached_bytes{upstream}           the namespace's bytes after the last eviction run
 *   mirror_breaker_state{upstream,state}    1 for the circuit breaker's state (closed, open, half-open)
 */
import prom from 'prom-client';
import type { UpstreamStats, UpstreamStatsRow } from '../services/mirror/stats.js';

const COUNTERS: Array<[string, string, Exclude<keyof UpstreamStats, 'cachedBytes'>]> = [
  ['mirror_hits_total', 'Mirror requests answered from the cache without asking the upstream.', 'hits'],
  ['mirror_misses_total', 'Mirror requests fetched from the upstream.', 'misses'],
  ['mirror_fetched_bytes_total', 'Body bytes read from the upstream.', 'bytesFetched'],
  ['mirror_coalesced_total', "Mirror requests that joined another request's upstream fetch.", 'coalesced'],
  ['mirror_stale_serves_total', 'Cached answers given while the upstream failed.', 'staleServes'],
  ['mirror_upstream_errors_total', 'Upstream failures (unreachable, timeout, 5xx, 429, refused credentials, cut transfers, breaker open).', 'errors'],
  ['mirror_evictions_total', 'Cached manifests evicted by the garbage collection (not pulled for evictAfterSeconds, or beyond maxBytes).', 'evictions'],
  ['mirror_evicted_blobs_total', 'Cached blob links evicted by the garbage collection (their content is deleted by its blob scan).', 'evictedBlobs'],
];

export function registerMirrorMetrics(register: prom.Registry, prefix: string, read: () => UpstreamStatsRow[]): void {
  for (const [name, help, key] of COUNTERS) {
    new prom.Counter({
      name: `${prefix}${name}`,
      help,
      labelNames: ['upstream'] as const,
      registers: [register],
      collect() {
        this.reset();
        for (const row of read()) this.inc({ upstream: row.upstream }, row.stats[key]);
      },
    });
  }
  new prom.Gauge({
    name: `${prefix}mirror_cached_bytes`,
    help: "Bytes cached under each upstream's namespace (manifests, and each linked blob once), as of the last eviction run.",
    labelNames: ['upstream'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const row of read()) if (row.stats.cachedBytes !== undefined) this.set({ upstream: row.upstream }, row.stats.cachedBytes);
    },
  });
  new prom.Gauge({
    name: `${prefix}mirror_breaker_state`,
    help: "1 for the state each upstream's circuit breaker is in (closed: requests go to the upstream; open: they do not; half-open: one probe may).",
    labelNames: ['upstream', 'state'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const row of read()) for (const state of ['closed', 'open', 'half-open']) this.set({ upstream: row.upstream, state }, row.breaker === state ? 1 : 0);
    },
  });
}

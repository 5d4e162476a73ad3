/**
 * Last-pulled times of mirrored manifests (docs/mirror.md "Eviction"),
 * recorded off the request path: a pull only updates a map; the map is
 * written to the MetadataStore (recordManifestPulls, one transaction) at most
 * `flushMs` later, and a manifest this process wrote within `granularityMs`
 * is not written again. So a busy manifest costs one write per granularity
 * per replica, and a recorded time is late by at most the flush interval
 * plus the granularity: far below any eviction time. A failed write is kept
 * for the next flush.
 */
import type { Digest } from '../../oci/digest.js';
import type { ManifestPull, MetadataStore } from '../../storage/meta/types.js';
import { UPSTREAM_DEFAULTS, type UpstreamSettings } from './settings.js';

export const PULL_FLUSH_MS = 10_000;
export const PULL_GRANULARITY_MS = 60_000;

/** The granularity for these upstreams: 60 s, or a quarter of the shortest eviction time when that is less. */
export function pullGranularity(upstreams: readonly UpstreamSettings[]): number {
  return Math.min(PULL_GRANULARITY_MS, ...upstreams.map((u) => (u.evictAfterMs ?? UPSTREAM_DEFAULTS.evictAfterMs) / 4));
}

export class PullRecorder {
  readonly #pending = new Map<string, ManifestPull>();
  /** key → the pull time this process last wrote. */
  readonly #written = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: MetadataStore,
    private readonly options: { readonly flushMs?: number; readonly granularityMs?: number; readonly onError?: (err: unknown) => void } = {},
  ) {}

  /** A client pulled `digest` of the mirrored repository `repository` now. */
  touch(repository: string, digest: Digest): void {
    const key = `${repository} ${digest}`;
    const at = this.meta.clock();
    const written = this.#written.get(key);
    if (written !== undefined && at - written < (this.options.granularityMs ?? PULL_GRANULARITY_MS)) return;
    this.#pending.set(key, { repository, digest, pulledAt: at });
    this.#schedule();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => void this.flush().catch((err: unknown) => this.options.onError?.(err)), this.options.flushMs ?? PULL_FLUSH_MS).unref();
  }

  /** Writes the pending pulls now (eviction calls it first); one flush at a time. */
  flush(signal?: AbortSignal): Promise<void> {
    const run = this.#flushing.then(() => this.#write(signal));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #write(signal: AbortSignal | undefined): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending];
    this.#pending.clear();
    if (batch.length === 0) return;
    try {
      await this.meta.recordManifestPulls(batch.map(([, p]) => p), signal);
    } catch (err) {
      for (const [key, p] of batch) if (!this.#pending.has(key)) this.#pending.set(key, p);
      this.#schedule();
      throw err;
    }
    const oldest = this.meta.clock() - (this.options.granularityMs ?? PULL_GRANULARITY_MS);
    for (const [key, at] of this.#written) if (at < oldest) this.#written.delete(key);
    for (const [key, p] of batch) this.#written.set(key, p.pulledAt);
  }
}

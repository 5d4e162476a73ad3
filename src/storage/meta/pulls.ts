/**
 * The pull log's part of the MetadataStore port: when a manifest of a
 * mirrored repository was last pulled, for the mirror's eviction
 * (services/mirror/eviction.ts). Written in batches off the request path
 * (services/mirror/pulls.ts), so a time is late by at most one flush. A row
 * outlives its manifest until forgotten: readers ignore rows of manifests
 * that are gone. Types only (node-free, like events.ts).
 */
import type { Digest } from '../../oci/digest-type.js';
import type { PageOptions } from './types.js';

/** The last pull of one manifest. */
export interface ManifestPull {
  readonly repository: string;
  readonly digest: Digest;
  /** ms since the epoch (MetadataStore.clock). */
  readonly pulledAt: number;
}

export interface PullLog {
  /** In one transaction: each pull's time becomes max(stored, given). Repeated keys are allowed. */
  recordManifestPulls(pulls: readonly ManifestPull[], signal?: AbortSignal): Promise<void>;
  /** The pulls recorded for `repository`, ordered by digest; `page.last` is a digest. */
  listManifestPulls(repository: string, page: PageOptions, signal?: AbortSignal): Promise<ManifestPull[]>;
  /** Removes the rows of these digests of `repository`; resolves how many there were. */
  forgetManifestPulls(repository: string, digests: readonly Digest[], signal?: AbortSignal): Promise<number>;
}

/** The pulls with one entry per key, each with its latest time (for stores whose upsert takes a key once). */
export function latestPulls(pulls: readonly ManifestPull[]): ManifestPull[] {
  const latest = new Map<string, ManifestPull>();
  for (const p of pulls) {
    const key = `${p.repository} ${p.digest}`;
    const seen = latest.get(key);
    if (!seen || seen.pulledAt < p.pulledAt) latest.set(key, p);
  }
  return [...latest.values()];
}

/**
 * Storage used per repository: the bytes of the blobs linked in it, each
 * digest counted once per repository (a blob shared by two repositories
 * counts in both, so the sum over repositories can exceed what is stored).
 * Reads the MetadataStore only, page by page: O(blob links) per call, so
 * callers on a hot path cache the result (see server/metrics.ts).
 */
import type { MetadataStore } from '../storage/meta/types.js';
import { paged } from './paged.js';

export interface RepositoryUsage {
  readonly repository: string;
  /** Distinct blobs linked in the repository. */
  readonly blobs: number;
  /** Their bytes. */
  readonly bytes: number;
  readonly manifests: number;
}

/** Every repository's usage, largest first (then by name). */
export async function repositoryUsage(meta: MetadataStore, options: { signal?: AbortSignal; pageSize?: number } = {}): Promise<RepositoryUsage[]> {
  const { signal } = options;
  const size = options.pageSize ?? 1000;
  const out: RepositoryUsage[] = [];
  for await (const repository of paged((p) => meta.listRepositories(p, signal), (r) => r, size)) {
    let blobs = 0;
    let bytes = 0;
    let manifests = 0;
    for await (const link of paged((p) => meta.listBlobLinks(repository, p, signal), (l) => l.digest, size)) {
      blobs++;
      bytes += link.size;
    }
    for await (const _ of paged((p) => meta.listManifests(repository, p, signal), (d) => d, size)) manifests++;
    out.push({ repository, blobs, bytes, manifests });
  }
  return out.sort((a, b) => b.bytes - a.bytes || (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
}

/** `bytes` for people: 1023 B, 1.5 KiB, 2.0 MiB, … */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

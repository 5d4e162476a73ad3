/** The data structures of the in-memory MetadataStore (index.ts): repositories, byte-ordered string sets, and the totals of stats(). */
import type { Digest } from '../../../oci/digest.js';
import type { BlobLink, ManifestRecord, PageOptions, StoreStats } from '../types.js';

export interface StoredManifest {
  readonly record: ManifestRecord;
  /** References recorded for garbage collection. */
  readonly blobs: readonly Digest[];
  readonly manifests: readonly Digest[];
  /** Last put, or last time a tag was moved off it or deleted (ManifestLifecycle). */
  usedAt: number;
}

export interface TagEntry {
  readonly digest: Digest;
  readonly updatedAt: number;
}

export interface Repository {
  readonly links: Map<Digest, BlobLink>;
  readonly linkDigests: SortedKeys<Digest>;
  /** blob digest -> number of manifests of the repository referencing it */
  readonly blobRefs: Map<Digest, number>;
  readonly manifests: Map<Digest, StoredManifest>;
  readonly manifestDigests: SortedKeys<Digest>;
  readonly tags: Map<string, TagEntry>;
  readonly tagNames: SortedKeys;
  /** subject digest -> referrer manifest digests */
  readonly referrers: Map<Digest, Set<Digest>>;
}

/** An empty repository. */
export function newRepository(): Repository {
  return {
    links: new Map(),
    linkDigests: new SortedKeys(),
    blobRefs: new Map(),
    manifests: new Map(),
    manifestDigests: new SortedKeys(),
    tags: new Map(),
    tagNames: new SortedKeys(),
    referrers: new Map(),
  };
}

/** A copy of a stored record that its caller may change freely. */
export function copyRecord(record: ManifestRecord): ManifestRecord {
  return { ...record, bytes: Buffer.from(record.bytes), ...(record.annotations === undefined ? {} : { annotations: { ...record.annotations } }) };
}

/** A manifest referencing `blobs` was stored in the repository (delta 1) or removed from it (delta -1). */
export function countBlobRefs(repo: Repository, blobs: readonly Digest[], delta: 1 | -1): void {
  for (const digest of new Set(blobs)) {
    const n = (repo.blobRefs.get(digest) ?? 0) + delta;
    if (n > 0) repo.blobRefs.set(digest, n);
    else repo.blobRefs.delete(digest);
  }
}

/** Removes a stored manifest with its tags and referrer entry; returns it, or undefined when absent. */
export function removeManifest(repo: Repository, digest: Digest): StoredManifest | undefined {
  const stored = repo.manifests.get(digest);
  if (stored === undefined) return undefined;
  repo.manifests.delete(digest);
  repo.manifestDigests.delete(digest);
  countBlobRefs(repo, stored.blobs, -1);
  for (const [tag, entry] of repo.tags) {
    if (entry.digest === digest) {
      repo.tags.delete(tag);
      repo.tagNames.delete(tag);
    }
  }
  const subject = stored.record.subject;
  if (subject !== undefined) {
    const set = repo.referrers.get(subject);
    set?.delete(digest);
    if (set?.size === 0) repo.referrers.delete(subject);
  }
  return stored;
}

/**
 * Orders strings as their UTF-8 bytes (code point order), as SQLite's BINARY
 * collation does. UTF-16 code units differ from code points only for
 * surrogates (U+10000 and above), which must sort after U+E000..U+FFFF.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

function rank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** A set of strings kept in byte order; insertion and removal are O(log n) search + O(n) shift. */
export class SortedKeys<K extends string = string> {
  readonly #keys: K[] = [];

  /** Index of the first key strictly greater than `key` (or >= when `inclusive`). */
  #bound(key: string, inclusive: boolean): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareBytes(this.#keys[mid] as string, key);
      if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(key: K): void {
    const i = this.#bound(key, true);
    if (this.#keys[i] !== key) this.#keys.splice(i, 0, key);
  }

  delete(key: K): void {
    const i = this.#bound(key, true);
    if (this.#keys[i] === key) this.#keys.splice(i, 1);
  }

  page({ last, limit }: PageOptions): K[] {
    if (!(limit > 0)) return [];
    const start = last === undefined ? 0 : this.#bound(last, false);
    return this.#keys.slice(start, start + Math.floor(limit));
  }
}

/** The store's totals (MetadataStore.stats): a blob counts once, with its largest linked size. */
export function storeStats(repos: ReadonlyMap<string, Repository>, linksByDigest: ReadonlyMap<Digest, ReadonlySet<string>>, uploads: number): StoreStats {
  let manifests = 0;
  let tags = 0;
  let blobBytes = 0;
  for (const repo of repos.values()) {
    manifests += repo.manifests.size;
    tags += repo.tags.size;
  }
  for (const [digest, names] of linksByDigest) {
    let size = 0;
    for (const name of names) size = Math.max(size, repos.get(name)?.links.get(digest)?.size ?? 0);
    blobBytes += size;
  }
  return { repositories: repos.size, manifests, tags, blobs: linksByDigest.size, blobBytes, uploads };
}

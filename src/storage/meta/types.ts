/**
 * The MetadataStore port: the single source of truth for what a repository
 * holds. Repositories, manifests (exact bytes + media type), tags, per-
 * repository blob links, referrers and upload sessions. The BlobStore holds
 * only content; a blob is part of a repository only when linked here.
 *
 * Contracts shared by every implementation (checked by test/contract/metadata-store.ts):
 * - Each method is atomic: a concurrent reader sees all of its effect or none.
 * - A repository exists from its first blob link or manifest on; it is listed
 *   by listRepositories and never removed implicitly.
 * - Listings are in byte order (code-point order for the ASCII names and
 *   tags of the spec) and start strictly after `last` when given.
 * - Persistent stores keep everything across close() and reopen.
 * - Every method accepts an AbortSignal; an aborted call rejects with the
 *   signal's reason and has no effect.
 * Timestamps are milliseconds since the epoch.
 */

export interface PageOptions {
  /** Return entries strictly greater than this. */
  readonly last?: string;
  /** At most this many entries (callers ask for one more to know if more remain). */
  readonly limit: number;
}

export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

export interface ManifestRecord {
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The exact bytes pushed. */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly createdAt: number;
}

export interface PutManifestInput {
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  /** When set, the tag is created or moved to this manifest in the same transaction. */
  readonly tag?: string;
  /** Blobs that must be linked in the repository, with these sizes. */
  readonly blobs: readonly BlobRef[];
  /** Manifests that must exist in the repository, with these sizes. */
  readonly manifests: readonly BlobRef[];
  /** The subject digest; a referrers entry is recorded for it. Need not exist. */
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly now: number;
}

export interface MissingReference {
  readonly digest: string;
  readonly kind: 'blob' | 'manifest';
  /** Present when the target exists but with another size. */
  readonly actualSize?: number;
  readonly expectedSize: number;
}

/**
 * Outcome of putManifest. On `ok: false` nothing was written: the references
 * listed are absent from the repository or have another size.
 */
export type PutManifestResult = { readonly ok: true } | { readonly ok: false; readonly missing: readonly MissingReference[] };

export interface ReferrerRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface UploadSession {
  readonly id: string;
  readonly repository: string;
  /** Bytes acknowledged so far. */
  readonly offset: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Totals for metrics; blobs are counted once per digest, whatever the number of repositories linking them. */
export interface StoreStats {
  readonly repositories: number;
  readonly manifests: number;
  readonly tags: number;
  readonly blobs: number;
  readonly blobBytes: number;
  readonly uploads: number;
}

export interface MetadataStore {
  // Repositories
  repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean>;
  listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]>;

  // Blob links
  /** Links a committed blob into a repository (creating the repository). Idempotent. */
  linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal): Promise<void>;
  /** The linked blob, or undefined. */
  getBlobLink(repository: string, digest: string, signal?: AbortSignal): Promise<BlobRef | undefined>;
  /** Removes a link. Resolves false when it was not linked. */
  unlinkBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean>;
  /** Any repository's link to this digest (for mounts without `from`), or undefined. */
  findBlobLink(digest: string, signal?: AbortSignal): Promise<(BlobRef & { repository: string }) | undefined>;
  /** The blobs linked in `repository`, ordered by digest; `page.last` is a digest. Empty for an unknown repository. */
  listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]>;

  // Manifests and tags
  /**
   * In one transaction: checks the references, stores the manifest (replacing
   * nothing: the same digest stores the same bytes), records its referrer
   * entry, creates the repository, and sets `tag` when given.
   */
  putManifest(input: PutManifestInput, signal?: AbortSignal): Promise<PutManifestResult>;
  getManifest(repository: string, digest: string, signal?: AbortSignal): Promise<ManifestRecord | undefined>;
  /** Removes the manifest, every tag pointing at it and its referrer entry. Resolves false when absent. */
  deleteManifest(repository: string, digest: string, signal?: AbortSignal): Promise<boolean>;
  /** The digest a tag points at, or undefined. */
  getTag(repository: string, tag: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Removes a tag only. Resolves false when absent. */
  deleteTag(repository: string, tag: string, signal?: AbortSignal): Promise<boolean>;
  /** The digests of the manifests stored in `repository`, in byte order; `page.last` is a digest. Empty for an unknown repository. */
  listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]>;
  listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]>;
  /** Manifests in `repository` whose subject is `subject`, optionally of one artifactType, ordered by digest. */
  listReferrers(repository: string, subject: string, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]>;

  // Upload sessions
  /** Records a new session. Throws when the id exists. */
  createUpload(session: UploadSession, signal?: AbortSignal): Promise<void>;
  getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined>;
  /** Sets offset and updatedAt. Resolves false when the session is gone. */
  updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal): Promise<boolean>;
  /** Resolves false when absent. */
  deleteUpload(id: string, signal?: AbortSignal): Promise<boolean>;
  countUploads(signal?: AbortSignal): Promise<number>;
  /** Sessions whose updatedAt is before `before`, oldest first, at most `limit`. */
  listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]>;

  /** Current totals (a scan: meant for metrics scrapes, not for request paths). */
  stats(signal?: AbortSignal): Promise<StoreStats>;

  /** Resolves when the store answers; throws with the reason otherwise. */
  checkHealth(signal?: AbortSignal): Promise<void>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

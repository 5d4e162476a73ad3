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
 * - linkBlob, putManifest, deleteManifest and deleteTag given an EventContext
 *   record their events in the same transaction (events.ts); without one, none.
 * Timestamps are milliseconds since the epoch. Digests are `Digest`s
 * (src/oci/digest.ts), parsed once by the caller: a store takes them as the
 * strings they are and returns the ones it stored as such.
 */
import type { Digest } from '../../oci/digest-type.js';
import type { EventContext, EventOutbox } from './events.js';
import type { AuditLog } from './audit.js';
import type { LeaseStore } from './leases.js';
import type { PullLog } from './pulls.js';
import type { RepositorySummaries } from './summaries.js';

export type { EventContext, EventOutbox, OutboxEntry, RegistryEvent, RegistryEventType } from './events.js';
export type { AuditEntry, AuditLog, AuditQuery, AuditRecord } from './audit.js';
export type { LeaseStore } from './leases.js';
export type { ManifestPull, PullLog } from './pulls.js';
export type { RepositorySummaries, RepositorySummaryPage, RepositorySummaryQuery, RepositorySummaryRecord } from './summaries.js';

export interface PageOptions {
  /** Return entries strictly greater than this. */
  readonly last?: string;
  /** At most this many entries (callers ask for one more to know if more remain). */
  readonly limit: number;
}

export interface BlobRef {
  readonly digest: Digest;
  readonly size: number;
}

/**
 * A blob link is a receipt (docs/gc.md): besides the blob, it records when the
 * repository last received it (linkBlob: an upload or a mount) or a client
 * confirmed it (touchBlobLink: a HEAD or GET). A link that no manifest of the
 * repository references is kept while its receipt is recent.
 */
export interface BlobLink extends BlobRef {
  /** The receipt time: the last linkBlob or touchBlobLink. Links of earlier schema versions read their creation time. */
  readonly touchedAt: number;
}

export interface ManifestRecord {
  readonly repository: string;
  readonly digest: Digest;
  readonly mediaType: string;
  /** The exact bytes pushed. */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly subject?: Digest;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly createdAt: number;
}

export interface PutManifestInput {
  readonly repository: string;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  /** Tags created or moved to this manifest in the same transaction (all or none). */
  readonly tags?: readonly string[];
  /** Blobs that must be linked in the repository, with these sizes. */
  readonly blobs: readonly BlobRef[];
  /** Manifests that must exist in the repository, with these sizes. */
  readonly manifests: readonly BlobRef[];
  /** The subject digest; a referrers entry is recorded for it. Need not exist. */
  readonly subject?: Digest;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * Those of `tags` that are immutable. When one exists pointing at another
   * manifest, nothing is written and the result is `{ ok: false, missing: [],
   * tagTaken: { tag, digest: <its digest> } }`, whatever else is missing.
   */
  readonly immutableTags?: readonly string[];
  readonly now: number;
}

export interface MissingReference {
  readonly digest: Digest;
  readonly kind: 'blob' | 'manifest';
  /** Present when the target exists but with another size. */
  readonly actualSize?: number;
  readonly expectedSize: number;
}

/**
 * Outcome of putManifest. On `ok: false` nothing was written: the references
 * listed are absent from the repository or have another size.
 */
export type PutManifestResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly missing: readonly MissingReference[]; /** See PutManifestInput.immutableTags. */ readonly tagTaken?: TagTaken };

/** An immutable tag that already points at another manifest. */
export interface TagTaken {
  readonly tag: string;
  readonly digest: Digest;
}

export interface TagRecord {
  readonly tag: string;
  readonly digest: Digest;
  /** When the tag was last set (created or moved). */
  readonly updatedAt: number;
}

/** Conditions of deleteManifestIf; each one given must hold. */
export interface ManifestDeleteConditions {
  /** No tag points at the manifest. */
  readonly untagged?: boolean;
  /** No manifest of the repository references it (as an index child). */
  readonly unreferenced?: boolean;
  /** Its last use (see ManifestLifecycle) is before this time. */
  readonly usedBefore?: number;
  /** For a manifest with a subject: 'keep' refuses; 'orphans' refuses while the subject is a manifest of the repository. */
  readonly referrers?: 'keep' | 'orphans';
  /** Only evaluate the conditions; change nothing. */
  readonly dryRun?: boolean;
}

/** Conditions of unlinkBlobIf. */
export interface BlobUnlinkConditions {
  /** The link's receipt (touchedAt) must be strictly before this. */
  readonly touchedBefore: number;
  /** The time against which reservations are judged expired. */
  readonly now: number;
}

/**
 * Manifest lifecycle, for retention and the untagged-manifest policy:
 * deletions decided in one transaction with the conditions that justify them,
 * so that a concurrent push (a tag moved, a manifest put again, an index
 * referencing a child) is never undone. A manifest's last use is its last put
 * (of the same bytes too) and the last time a tag was moved off it or deleted
 * with deleteTag (not deleteTagIf); persistent stores keep it.
 */
export interface ManifestLifecycle {
  /** The tags of `repository` with their digests and times, ordered by tag as listTags. */
  listTagRecords(repository: string, page: PageOptions, signal?: AbortSignal): Promise<TagRecord[]>;
  /**
   * Removes the tag only when it still points at `expected.digest` and was last set at `expected.updatedAt`.
   * With `context`, records tag.deleted in the same transaction (retention's removals, events.ts).
   */
  deleteTagIf(repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, signal?: AbortSignal, context?: EventContext): Promise<boolean>;
  /**
   * In one transaction: when the manifest exists and every condition holds,
   * deletes it as deleteManifest does (with its referrer entry; it has no tag
   * when `untagged` is given). Blob links stay: they are receipts, removed by
   * unlinkBlobIf once unreferenced and old. Resolves whether it deleted (dry
   * run: would delete). With `context` (not a dry run), records manifest.deleted in the same transaction.
   */
  deleteManifestIf(repository: string, digest: Digest, conditions: ManifestDeleteConditions, signal?: AbortSignal, context?: EventContext): Promise<boolean>;
}

export interface ReferrerRecord {
  readonly digest: Digest;
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
  /**
   * The upload's saved sha256 state after `offset` bytes (BlobWriter.hashState),
   * so that another process continues without reading the bytes back. Set by
   * updateUpload only; answered by getUpload (listIdleUploads may leave it
   * out); absent when none was saved (plain hashing, older versions).
   */
  readonly hashState?: Uint8Array;
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

/** Options of markBlobForDeletion. */
export interface MarkBlobOptions {
  readonly now: number;
  /** The digest must have been last linked, unlinked or reserved at least this long before `now`. */
  readonly graceMs: number;
  /** The mark expires at `now + leaseMs`: a collector that died holding it stops blocking reservations then. */
  readonly leaseMs: number;
  /** Only evaluate: resolve whether the mark would be taken, writing nothing. */
  readonly dryRun?: boolean;
}

/**
 * Blob lifecycle for online garbage collection (docs/gc.md). The store is the
 * arbiter between uploads, which are about to commit a digest, and a
 * collector, which is about to delete one. Per digest it keeps `last_used`
 * (the last linkBlob, unlinkBlob or reserveBlob; unlinkBlob, which takes no
 * time argument, uses the store's clock), reservations (digest, holder,
 * expiry) and at most one deletion mark (holder, expiry).
 *
 * Protocol: an upload calls reserveBlob BEFORE BlobWriter.commit and
 * releaseBlob after linkBlob (or on failure); a mount reserves around its
 * check-and-link. Every caller of linkBlob holds a reservation on the digest.
 * A collector calls markBlobForDeletion, deletes the content only when it got
 * the mark, then unmarkBlob.
 */
export interface BlobLifecycle {
  /**
   * In one transaction: resolves false, recording nothing, while the digest
   * carries an unexpired deletion mark; otherwise clears an expired mark,
   * records (or renews) the reservation of `holder` until `now + ttlMs`, sets
   * last_used to `now`, and resolves true. Expired reservations are removed.
   */
  reserveBlob(digest: Digest, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Removes the reservation of `holder`. Idempotent. */
  releaseBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void>;
  /**
   * In one transaction: takes the deletion mark for `holder` and resolves true
   * only when the digest is linked in no repository, is referenced by no
   * manifest (manifest_refs, any repository), has no unexpired reservation, was
   * last used at least `graceMs` before `now` (a digest the store has never
   * seen counts as used at `now`, and is recorded so), and carries no
   * unexpired mark of another holder. Resolves false otherwise, changing no mark.
   */
  markBlobForDeletion(digest: Digest, holder: string, options: MarkBlobOptions, signal?: AbortSignal): Promise<boolean>;
  /**
   * Drops the mark when `holder` holds it (the content is gone or was kept);
   * afterwards reserveBlob succeeds again. A no-op for another holder's mark.
   * The store may forget the digest's last_used with it.
   */
  unmarkBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void>;
  /**
   * Renews the receipt of a link (touchedAt = max(touchedAt, now)): a client
   * confirmed the blob. Resolves false, writing nothing, when the blob is not
   * linked in the repository (it may have just been unlinked: the caller
   * answers as for an unknown blob).
   */
  touchBlobLink(repository: string, digest: Digest, now: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * The links of `repository` that no manifest of the repository references
   * and whose receipt is before `touchedBefore`, ordered by digest; `page.last`
   * is a digest. Candidates for unlinkBlobIf, which decides.
   */
  listReclaimableBlobLinks(repository: string, touchedBefore: number, page: PageOptions, signal?: AbortSignal): Promise<BlobLink[]>;
  /**
   * In one transaction: removes the link only when it exists, its receipt is
   * before `touchedBefore`, no manifest of the repository references the
   * digest and the digest has no reservation unexpired at `now`; then sets the
   * digest's last_used to at least the receipt time (not `now`: a link
   * reclaimed this way has been unused for longer than any grace period, so
   * the content may be collected in the same run). A manifest put that
   * references the link either commits first (the link is then referenced and
   * stays) or fails with the blob missing. Resolves whether it unlinked.
   */
  unlinkBlobIf(repository: string, digest: Digest, conditions: BlobUnlinkConditions, signal?: AbortSignal): Promise<boolean>;
}

/**
 * The port: every store implements all of it, the BlobLifecycle and
 * ManifestLifecycle methods included (the contract suite fails on a missing one).
 */
export interface MetadataStore extends BlobLifecycle, ManifestLifecycle, EventOutbox, AuditLog, LeaseStore, PullLog, RepositorySummaries {
  // Repositories
  repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean>;
  listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]>;

  // Blob links
  /**
   * Links a committed blob into a repository (creating the repository).
   * Idempotent; linking again renews the receipt (touchedAt = max(touchedAt,
   * now)). Sets the digest's last_used (BlobLifecycle).
   */
  linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal, context?: EventContext): Promise<void>;
  /** The linked blob with its receipt, or undefined. */
  getBlobLink(repository: string, digest: Digest, signal?: AbortSignal): Promise<BlobLink | undefined>;
  /** Removes a link. Resolves false when it was not linked. Sets the digest's last_used (BlobLifecycle) to the store's clock. */
  unlinkBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<boolean>;
  /** The blobs linked in `repository`, ordered by digest; `page.last` is a digest. Empty for an unknown repository. */
  listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]>;

  // Manifests and tags
  /**
   * In one transaction: checks the references, stores the manifest (replacing
   * nothing: the same digest stores the same bytes), records its referrer
   * entry, creates the repository, and sets `tag` when given.
   */
  putManifest(input: PutManifestInput, signal?: AbortSignal, context?: EventContext): Promise<PutManifestResult>;
  getManifest(repository: string, digest: Digest, signal?: AbortSignal): Promise<ManifestRecord | undefined>;
  /** Removes the manifest, every tag pointing at it and its referrer entry. Resolves false when absent. */
  deleteManifest(repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean>;
  /** The digest a tag points at, or undefined. */
  getTag(repository: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined>;
  /** Removes a tag only (a use of the manifest it pointed at, see ManifestLifecycle). Resolves false when absent. */
  deleteTag(repository: string, tag: string, signal?: AbortSignal, context?: EventContext): Promise<boolean>;
  /** The digests of the manifests stored in `repository`, in byte order; `page.last` is a digest. Empty for an unknown repository. */
  listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<Digest[]>;
  listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]>;
  /** Manifests in `repository` whose subject is `subject`, optionally of one artifactType, ordered by digest. */
  listReferrers(repository: string, subject: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]>;

  // Upload sessions
  /** Records a new session. Throws when the id exists. */
  createUpload(session: UploadSession, signal?: AbortSignal): Promise<void>;
  getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined>;
  /**
   * Sets offset, updatedAt and hashState (the state after `offset` bytes;
   * removed when not given), at once. Resolves false when the session is gone.
   */
  updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal, hashState?: Uint8Array): Promise<boolean>;
  /** Resolves false when absent. */
  deleteUpload(id: string, signal?: AbortSignal): Promise<boolean>;
  countUploads(signal?: AbortSignal): Promise<number>;
  /** Sessions whose updatedAt is before `before`, oldest first, at most `limit`. */
  listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]>;

  /** Current totals (a scan: meant for metrics scrapes, not for request paths). */
  stats(signal?: AbortSignal): Promise<StoreStats>;

  /**
   * True when several processes may use this store at once (replicas on
   * PostgreSQL): upload sessions then save their sha256 state at each chunk
   * (UploadSession.hashState), since the next one may land on another process.
   */
  readonly shared: boolean;

  /**
   * The current time (ms since the epoch) of the clock every process using
   * this store shares: the database's where replicas share one. Every time
   * given to the lifecycle methods (reservations, receipts, leases, grace)
   * comes from it. A store used from one host answers the host's clock.
   */
  clock(): number;

  /** Resolves when the store answers; throws with the reason otherwise. */
  checkHealth(signal?: AbortSignal): Promise<void>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * In-memory MetadataStore, for tests and ephemeral registries. Nothing
 * survives close(). Each method runs synchronously once it starts, so it is
 * atomic with respect to every other call. Stored manifest bytes are copies:
 * callers cannot alter them through the input or the returned record.
 */
import type { Digest } from '../../../oci/digest.js';
import type {
  BlobLink,
  BlobRef,
  BlobUnlinkConditions,
  ManifestDeleteConditions,
  TagRecord,
  MarkBlobOptions,
  ManifestRecord,
  MetadataStore,
  PageOptions,
  PutManifestInput,
  PutManifestResult,
  ReferrerRecord,
  UploadSession,
  StoreStats,
} from '../types.js';
import { MemoryBlobLifecycle } from './lifecycle.js';
import { MemoryOutbox } from './outbox.js';
import { MemoryAudit } from './audit.js';
import { MemoryLeases } from './leases.js';
import { MemoryUploads } from './uploads.js';
import { listSummaries } from './summaries.js';
import type { RepositorySummaryPage, RepositorySummaryQuery } from '../summaries.js';
import type { AuditEntry, AuditQuery, AuditRecord } from '../audit.js';
import type { PullLog } from '../pulls.js';
import { MemoryPulls } from './pulls.js';
import type { ClaimOptions, EventContext, EventFailure, OutboxEntry, RegistryEvent } from '../events.js';
import { deleteManifestEvents, deleteTagEvents, linkBlobEvents, putManifestEvents } from '../event-records.js';
import { deleteManifestIf, listReferrers, putManifest, useManifest } from './manifests.js';
import { copyRecord, storeStats, newRepository, removeManifest, SortedKeys, type Repository, type TagEntry } from './schema.js';

export class MemoryMetadataStore implements MetadataStore {
  readonly #repos = new Map<string, Repository>();
  readonly #repoNames = new SortedKeys();
  /** digest -> repositories linking it: whether a digest is linked anywhere (BlobLifecycle) */
  readonly #linksByDigest = new Map<Digest, Set<string>>();
  readonly #uploads = new MemoryUploads();
  readonly #lifecycle = new MemoryBlobLifecycle((digest) => this.#linksByDigest.has(digest));
  readonly #outbox = new MemoryOutbox();
  readonly #audit = new MemoryAudit();
  readonly #leases = new MemoryLeases();
  readonly #pulls = new MemoryPulls((signal) => this.#enter(signal));
  #closed = false;

  #enter(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error('the metadata store is closed');
  }

  #repo(name: string): Repository {
    let repo = this.#repos.get(name);
    if (repo === undefined) {
      repo = newRepository();
      this.#repos.set(name, repo);
      this.#repoNames.add(name);
    }
    return repo;
  }

  async repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#repos.has(repository);
  }

  async listRepositories(page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    this.#enter(signal);
    return this.#repoNames.page(page);
  }

  async listRepositorySummaries(query: RepositorySummaryQuery, signal?: AbortSignal): Promise<RepositorySummaryPage> {
    this.#enter(signal);
    return listSummaries(this.#repoNames.page({ limit: Infinity }), this.#repos, query);
  }

  async linkBlob(repository: string, blob: BlobRef, now: number, signal?: AbortSignal, context?: EventContext): Promise<void> {
    this.#enter(signal);
    if (context !== undefined) this.#outbox.append(linkBlobEvents(repository, blob, !this.#repos.has(repository), now, context));
    const repo = this.#repo(repository);
    this.#lifecycle.touch(blob.digest, now);
    const existing = repo.links.get(blob.digest);
    if (existing !== undefined) {
      repo.links.set(blob.digest, { ...existing, touchedAt: Math.max(existing.touchedAt, now) });
      return;
    }
    repo.links.set(blob.digest, { digest: blob.digest, size: blob.size, touchedAt: now });
    repo.linkDigests.add(blob.digest);
    let repos = this.#linksByDigest.get(blob.digest);
    if (repos === undefined) this.#linksByDigest.set(blob.digest, (repos = new Set()));
    repos.add(repository);
  }

  async getBlobLink(repository: string, digest: Digest, signal?: AbortSignal): Promise<BlobLink | undefined> {
    this.#enter(signal);
    const link = this.#repos.get(repository)?.links.get(digest);
    return link === undefined ? undefined : { ...link };
  }

  async unlinkBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    if (repo === undefined || !repo.links.has(digest)) return false;
    this.#unlink(repository, repo, digest, this.clock());
    return true;
  }

  /** Removes a link, setting the digest's last_used to at least `used`. */
  #unlink(repository: string, repo: Repository, digest: Digest, used: number): void {
    repo.links.delete(digest);
    repo.linkDigests.delete(digest);
    const repos = this.#linksByDigest.get(digest);
    repos?.delete(repository);
    if (repos?.size === 0) this.#linksByDigest.delete(digest);
    this.#lifecycle.touch(digest, used);
  }

  async touchBlobLink(repository: string, digest: Digest, now: number, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const link = repo?.links.get(digest);
    if (repo === undefined || link === undefined) return false;
    if (now > link.touchedAt) repo.links.set(digest, { ...link, touchedAt: now });
    return true;
  }

  async listReclaimableBlobLinks(repository: string, touchedBefore: number, page: PageOptions, signal?: AbortSignal): Promise<BlobLink[]> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    if (repo === undefined || !(page.limit > 0)) return [];
    const out: BlobLink[] = [];
    for (let last = page.last; out.length < page.limit; ) {
      const digests = repo.linkDigests.page({ ...(last === undefined ? {} : { last }), limit: 500 });
      for (const digest of digests) {
        const link = repo.links.get(digest) as BlobLink;
        if (link.touchedAt < touchedBefore && !repo.blobRefs.has(digest) && out.length < page.limit) out.push({ ...link });
      }
      if (digests.length < 500) break;
      last = digests[digests.length - 1];
    }
    return out;
  }

  async unlinkBlobIf(repository: string, digest: Digest, c: BlobUnlinkConditions, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const link = repo?.links.get(digest);
    if (repo === undefined || link === undefined || !(link.touchedAt < c.touchedBefore) || repo.blobRefs.has(digest)) return false;
    if (this.#lifecycle.reserved(digest, c.now)) return false;
    this.#unlink(repository, repo, digest, link.touchedAt);
    return true;
  }

  async listBlobLinks(repository: string, page: PageOptions, signal?: AbortSignal): Promise<BlobRef[]> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    if (repo === undefined) return [];
    return repo.linkDigests.page(page).map((digest) => {
      const { size } = repo.links.get(digest) as BlobRef;
      return { digest, size };
    });
  }

  async putManifest(input: PutManifestInput, signal?: AbortSignal, context?: EventContext): Promise<PutManifestResult> {
    this.#enter(signal);
    const existing = this.#repos.get(input.repository);
    const previous = new Map([...new Set(input.tags ?? [])].map((tag) => [tag, existing?.tags.get(tag)?.digest]));
    const result = putManifest(existing, () => this.#repo(input.repository), this.#lifecycle, input);
    if (result.ok && context !== undefined) {
      this.#outbox.append(putManifestEvents({ ...input, size: input.bytes.byteLength }, previous, existing === undefined, input.now, context));
    }
    return result;
  }

  async getManifest(repository: string, digest: Digest, signal?: AbortSignal): Promise<ManifestRecord | undefined> {
    this.#enter(signal);
    const stored = this.#repos.get(repository)?.manifests.get(digest);
    return stored === undefined ? undefined : copyRecord(stored.record);
  }

  async deleteManifest(repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const record = repo?.manifests.get(digest)?.record;
    if (repo !== undefined && record !== undefined && context !== undefined) {
      const tags = [...repo.tags].filter(([, t]) => t.digest === digest).map(([tag]) => tag);
      this.#outbox.append(deleteManifestEvents(record, tags, this.clock(), context));
    }
    const stored = repo === undefined ? undefined : removeManifest(repo, digest);
    if (stored === undefined) return false;
    this.#lifecycle.countRefs([...stored.blobs, ...stored.manifests], -1);
    return true;
  }

  async listManifests(repository: string, page: PageOptions, signal?: AbortSignal): Promise<Digest[]> {
    this.#enter(signal);
    return this.#repos.get(repository)?.manifestDigests.page(page) ?? [];
  }

  async getTag(repository: string, tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    this.#enter(signal);
    return this.#repos.get(repository)?.tags.get(tag)?.digest;
  }

  async deleteTag(repository: string, tag: string, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const entry = repo?.tags.get(tag);
    if (repo === undefined || entry === undefined) return false;
    if (context !== undefined) this.#outbox.append(deleteTagEvents(repository, tag, entry.digest, this.clock(), context));
    repo.tags.delete(tag);
    repo.tagNames.delete(tag);
    useManifest(repo, entry.digest, this.clock());
    return true;
  }

  async listTagRecords(repository: string, page: PageOptions, signal?: AbortSignal): Promise<TagRecord[]> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    if (repo === undefined) return [];
    return repo.tagNames.page(page).map((tag) => ({ tag, ...(repo.tags.get(tag) as TagEntry) }));
  }

  async deleteTagIf(repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const entry = repo?.tags.get(tag);
    if (repo === undefined || entry?.digest !== expected.digest || entry.updatedAt !== expected.updatedAt) return false;
    repo.tags.delete(tag);
    repo.tagNames.delete(tag);
    if (context !== undefined) this.#outbox.append(deleteTagEvents(repository, tag, expected.digest, this.clock(), context));
    return true;
  }

  async deleteManifestIf(repository: string, digest: Digest, c: ManifestDeleteConditions, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    this.#enter(signal);
    const repo = this.#repos.get(repository);
    const record = context !== undefined && c.dryRun !== true ? repo?.manifests.get(digest)?.record : undefined;
    const tags = record === undefined ? [] : [...repo!.tags].filter(([, t]) => t.digest === digest).map(([tag]) => tag);
    if (!deleteManifestIf(repo, digest, c, this.#lifecycle)) return false;
    if (record !== undefined) this.#outbox.append(deleteManifestEvents(record, tags, this.clock(), context!));
    return true;
  }

  async listTags(repository: string, page: PageOptions, signal?: AbortSignal): Promise<string[]> {
    this.#enter(signal);
    return this.#repos.get(repository)?.tagNames.page(page) ?? [];
  }

  async listReferrers(repository: string, subject: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrerRecord[]> {
    this.#enter(signal);
    return listReferrers(this.#repos.get(repository), subject, artifactType);
  }

  async createUpload(session: UploadSession, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    this.#uploads.create(session);
  }

  async getUpload(id: string, signal?: AbortSignal): Promise<UploadSession | undefined> {
    this.#enter(signal);
    return this.#uploads.get(id);
  }

  async updateUpload(id: string, offset: number, updatedAt: number, signal?: AbortSignal, hashState?: Uint8Array): Promise<boolean> {
    this.#enter(signal);
    return this.#uploads.update(id, offset, updatedAt, hashState);
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#uploads.delete(id);
  }

  async countUploads(signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return this.#uploads.size;
  }

  async stats(signal?: AbortSignal): Promise<StoreStats> {
    this.#enter(signal);
    return storeStats(this.#repos, this.#linksByDigest, this.#uploads.size);
  }

  async listIdleUploads(before: number, limit: number, signal?: AbortSignal): Promise<UploadSession[]> {
    this.#enter(signal);
    return this.#uploads.listIdle(before, limit);
  }

  async reserveBlob(digest: Digest, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#lifecycle.reserve(digest, holder, now, ttlMs);
  }

  async releaseBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    this.#lifecycle.release(digest, holder);
  }

  async markBlobForDeletion(digest: Digest, holder: string, options: MarkBlobOptions, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#lifecycle.mark(digest, holder, options);
  }

  async unmarkBlob(digest: Digest, holder: string, signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    this.#lifecycle.unmark(digest, holder);
  }

  // Outbox (events.ts)
  async appendEvents(events: readonly RegistryEvent[], signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
    this.#outbox.append(events);
  }

  async claimEvents(holder: string, options: ClaimOptions, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#enter(signal);
    return this.#outbox.claim(holder, options);
  }

  async markEventsDelivered(ids: readonly string[], holder: string, signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return ids.filter((id) => this.#outbox.delivered(id, holder)).length;
  }

  async markEventFailed(id: string, holder: string, nextAttemptAt: number, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#outbox.settle(id, holder, 'pending', nextAttemptAt, failure);
  }

  async parkEvent(id: string, holder: string, failure: EventFailure, signal?: AbortSignal): Promise<boolean> {
    this.#enter(signal);
    return this.#outbox.settle(id, holder, 'dead', Number.MAX_SAFE_INTEGER, failure);
  }

  async listEvents(state: 'pending' | 'dead', options: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]> {
    this.#enter(signal);
    return this.#outbox.list(state, options.afterSeq, options.limit);
  }

  async replayEvents(ids: readonly string[] | undefined, now: number, signal?: AbortSignal): Promise<number> {
    this.#enter(signal);
    return this.#outbox.replay(ids, now);
  }

  // Audit log (audit.ts)
  async appendAudit(records: readonly AuditRecord[], signal?: AbortSignal): Promise<void> { this.#enter(signal); this.#audit.append(records); }
  async listAudit(query: AuditQuery, signal?: AbortSignal): Promise<AuditEntry[]> { this.#enter(signal); return this.#audit.list(query); }
  async pruneAudit(before: number, signal?: AbortSignal): Promise<number> { this.#enter(signal); return this.#audit.prune(before); }

  // Leases (leases.ts)
  async acquireLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> { this.#enter(signal); return this.#leases.acquire(key, holder, now, ttlMs); }
  async renewLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean> { this.#enter(signal); return this.#leases.renew(key, holder, now, ttlMs); }
  async releaseLease(key: string, holder: string, signal?: AbortSignal): Promise<void> { this.#enter(signal); this.#leases.release(key, holder); }

  // Pull log (pulls.ts)
  readonly recordManifestPulls: PullLog['recordManifestPulls'] = (pulls, signal) => this.#pulls.recordManifestPulls(pulls, signal);
  readonly listManifestPulls: PullLog['listManifestPulls'] = (repository, page, signal) => this.#pulls.listManifestPulls(repository, page, signal);
  readonly forgetManifestPulls: PullLog['forgetManifestPulls'] = (repository, digests, signal) => this.#pulls.forgetManifestPulls(repository, digests, signal);

  /** The host clock: a store used from one process has no other. */
  readonly shared = false;

  clock(): number {
    return Date.now();
  }

  /** Resolves unless the store is closed. */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    this.#enter(signal);
  }

  /** Drops everything; later calls reject. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#repos.clear();
    this.#linksByDigest.clear();
    this.#uploads.clear();
    this.#lifecycle.clear();
    this.#leases.clear();
  }
}

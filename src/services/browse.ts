/**
 * What the web UI shows (docs/ui.md): repositories with their tag counts,
 * sizes and last push; a repository's tags; an image with its platforms,
 * config, layers and referrers; what a delete would do. Reads the
 * MetadataStore (and config blobs, up to MAX_CONFIG_BYTES); access control
 * is the caller's (`visible`), as for the catalog.
 */
import { tryParseDigest, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { isValidName, isValidTag, parseReference } from '../oci/names.js';
import type { ManifestRecord, MetadataStore, TagRecord } from '../storage/meta/types.js';
import type { BlobService } from './blobs.js';
import { blobsOf, describeManifest, type ImageDetails, indexEntries, type ManifestSummary, readConfig, summarize } from './browse-manifests.js';
import type { ManifestService } from './manifests.js';
import { paged } from './paged.js';
import type { StoragePolicy } from './policy.js';
import type { Live } from '../live.js';

export type { ImageDetails, ManifestSummary } from './browse-manifests.js';

export interface RepositorySummary {
  readonly name: string;
  readonly tags: number;
  /** Bytes of the blobs linked in the repository, each counted once. */
  readonly bytes: number;
  /** When a tag was last set (ms since the epoch); undefined without tags. */
  readonly pushedAt?: number;
}

export interface Paging {
  readonly page: number;
  readonly perPage: number;
}

export interface RepositoryQuery extends Paging {
  /** Case-insensitive substring of the name. */
  readonly search?: string;
  readonly sort: 'name' | 'pushed' | 'size';
}

export interface RepositoryList {
  readonly total: number;
  readonly items: RepositorySummary[];
}

export interface TagSummary extends ManifestSummary {
  readonly tag: string;
  readonly pushedAt: number;
  readonly immutable: boolean;
}

export interface RepositoryDetails extends RepositorySummary {
  readonly total: number;
  readonly items: TagSummary[];
  /** Manifests no tag points at (on request). */
  readonly untagged?: Array<ManifestSummary & { readonly pushedAt: number }>;
}

export interface DeletePreview {
  readonly kind: 'tag' | 'manifest';
  readonly digest: string;
  /** Tags that point at the manifest. */
  readonly tags: string[];
  /** The immutable tag that refuses the delete, if any. */
  readonly immutableTag?: string;
  /** Blob bytes only this manifest references in the repository: what a collection would free after deleting it (0 for a tag). */
  readonly bytesFreed: number;
}

const PAGE = 1000;
/** Rows read to compute one repository's tag list or the repositories list: above this the answer is refused. */
const MAX_ROWS = 100_000;

export class BrowseService {
  constructor(
    private readonly meta: MetadataStore,
    private readonly blobs: BlobService,
    private readonly manifests: ManifestService,
    /** Read once per call: a reload replaces it between requests. */
    private readonly policy: Live<StoragePolicy>,
  ) {}

  /**
   * One page of the repositories `visible` accepts (undefined: every one)
   * whose name contains `search`, summarized and sorted by the store
   * (listRepositorySummaries) in one query. With `visible`, every name is
   * judged first (names only, paged) and the allowed ones are handed to the
   * store, so that pages stay full and the total counts only those.
   */
  async repositories(query: RepositoryQuery, visible: ((name: string) => boolean | Promise<boolean>) | undefined, signal?: AbortSignal): Promise<RepositoryList> {
    const search = query.search?.toLowerCase();
    let names: string[] | undefined;
    if (visible !== undefined) {
      const allowed: string[] = [];
      let refused = false;
      let scanned = 0;
      for await (const name of paged((p) => this.meta.listRepositories(p, signal), (n) => n, PAGE)) {
        if (++scanned > MAX_ROWS) throw new RegistryError('UNSUPPORTED', `more than ${MAX_ROWS} repositories: search by name`);
        if (search !== undefined && !name.includes(search)) continue;
        if (await visible(name)) allowed.push(name);
        else refused = true;
      }
      if (refused) names = allowed; // all allowed: the store's own filter is the same, and cheaper
    }
    const offset = (query.page - 1) * query.perPage;
    return this.meta.listRepositorySummaries({ sort: query.sort, offset, limit: query.perPage, ...(search !== undefined ? { search } : {}), ...(names ? { names } : {}) }, signal);
  }

  /** A repository with one page of its tags, newest first or by name; throws NAME_UNKNOWN. */
  async repository(name: string, query: Paging & { readonly sort: 'name' | 'pushed'; readonly untagged: boolean }, signal?: AbortSignal): Promise<RepositoryDetails> {
    this.known(name);
    if (!(await this.meta.repositoryExists(name, signal))) throw new RegistryError('NAME_UNKNOWN', `repository ${name} does not exist`);
    const records = await this.tagRecords(name, signal);
    const summary = await this.summary(name, signal, records);
    const sorted = query.sort === 'pushed' ? [...records].sort((a, b) => b.updatedAt - a.updatedAt || (a.tag < b.tag ? -1 : 1)) : records;
    const start = (query.page - 1) * query.perPage;
    const policy = this.policy.current;
    const items: TagSummary[] = [];
    for (const r of sorted.slice(start, start + query.perPage)) {
      const record = await this.meta.getManifest(name, r.digest, signal);
      if (!record) continue; // deleted meanwhile
      items.push({ ...(await this.summarize(name, record, signal)), tag: r.tag, pushedAt: r.updatedAt, immutable: policy.isImmutable(name, r.tag) });
    }
    let untagged: RepositoryDetails['untagged'];
    if (query.untagged) {
      const tagged = new Set(records.map((r) => r.digest));
      untagged = [];
      for await (const digest of paged((p) => this.meta.listManifests(name, p, signal), (d) => d, PAGE)) {
        if (tagged.has(digest) || untagged.length >= MAX_ROWS) continue;
        const record = await this.meta.getManifest(name, digest, signal);
        if (record) untagged.push({ ...summarize(record), pushedAt: record.createdAt });
      }
      untagged.sort((a, b) => b.pushedAt - a.pushedAt);
    }
    return { ...summary, total: records.length, items, ...(untagged ? { untagged } : {}) };
  }

  /** A manifest or index by tag or digest, with its config, layers, platforms and referrers. Throws MANIFEST_UNKNOWN. */
  async image(name: string, reference: string, signal?: AbortSignal): Promise<ImageDetails> {
    this.known(name);
    const record = await this.manifests.get(name, reference, signal);
    const tags = (await this.tagRecords(name, signal)).filter((r) => r.digest === record.digest).map((r) => r.tag);
    const referrers = await this.meta.listReferrers(name, record.digest, undefined, signal);
    const details = { ...describeManifest(record, tags, referrers), size: (await this.summarize(name, record, signal)).size };
    if (details.config && details.kind === 'image') {
      const config = await readConfig(this.blobs, name, details.config.digest, signal);
      if (config) return { ...details, config: { ...details.config, ...config } };
    }
    return details;
  }

  /** What deleting `reference` (a tag: the tag only; a digest: the manifest and its tags) would do. */
  async deletePreview(name: string, reference: string, signal?: AbortSignal): Promise<DeletePreview> {
    this.known(name);
    const record = await this.manifests.get(name, reference, signal);
    const tags = (await this.tagRecords(name, signal)).filter((r) => r.digest === record.digest).map((r) => r.tag);
    const ref = parseReference(reference);
    const policy = this.policy.current;
    if (ref.kind === 'tag') {
      const immutable = policy.isImmutable(name, ref.tag);
      return { kind: 'tag', digest: record.digest, tags, ...(immutable ? { immutableTag: ref.tag } : {}), bytesFreed: 0 };
    }
    const immutableTag = tags.find((t) => policy.isImmutable(name, t));
    return { kind: 'manifest', digest: record.digest, tags, ...(immutableTag ? { immutableTag } : {}), bytesFreed: await this.bytesOnlyIn(name, record.digest, signal) };
  }

  /** Deletes a tag or a manifest as the registry's DELETE does (immutable tags refused: TAG_IMMUTABLE). */
  async delete(name: string, reference: string, signal?: AbortSignal): Promise<void> {
    this.known(name);
    await this.manifests.delete(name, reference, signal);
  }

  /** summarize(), an index's size counting its entries' configs and layers too (entries missing from the repository, or indexes: their manifest size). */
  private async summarize(name: string, record: ManifestRecord, signal?: AbortSignal): Promise<ManifestSummary> {
    const summary = summarize(record);
    if (summary.kind !== 'index') return summary;
    let size = record.size;
    for (const entry of indexEntries(record)) {
      const digest = tryParseDigest(entry.digest)?.digest; // read leniently from stored bytes: one that is not a digest names no manifest
      const child = digest === undefined ? undefined : await this.meta.getManifest(name, digest, signal);
      const childSummary = child ? summarize(child) : undefined;
      size += childSummary && childSummary.kind !== 'index' ? childSummary.size : entry.size; // a nested index: its manifest only
    }
    return { ...summary, size };
  }

  private known(name: string): void {
    if (!isValidName(name)) throw new RegistryError('NAME_INVALID', `${JSON.stringify(name.slice(0, 300))} is not a repository name`);
  }

  private async tagRecords(name: string, signal?: AbortSignal): Promise<TagRecord[]> {
    const out: TagRecord[] = [];
    for await (const r of paged((p) => this.meta.listTagRecords(name, p, signal), (t) => t.tag, PAGE)) {
      if (out.length >= MAX_ROWS) throw new RegistryError('UNSUPPORTED', `repository ${name} has more than ${MAX_ROWS} tags`);
      if (isValidTag(r.tag)) out.push(r);
    }
    return out;
  }

  private async summary(name: string, signal?: AbortSignal, records?: TagRecord[]): Promise<RepositorySummary> {
    let tags = 0;
    let pushedAt: number | undefined;
    for (const r of records ?? (await this.tagRecords(name, signal))) {
      tags++;
      if (pushedAt === undefined || r.updatedAt > pushedAt) pushedAt = r.updatedAt;
    }
    let bytes = 0;
    for await (const link of paged((p) => this.meta.listBlobLinks(name, p, signal), (l) => l.digest, PAGE)) bytes += link.size;
    return { name, tags, bytes, ...(pushedAt !== undefined ? { pushedAt } : {}) };
  }

  /** Bytes of the blobs `digest` references that no other manifest of the repository references. */
  private async bytesOnlyIn(name: string, digest: Digest, signal?: AbortSignal): Promise<number> {
    const own = new Map<string, number>();
    const others = new Set<string>();
    for await (const d of paged((p) => this.meta.listManifests(name, p, signal), (x) => x, PAGE)) {
      const record = await this.meta.getManifest(name, d, signal);
      if (!record) continue;
      const blobs = blobsOf(record);
      if (d === digest) for (const b of blobs) own.set(b.digest, b.size);
      else for (const b of blobs) others.add(b.digest);
    }
    let bytes = 0;
    for (const [d, size] of own) if (!others.has(d)) bytes += size;
    return bytes;
  }
}

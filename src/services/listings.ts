/**
 * Listings: tags (spec "Listing Tags"), the catalog, and referrers (spec
 * "Listing Referrers"). Pages are keyset pages: `last` is exclusive.
 */
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { MediaType } from '../oci/mediatypes.js';
import type { RegistryLimits } from '../limits.js';
import type { MetadataStore } from '../storage/meta/types.js';

export interface PageRequest {
  /** `n`: entries wanted; undefined: defaultPageSize. At most maxPageSize. */
  readonly n?: number;
  readonly last?: string;
}

export interface Page {
  readonly entries: string[];
  /** The `last` to ask for the next page, when more entries remain. */
  readonly next?: { readonly n: number; readonly last: string };
}

export interface ReferrersIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MediaType.OciIndex;
  readonly manifests: Array<{ mediaType: string; digest: Digest; size: number; artifactType?: string; annotations?: Readonly<Record<string, string>> }>;
}

export class ListingService {
  constructor(
    private readonly meta: MetadataStore,
    private readonly limits: RegistryLimits,
  ) {}

  /** Tags of a repository. Throws NAME_UNKNOWN for a repository that does not exist. */
  async tags(repository: string, page: PageRequest, signal?: AbortSignal): Promise<Page> {
    if (!(await this.meta.repositoryExists(repository, signal))) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`);
    }
    return this.page(page, (p) => this.meta.listTags(repository, p, signal));
  }

  /**
   * Repository names; with `visible`, only those it accepts. Filtered pages
   * stay full: the store is paged through until n + 1 visible names are found
   * (so `next` is given exactly when more remain), the end is reached, or
   * maxCatalogScan rows were read; then the page ends early, with `next`
   * after its last entry when it has one. The cursor is always a listed name,
   * so a Link never reveals a name the caller may not see (a run of more than
   * maxCatalogScan hidden names after the last visible one ends the listing).
   */
  async catalog(page: PageRequest, signal?: AbortSignal, visible?: (name: string) => boolean | Promise<boolean>): Promise<Page> {
    if (!visible) return this.page(page, (p) => this.meta.listRepositories(p, signal));
    if (page.n === 0) return { entries: [] };
    const n = Math.min(page.n ?? this.limits.defaultPageSize, this.limits.maxPageSize);
    const batch = Math.min(Math.max(n + 1, 100), this.limits.maxPageSize + 1);
    const entries: string[] = [];
    let cursor = page.last;
    for (let scanned = 0; scanned < this.limits.maxCatalogScan; ) {
      const limit = Math.min(batch, this.limits.maxCatalogScan - scanned);
      const rows = await this.meta.listRepositories({ ...(cursor !== undefined ? { last: cursor } : {}), limit }, signal);
      scanned += rows.length;
      for (const name of rows) {
        if (!(await visible(name))) continue;
        entries.push(name);
        if (entries.length > n) return { entries: entries.slice(0, n), next: { n, last: entries[n - 1]! } };
      }
      if (rows.length < limit) return { entries };
      cursor = rows[rows.length - 1];
    }
    return entries.length > 0 ? { entries, next: { n, last: entries[entries.length - 1]! } } : { entries };
  }

  /**
   * The referrers index of `digest` in `repository`, optionally filtered by
   * artifactType. Always an index, empty when nothing refers to the digest
   * (spec: MUST NOT 404 when the API is supported).
   */
  async referrers(repository: string, digest: Digest, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrersIndex> {
    const records = await this.meta.listReferrers(repository, digest, artifactType, signal);
    return {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: records.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations && Object.keys(r.annotations).length > 0 ? { annotations: r.annotations } : {}),
      })),
    };
  }

  /**
   * spec "Listing Tags": with n = 0, an empty list and no Link; otherwise up
   * to n entries and a next page when more remain. n above maxPageSize is
   * cut to maxPageSize, and an absent n is defaultPageSize, with a Link when
   * more remain, which the spec allows.
   */
  private async page(request: PageRequest, list: (p: { last?: string; limit: number }) => Promise<string[]>): Promise<Page> {
    if (request.n === 0) return { entries: [] };
    const n = Math.min(request.n ?? this.limits.defaultPageSize, this.limits.maxPageSize);
    const rows = await list({ ...(request.last !== undefined ? { last: request.last } : {}), limit: n + 1 });
    if (rows.length <= n) return { entries: rows };
    const entries = rows.slice(0, n);
    return { entries, next: { n, last: entries[entries.length - 1]! } };
  }
}

/**
 * Listings: tags (spec "Listing Tags"), the catalog, and referrers (spec
 * "Listing Referrers"). Pages are keyset pages: `last` is exclusive.
 */
import { RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { MediaType } from '../oci/mediatypes.js';
import type { RegistryLimits } from '../limits.js';
import type { MetadataStore } from '../storage/meta/types.js';

export interface PageRequest {
  /** `n`: entries wanted; undefined means "all" (still capped by maxPageSize). */
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
  readonly manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Readonly<Record<string, string>> }>;
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

  /** Repository names. */
  async catalog(page: PageRequest, signal?: AbortSignal): Promise<Page> {
    return this.page(page, (p) => this.meta.listRepositories(p, signal));
  }

  /**
   * The referrers index of `digest` in `repository`, optionally filtered by
   * artifactType. Always an index, empty when nothing refers to the digest
   * (spec: MUST NOT 404 when the API is supported). Throws DIGEST_INVALID (400).
   */
  async referrers(repository: string, digest: string, artifactType: string | undefined, signal?: AbortSignal): Promise<ReferrersIndex> {
    parseDigest(digest);
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
   * to n entries and a next page when more remain. n above maxPageSize (or
   * absent) is cut to maxPageSize with a Link, which the spec allows.
   */
  private async page(request: PageRequest, list: (p: { last?: string; limit: number }) => Promise<string[]>): Promise<Page> {
    if (request.n === 0) return { entries: [] };
    const n = Math.min(request.n ?? this.limits.maxPageSize, this.limits.maxPageSize);
    const rows = await list({ ...(request.last !== undefined ? { last: request.last } : {}), limit: n + 1 });
    if (rows.length <= n) return { entries: rows };
    const entries = rows.slice(0, n);
    return { entries, next: { n, last: entries[entries.length - 1]! } };
  }
}

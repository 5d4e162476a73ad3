/** Repository-scoped blob reads and deletes (spec "Pulling blobs", "Deleting Blobs"). */
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobStore, ByteRange } from '../storage/blob/types.js';
import { type MetadataStore } from '../storage/meta/types.js';

/** How the blob reads renew link receipts (docs/gc.md). */
export interface ReceiptOptions {
  /** A HEAD or GET renews a receipt older than this (services/gc.ts receiptRenewAfterMs); read on every call (the grace may be reloaded). */
  readonly renewAfterMs: () => number;
  readonly now: () => number;
}

export class BlobService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
    private readonly receipts?: ReceiptOptions,
  ) {}

  /**
   * Size of a blob linked in the repository. Never reads content. Renews the
   * link's receipt when it is older than `receipts.renewAfterMs`: a client
   * that found the blob (a push skipping it after HEAD) keeps it in the
   * repository for the grace period. Throws BLOB_UNKNOWN.
   */
  async stat(repository: string, digest: Digest, signal?: AbortSignal): Promise<{ digest: Digest; size: number }> {
    const link = await this.meta.getBlobLink(repository, digest, signal);
    const unknown = () => new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repository}`);
    if (!link) throw unknown();
    const meta = this.meta;
    const receipts = this.receipts;
    if (receipts) {
      const now = receipts.now();
      // Reclaimed between the read and the renewal: the blob is gone, answer as such.
      if (now - link.touchedAt > receipts.renewAfterMs() && !(await meta.touchBlobLink(repository, digest, now, signal))) throw unknown();
    }
    return { digest: link.digest, size: link.size };
  }

  /**
   * Streams the content of `link` (as returned by stat: one metadata lookup per
   * request), or an inclusive range of it validated against the link's size.
   */
  async read(link: { readonly digest: Digest }, repository: string, range: ByteRange | undefined, signal?: AbortSignal): Promise<Readable> {
    const { digest } = link;
    const stream = await this.blobs.read(digest, range, signal);
    if (!stream) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is linked in ${repository} but its content is missing`);
    return stream;
  }

  /**
   * A URL to redirect a whole-blob GET of `link` (as returned by stat) to, when
   * the store has that power and the registry was built with redirects on;
   * undefined otherwise.
   */
  async redirect(link: { readonly digest: Digest }, enabled: boolean): Promise<string | undefined> {
    if (!enabled) return undefined;
    return this.blobs.redirectUrl(link.digest);
  }

  /** Unlinks the blob from the repository (the content is shared and left to garbage collection). */
  async delete(repository: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    if (!(await this.meta.unlinkBlob(repository, digest, signal))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repository}`);
    }
  }
}

/** Repository-scoped blob reads and deletes (spec "Pulling blobs", "Deleting Blobs"). */
import type { Readable } from 'node:stream';
import { RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import type { BlobStore, ByteRange } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';

export class BlobService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
  ) {}

  /** Size of a blob linked in the repository. Never reads content. Throws DIGEST_INVALID, BLOB_UNKNOWN. */
  async stat(repository: string, digest: string, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
    parseDigest(digest);
    const link = await this.meta.getBlobLink(repository, digest, signal);
    if (!link) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repository}`);
    return link;
  }

  /**
   * Streams the content of `link` (as returned by stat: one metadata lookup per
   * request), or an inclusive range of it validated against the link's size.
   */
  async read(link: { readonly digest: string }, repository: string, range: ByteRange | undefined, signal?: AbortSignal): Promise<Readable> {
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
  async redirect(link: { readonly digest: string }, enabled: boolean): Promise<string | undefined> {
    if (!enabled) return undefined;
    return this.blobs.redirectUrl(link.digest);
  }

  /** Unlinks the blob from the repository (the content is shared and left to garbage collection). */
  async delete(repository: string, digest: string, signal?: AbortSignal): Promise<void> {
    parseDigest(digest);
    if (!(await this.meta.unlinkBlob(repository, digest, signal))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repository}`);
    }
  }
}

/**
 * Manifests and tags (spec "Pulling manifests", "Pushing Manifests",
 * "Deleting tags", "Deleting Manifests").
 */
import { RegistryError } from '../oci/errors.js';
import { digestOf } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { isValidTag, parseReference, type Reference } from '../oci/names.js';
import type { ManifestRecord, MetadataStore } from '../storage/meta/types.js';

export interface PutManifestOutcome {
  readonly digest: string;
  readonly subject?: string;
}

export class ManifestService {
  constructor(
    private readonly meta: MetadataStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores the exact bytes under their digest and, for a tag reference, points
   * the tag at them. When the reference is a digest, the bytes MUST hash to it
   * (spec "Pushing Manifests": Docker-Content-Digest MUST equal the client's
   * digest). Config, layers and index children MUST exist in the repository
   * (MANIFEST_BLOB_UNKNOWN); the subject need not (spec "Push").
   */
  async put(repository: string, reference: string, bytes: Uint8Array, contentType: string | undefined, signal?: AbortSignal): Promise<PutManifestOutcome> {
    const ref = parseReference(reference);
    const parsed = parseManifest(bytes, contentType);
    const digest = digestOf(bytes, ref.kind === 'digest' ? ref.algorithm : 'sha256');
    if (ref.kind === 'digest' && digest !== ref.digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest bytes have digest ${digest}, not the ${ref.digest} in the URL`);
    }
    const toRef = (d: { digest: string; size: number }) => ({ digest: d.digest, size: d.size });
    const result = await this.meta.putManifest(
      {
        repository,
        digest,
        mediaType: parsed.mediaType,
        bytes,
        ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
        blobs: parsed.blobs.map(toRef),
        manifests: parsed.manifests.map(toRef),
        ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
        now: this.now(),
      },
      signal,
    );
    if (!result.ok) {
      const first = result.missing[0]!;
      const what = (m: (typeof result.missing)[number]) =>
        m.actualSize === undefined
          ? `${m.kind} ${m.digest} is not in repository ${repository}`
          : `${m.kind} ${m.digest} is ${m.actualSize} bytes, not the ${m.expectedSize} the manifest says`;
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', what(first) + (result.missing.length > 1 ? ` (and ${result.missing.length - 1} more)` : ''), {
        detail: result.missing.map((m) => ({ digest: m.digest, kind: m.kind, reason: what(m) })),
      });
    }
    return { digest, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  /** The manifest a tag or digest names. Throws NAME_UNKNOWN or MANIFEST_UNKNOWN. */
  async get(repository: string, reference: string, signal?: AbortSignal): Promise<ManifestRecord> {
    const ref = await this.lookupReference(repository, reference, signal);
    const digest = ref.kind === 'tag' ? await this.meta.getTag(repository, ref.tag, signal) : ref.digest;
    const record = digest === undefined ? undefined : await this.meta.getManifest(repository, digest, signal);
    if (!record) throw await this.unknown(repository, reference, signal);
    return record;
  }

  /** DELETE by tag removes the tag only; by digest the manifest and its tags. */
  async delete(repository: string, reference: string, signal?: AbortSignal): Promise<void> {
    const ref = await this.lookupReference(repository, reference, signal);
    const deleted = ref.kind === 'tag' ? await this.meta.deleteTag(repository, ref.tag, signal) : await this.meta.deleteManifest(repository, ref.digest, signal);
    if (!deleted) throw await this.unknown(repository, reference, signal);
  }

  /**
   * A reference to look up: a malformed digest is DIGEST_INVALID (400), but a
   * string that is no valid tag simply names no manifest (404), as the
   * conformance suite expects of GET/HEAD/DELETE.
   */
  private async lookupReference(repository: string, reference: string, signal?: AbortSignal): Promise<Reference> {
    if (!reference.includes(':') && !isValidTag(reference)) throw await this.unknown(repository, reference, signal);
    return parseReference(reference);
  }

  private async unknown(repository: string, reference: string, signal?: AbortSignal): Promise<RegistryError> {
    if (!(await this.meta.repositoryExists(repository, signal))) {
      return new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`);
    }
    return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${repository}`);
  }
}


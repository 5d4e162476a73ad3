/**
 * Manifests and tags (spec "Pulling manifests", "Pushing Manifests",
 * "Deleting tags", "Deleting Manifests").
 */
import { RegistryError } from '../oci/errors.js';
import { digestOf, type Digest, type DigestAlgorithm } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { assertValidTag, isValidTag, parseReference, type Reference } from '../oci/names.js';
import { type EventContext, type ManifestRecord, type MetadataStore, type TagRecord } from '../storage/meta/types.js';
import { paged } from './paged.js';
import { StoragePolicy } from './policy.js';
import { Live } from '../live.js';

export interface PutManifestOptions {
  /** Tags of `tag` query parameters (distribution-spec-next "Pushing Manifests", end-7b): a push by digest only. */
  readonly tags?: readonly string[];
  /** The algorithm a push by tag is addressed with (the `digest-algorithm` parameter); see ManifestService.put. */
  readonly algorithm?: DigestAlgorithm;
  /** Who pushes: the push's events are recorded with it (none without). */
  readonly context?: EventContext;
}

export interface PutManifestOutcome {
  readonly digest: Digest;
  readonly subject?: string;
  /** The tags now pointing at the manifest: the reference's, or those of PutManifestOptions.tags. */
  readonly tags: readonly string[];
}

/**
 * Immutable tags (StoragePolicy.isImmutable): such a tag, once it exists,
 * is never moved to another manifest nor deleted, and the manifest it points
 * at is not deleted (TAG_IMMUTABLE, 409 DENIED). The tag is set in the same
 * transaction that checks it (PutManifestInput.immutableTags), each tag of a
 * push with several tags included: one immutable tag taken refuses the push.
 * A Live policy may be replaced while the service runs: each call uses the
 * rules current when it starts.
 */
export class ManifestService {
  private readonly policy: Live<StoragePolicy>;

  constructor(
    private readonly meta: MetadataStore,
    private readonly now: () => number = Date.now,
    policy: StoragePolicy | Live<StoragePolicy> = new StoragePolicy(),
  ) {
    this.policy = Live.of(policy);
  }

  /**
   * Stores the exact bytes under their digest and, for a tag reference, points
   * the tag at them. When the reference is a digest, the bytes MUST hash to it
   * (spec "Pushing Manifests": Docker-Content-Digest MUST equal the client's
   * digest). Config, layers and index children MUST exist in the repository
   * (MANIFEST_BLOB_UNKNOWN); the subject need not (spec "Push"). The tags
   * (the reference's, or `options.tags` with a digest) are set in the same
   * transaction as the manifest: all of them or none.
   */
  async put(repository: string, reference: string, bytes: Uint8Array, contentType: string | undefined, options: PutManifestOptions = {}, signal?: AbortSignal): Promise<PutManifestOutcome> {
    const ref = parseReference(reference);
    if (ref.kind === 'tag' && (options.tags?.length ?? 0) > 0) {
      throw new RegistryError('UNSUPPORTED', `tag query parameters are accepted on a push by digest only; push to /v2/${repository}/manifests/<digest>?tag=${ref.tag}`);
    }
    if (ref.kind === 'digest' && options.algorithm !== undefined && options.algorithm !== ref.algorithm) {
      throw new RegistryError('DIGEST_INVALID', `digest-algorithm ${options.algorithm} does not match the ${ref.algorithm} digest in the URL`);
    }
    const parsed = parseManifest(bytes, contentType);
    const digest = ref.kind === 'digest' ? digestOf(bytes, ref.algorithm) : await this.tagPushDigest(repository, bytes, options.algorithm, signal);
    if (ref.kind === 'digest' && digest !== ref.digest) {
      // spec "Pushing Manifests": Docker-Content-Digest MUST equal the client's digest.
      throw new RegistryError('DIGEST_INVALID', `manifest bytes have digest ${digest}, not the ${ref.digest} in the URL`);
    }
    const tags = ref.kind === 'tag' ? [ref.tag] : [...new Set(options.tags)].map(assertValidTag);
    const toRef = (d: { digest: Digest; size: number }) => ({ digest: d.digest, size: d.size });
    const policy = this.policy.current;
    const immutableTags = tags.filter((tag) => policy.isImmutable(repository, tag));
    const result = await this.meta.putManifest(
      {
        repository,
        digest,
        mediaType: parsed.mediaType,
        bytes,
        ...(tags.length > 0 ? { tags } : {}),
        blobs: parsed.blobs.map(toRef),
        manifests: parsed.manifests.map(toRef),
        ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
        ...(immutableTags.length > 0 ? { immutableTags } : {}),
        now: this.now(),
      },
      signal,
      options.context,
    );
    if (!result.ok && result.tagTaken !== undefined) throw immutableError(repository, result.tagTaken.tag, result.tagTaken.digest);
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
    return { digest, ...(parsed.subject ? { subject: parsed.subject.digest } : {}), tags };
  }

  /**
   * The digest a push by tag stores the manifest under: with `algorithm`
   * (the client named one), that one; else sha512 when the repository holds
   * these exact bytes under their sha512 digest already (a client that pushed
   * by sha512 digest, then tags by tag: the tag points at that manifest, no
   * sha256-addressed copy is made); else sha256, the canonical algorithm.
   */
  private async tagPushDigest(repository: string, bytes: Uint8Array, algorithm: DigestAlgorithm | undefined, signal?: AbortSignal): Promise<Digest> {
    if (algorithm !== undefined) return digestOf(bytes, algorithm);
    const sha512 = digestOf(bytes, 'sha512');
    return (await this.meta.getManifest(repository, sha512, signal)) ? sha512 : digestOf(bytes, 'sha256');
  }

  /** The manifest a tag or digest names. Throws NAME_UNKNOWN or MANIFEST_UNKNOWN. */
  async get(repository: string, reference: string, signal?: AbortSignal): Promise<ManifestRecord> {
    const ref = await this.lookupReference(repository, reference, signal);
    const digest = ref.kind === 'tag' ? await this.meta.getTag(repository, ref.tag, signal) : ref.digest;
    const record = digest === undefined ? undefined : await this.meta.getManifest(repository, digest, signal);
    if (!record) throw await this.unknown(repository, reference, signal);
    return record;
  }

  /**
   * DELETE by tag removes the tag only; by digest the manifest and its tags. Immutable tags: see the class.
   * The events are recorded with `context` (none without); with immutable-tag rules, one tag.deleted per tag then manifest.deleted.
   */
  async delete(repository: string, reference: string, signal?: AbortSignal, context?: EventContext): Promise<void> {
    const policy = this.policy.current;
    const ref = await this.lookupReference(repository, reference, signal);
    let deleted: boolean;
    if (ref.kind === 'tag') {
      const current = policy.isImmutable(repository, ref.tag) ? await this.meta.getTag(repository, ref.tag, signal) : undefined;
      if (current !== undefined) throw immutableError(repository, ref.tag, current);
      deleted = await this.meta.deleteTag(repository, ref.tag, signal, context);
    } else {
      deleted = policy.hasImmutableTags(repository)
        ? await this.deleteGuarded(policy, repository, ref.digest, signal, context)
        : await this.meta.deleteManifest(repository, ref.digest, signal, context);
    }
    if (!deleted) throw await this.unknown(repository, reference, signal);
  }

  /**
   * Deletes a manifest of a repository with immutable-tag rules: refused when
   * an immutable tag points at it; otherwise its tags are removed, then the
   * manifest only while it is still untagged (ManifestLifecycle), so that an
   * immutable tag set meanwhile is never lost.
   */
  private async deleteGuarded(policy: StoragePolicy, repository: string, digest: Digest, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    const meta = this.meta;
    const tags: TagRecord[] = [];
    for await (const t of paged((page) => meta.listTagRecords(repository, page, signal), (r) => r.tag, 1000)) if (t.digest === digest) tags.push(t);
    const locked = tags.find((t) => policy.isImmutable(repository, t.tag));
    if (locked) throw immutableError(repository, locked.tag, digest, 'so the manifest it points at cannot be deleted');
    for (const t of tags) await meta.deleteTagIf(repository, t.tag, t, signal, context);
    if (await meta.deleteManifestIf(repository, digest, { untagged: true }, signal, context)) return true;
    if (!(await meta.getManifest(repository, digest, signal))) return false;
    throw new RegistryError('TAG_IMMUTABLE', `manifest ${digest} in ${repository} was tagged while it was being deleted; retry`);
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

function immutableError(repository: string, tag: string, digest: Digest, consequence = 'it cannot be moved or deleted'): RegistryError {
  return new RegistryError('TAG_IMMUTABLE', `tag ${tag} of repository ${repository} is immutable (it points at ${digest}): ${consequence}`);
}

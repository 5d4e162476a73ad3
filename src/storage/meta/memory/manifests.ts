/**
 * The manifest writes of the in-memory MetadataStore (index.ts): putManifest
 * and the ManifestLifecycle's deleteManifestIf, and the referrer listing,
 * over the repository structures of schema.ts. Synchronous, hence atomic, like the store's methods.
 */
import type { Digest } from '../../../oci/digest.js';
import { missingReferences } from '../references.js';
import type { ManifestDeleteConditions, ManifestRecord, PutManifestInput, PutManifestResult, ReferrerRecord } from '../types.js';
import type { MemoryBlobLifecycle } from './lifecycle.js';
import { compareBytes, countBlobRefs, removeManifest, type Repository, type StoredManifest } from './schema.js';

/** Records a use of the manifest (ManifestLifecycle): its last use becomes at least `now`. */
export function useManifest(repo: Repository, digest: Digest, now: number): void {
  const stored = repo.manifests.get(digest);
  if (stored !== undefined) stored.usedAt = Math.max(stored.usedAt, now);
}

/**
 * putManifest on `existing`, the repository as it is (undefined when it does
 * not exist); `create` gives the repository to write into, creating it.
 */
export function putManifest(existing: Repository | undefined, create: () => Repository, lifecycle: MemoryBlobLifecycle, input: PutManifestInput): PutManifestResult {
  const tags = [...new Set(input.tags ?? [])];
  for (const tag of input.immutableTags ?? []) {
    const current = existing?.tags.get(tag)?.digest;
    if (current !== undefined && current !== input.digest && tags.includes(tag)) return { ok: false, missing: [], tagTaken: { tag, digest: current } };
  }
  const missing = missingReferences(input, (kind, digest) => (kind === 'blob' ? existing?.links.get(digest)?.size : existing?.manifests.get(digest)?.record.size));
  if (missing.length > 0) return { ok: false, missing };

  const repo = create();
  if (!repo.manifests.has(input.digest)) {
    const bytes = Uint8Array.from(input.bytes);
    const record: ManifestRecord = {
      repository: input.repository,
      digest: input.digest,
      mediaType: input.mediaType,
      bytes,
      size: bytes.byteLength,
      ...(input.subject === undefined ? {} : { subject: input.subject }),
      ...(input.artifactType === undefined ? {} : { artifactType: input.artifactType }),
      ...(input.annotations === undefined ? {} : { annotations: { ...input.annotations } }),
      createdAt: input.now,
    };
    const stored: StoredManifest = { record, blobs: input.blobs.map((b) => b.digest), manifests: input.manifests.map((m) => m.digest), usedAt: input.now };
    repo.manifests.set(input.digest, stored);
    countBlobRefs(repo, stored.blobs, 1);
    lifecycle.countRefs([...stored.blobs, ...stored.manifests], 1);
    repo.manifestDigests.add(input.digest);
    if (input.subject !== undefined) {
      let set = repo.referrers.get(input.subject);
      if (set === undefined) repo.referrers.set(input.subject, (set = new Set()));
      set.add(input.digest);
    }
  }
  useManifest(repo, input.digest, input.now);
  for (const tag of tags) {
    const current = repo.tags.get(tag)?.digest;
    if (current === undefined) repo.tagNames.add(tag);
    repo.tags.set(tag, { digest: input.digest, updatedAt: input.now });
    if (current !== undefined && current !== input.digest) useManifest(repo, current, input.now);
  }
  return { ok: true };
}

/** deleteManifestIf (ManifestLifecycle) in `repo` (undefined: the repository does not exist). */
export function deleteManifestIf(repo: Repository | undefined, digest: Digest, c: ManifestDeleteConditions, lifecycle: MemoryBlobLifecycle): boolean {
  const stored = repo?.manifests.get(digest);
  if (repo === undefined || stored === undefined) return false;
  const others = [...repo.manifests.values()].filter((m) => m !== stored);
  if (c.untagged === true && [...repo.tags.values()].some((t) => t.digest === digest)) return false;
  if (c.unreferenced === true && others.some((m) => m.manifests.includes(digest))) return false;
  if (c.usedBefore !== undefined && !(stored.usedAt < c.usedBefore)) return false;
  const subject = stored.record.subject;
  if (subject !== undefined && (c.referrers === 'keep' || (c.referrers === 'orphans' && repo.manifests.has(subject)))) return false;
  if (c.dryRun === true) return true;
  removeManifest(repo, digest);
  lifecycle.countRefs([...stored.blobs, ...stored.manifests], -1);
  return true;
}

/** The referrers of `subject` in `repo`, optionally of one artifactType, ordered by digest (copies). */
export function listReferrers(repo: Repository | undefined, subject: Digest, artifactType: string | undefined): ReferrerRecord[] {
  const digests = [...(repo?.referrers.get(subject) ?? [])].sort(compareBytes);
  const out: ReferrerRecord[] = [];
  for (const digest of digests) {
    const record = repo?.manifests.get(digest)?.record;
    if (record === undefined || (artifactType !== undefined && record.artifactType !== artifactType)) continue;
    out.push({
      digest,
      mediaType: record.mediaType,
      size: record.size,
      ...(record.artifactType === undefined ? {} : { artifactType: record.artifactType }),
      ...(record.annotations === undefined ? {} : { annotations: { ...record.annotations } }),
    });
  }
  return out;
}

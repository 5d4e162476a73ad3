/**
 * putManifest's reference check, the same in every MetadataStore: each
 * distinct (kind, digest, size) of the input's blobs, then of its manifests,
 * against the size the store holds for it in the repository.
 */
import type { Digest } from '../../oci/digest.js';
import type { MissingReference, PutManifestInput } from './types.js';

/** The references absent (`sizeOf` undefined) or of another size, in input order. */
export function missingReferences(input: PutManifestInput, sizeOf: (kind: 'blob' | 'manifest', digest: Digest) => number | undefined): MissingReference[] {
  const missing: MissingReference[] = [];
  const seen = new Set<string>();
  for (const [kind, refs] of [['blob', input.blobs], ['manifest', input.manifests]] as const) {
    for (const ref of refs) {
      const key = `${kind} ${ref.digest} ${ref.size}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const actual = sizeOf(kind, ref.digest);
      if (actual === undefined) missing.push({ digest: ref.digest, kind, expectedSize: ref.size });
      else if (actual !== ref.size) missing.push({ digest: ref.digest, kind, expectedSize: ref.size, actualSize: actual });
    }
  }
  return missing;
}

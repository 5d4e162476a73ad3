/** Fixtures shared by the MetadataStore contract files: digests, blob refs, manifest inputs, paging. */
import assert from 'node:assert/strict';
import { digestOf as digestOfBytes, type Digest } from '../../src/oci/digest.js';
import type { BlobRef, MetadataStore, PutManifestInput } from '../../src/storage/meta/types.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const NOW = 1_700_000_000_000;

export function digestOf(data: string | Uint8Array): Digest {
  return digestOfBytes(typeof data === 'string' ? Buffer.from(data) : data);
}

export function blob(name: string, size = name.length): BlobRef {
  return { digest: digestOf(`blob ${name}`), size };
}

/** A manifest input with distinct bytes per `seed`; references default to none. */
export function manifest(repository: string, seed: string, extra: Partial<PutManifestInput> = {}): PutManifestInput {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, seed }));
  return { repository, digest: digestOf(bytes), mediaType: MANIFEST, bytes, blobs: [], manifests: [], now: NOW, ...extra };
}

export async function mustPut(store: MetadataStore, input: PutManifestInput): Promise<void> {
  assert.deepEqual(await store.putManifest(input), { ok: true });
}

/** Pages through a listing with the given page size, checking each page's bound. */
export async function pageAll(list: (last: string | undefined) => Promise<string[]>, size: number): Promise<string[]> {
  const all: string[] = [];
  let last: string | undefined;
  for (;;) {
    const page = await list(last);
    assert.ok(page.length <= size, `page of ${page.length} exceeds limit ${size}`);
    all.push(...page);
    if (page.length < size) return all;
    last = page[page.length - 1];
  }
}

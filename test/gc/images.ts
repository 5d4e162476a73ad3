/** Pushing images, indexes and referrers by tag or by digest, for the policy tests. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OciClient } from '../../support/oci-client.js';
import { digestOf, type Digest } from '../../src/oci/digest.js';

export const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Pushed {
  readonly digest: Digest;
  readonly size: number;
  /** Blobs it references (config and layers). */
  readonly blobs: readonly Digest[];
}

/** PUTs manifest `bytes` under `tag`, or by its digest when no tag is given; asserts 201. */
export async function putManifest(client: OciClient, repo: string, body: unknown, mediaType: string, tag?: string): Promise<Pushed & { bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(body));
  const digest = digestOf(bytes);
  const res = await client.putManifest(repo, tag ?? digest, bytes, mediaType);
  assert.equal(res.status, 201, await res.text());
  return { digest, size: bytes.length, bytes, blobs: [] };
}

/** An image with a fresh config and one fresh layer (plus `layers` given), under `tag` or untagged. */
export async function image(client: OciClient, repo: string, tag?: string, extra: { layers?: Buffer[]; subject?: Pushed } = {}): Promise<Pushed> {
  const config = Buffer.from(JSON.stringify({ os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const layers = [randomBytes(300), ...(extra.layers ?? [])];
  for (const b of [config, ...layers]) await client.pushBlob(repo, b);
  const body = {
    schemaVersion: 2,
    mediaType: MANIFEST,
    ...(extra.subject ? { artifactType: 'application/vnd.example.signature' } : {}),
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length })),
    ...(extra.subject ? { subject: { mediaType: MANIFEST, digest: extra.subject.digest, size: extra.subject.size } } : {}),
  };
  const pushed = await putManifest(client, repo, body, MANIFEST, tag);
  return { ...pushed, blobs: [digestOf(config), ...layers.map((l) => digestOf(l))] };
}

/** A signature-like referrer of `subject` (which need not exist: give digest and size). */
export function referrer(client: OciClient, repo: string, subject: Pushed, tag?: string): Promise<Pushed> {
  return image(client, repo, tag, { subject });
}

/** An index of `children`, under `tag` or untagged. */
export async function index(client: OciClient, repo: string, children: readonly Pushed[], tag?: string): Promise<Pushed> {
  const body = { schemaVersion: 2, mediaType: INDEX, manifests: children.map((c) => ({ mediaType: MANIFEST, digest: c.digest, size: c.size, platform: { os: 'linux', architecture: 'amd64' } })) };
  return putManifest(client, repo, body, INDEX, tag);
}

/** The status of GET manifest `ref` (a tag or digest) of `repo`. */
export async function manifestStatus(client: OciClient, repo: string, ref: string): Promise<number> {
  const res = await client.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { accept: `${MANIFEST}, ${INDEX}` } });
  return res.status;
}

export async function blobStatus(client: OciClient, repo: string, digest: string): Promise<number> {
  return (await client.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

/** Runs POST /admin/gc and returns its report; first waits 5 ms, so that the last push is older than an age of 0. */
export async function adminGc(client: OciClient, dryRun = false): Promise<Record<string, unknown> & { manifests?: { tags: { tag: string }[]; manifests: { digest: string; reason: string }[]; tagsRemoved: number; manifestsRemoved: number } ; deleted: number }> {
  await new Promise((r) => setTimeout(r, 5));
  const res = await client.fetch(`/admin/gc${dryRun ? '?dryRun=true' : ''}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as never;
}

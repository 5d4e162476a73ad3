/** Settings of a test upstream, and pulls through a mirror over real HTTP. */
import assert from 'node:assert/strict';
import { UPSTREAM_DEFAULTS, type UpstreamSettings } from '../../src/services/mirror/settings.js';
import { digestOf } from '../../src/oci/digest.js';

export function upstream(url: string, overrides: Partial<UpstreamSettings> = {}): UpstreamSettings {
  return { name: 'up', url, namespace: 'up.test', hosts: ['up.test'], ...UPSTREAM_DEFAULTS, timeoutMs: 5_000, ...overrides };
}

export const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

/** GET a blob and check that its bytes hash to its digest; returns the status and byte count. */
export async function pullBlob(base: string, repo: string, digest: string): Promise<{ status: number; size: number }> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) {
    await res.arrayBuffer();
    return { status: res.status, size: 0 };
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.equal(digestOf(bytes), digest, `blob ${digest} pulled through the mirror hashes to its digest`);
  return { status: 200, size: bytes.byteLength };
}

/** GET a manifest; returns the response (its body unread) and its bytes. */
export async function pullManifest(base: string, repo: string, reference: string, query = ''): Promise<{ res: Response; bytes: Buffer }> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}${query}`, { headers: { accept: ACCEPT } });
  return { res, bytes: Buffer.from(await res.clone().arrayBuffer()) };
}

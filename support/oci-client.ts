/** A minimal OCI client over fetch, for tests: push and pull blobs and manifests. */
export { expectError, type ErrorBody } from './http.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { digestOf, type Digest, type DigestAlgorithm } from '../src/oci/digest.js';

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

/** The bytes of an OCI image manifest with this config and these layers (gzip tar). */
export function imageManifest(config: { digest: string; size: number }, layers: ReadonlyArray<{ digest: string; size: number }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }),
  );
}

export class OciClient {
  /** `headers` (e.g. Authorization) go with every request. */
  constructor(
    readonly base: string,
    readonly headers: Record<string, string> = {},
  ) {}

  /** `path` below the base, or an absolute URL (a Location some registries answer). */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = /^https?:\/\//.test(path) ? path : this.base + path;
    return fetch(url, { ...init, headers: { ...this.headers, ...(init.headers as Record<string, string> | undefined) } });
  }

  /** POST + PUT monolithic upload; returns the digest. */
  async pushBlob(repo: string, bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Promise<Digest> {
    const digest = digestOf(bytes, algorithm);
    const start = await this.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202, await start.text());
    const location = start.headers.get('location');
    assert.ok(location);
    const put = await this.fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(put.status, 201, await put.text());
    return digest;
  }

  /** PUT a manifest object; returns the response. */
  putManifest(repo: string, reference: string, manifest: unknown, mediaType = 'application/vnd.oci.image.manifest.v1+json'): Promise<Response> {
    const body = typeof manifest === 'string' || manifest instanceof Uint8Array ? manifest : JSON.stringify(manifest);
    return this.fetch(`/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  }

  /** Pushes config + layers and an OCI image manifest under `tag`; returns digests and the bytes pushed. */
  async pushImage(repo: string, tag: string, options: { layers?: number; layerSize?: number; extra?: Record<string, unknown> } = {}) {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rand: randomBytes(8).toString('hex') }));
    const configDigest = await this.pushBlob(repo, config);
    const layers: Array<{ digest: string; bytes: Buffer }> = [];
    for (let i = 0; i < (options.layers ?? 2); i++) {
      const bytes = randomBlob(options.layerSize ?? 1024);
      layers.push({ digest: await this.pushBlob(repo, bytes), bytes });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.bytes.length })),
      ...options.extra,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const res = await this.putManifest(repo, tag, bytes);
    assert.equal(res.status, 201, await res.text());
    return { manifest, bytes, digest: digestOf(bytes), configDigest, config, layers };
  }
}

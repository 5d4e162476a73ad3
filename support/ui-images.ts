/**
 * Content for the web UI tests: a two-platform image index (configs with
 * history, labels, entrypoint), a signature and an SBOM referring to it, and
 * a Helm chart (an artifact). Written to a Sink: the registry over HTTP
 * through our client (clientSink), or an OCI layout on disk that skopeo then
 * copies into the registry, manifest by manifest in the order written
 * (SkopeoSink, support/skopeo.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { digestOf } from '../src/oci/digest.js';
import type { OciClient } from './oci-client.js';
import { OciLayout, skopeoPush, type SkopeoTarget } from './skopeo.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 };
export const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const SBOM_TYPE = 'application/spdx+json';

export interface PushedImage {
  readonly digest: string;
  /** Bytes of the manifest, its config and its layers. */
  readonly size: number;
  readonly manifestSize: number;
  readonly layers: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
}

export interface SampleSet {
  readonly index: { readonly digest: string; readonly size: number };
  readonly platforms: Readonly<Record<'amd64' | 'arm64', PushedImage>>;
  readonly signature: string;
  readonly sbom: string;
  readonly chart: string;
}

/** Where content goes: `reference` is a tag or the manifest's digest. */
export interface Sink {
  pushBlob(repo: string, bytes: Buffer): Promise<string>;
  put(repo: string, reference: string, manifest: unknown, mediaType: string): Promise<{ digest: string; size: number }>;
}

/** Pushes with our client, each blob and manifest as it is written. */
export function clientSink(client: OciClient): Sink {
  return {
    pushBlob: (repo, bytes) => client.pushBlob(repo, bytes),
    put: async (repo, reference, manifest, mediaType) => {
      const bytes = Buffer.from(JSON.stringify(manifest));
      const res = await client.putManifest(repo, reference, bytes, mediaType);
      assert.equal(res.status, 201, await res.text());
      return { digest: digestOf(bytes), size: bytes.length };
    },
  };
}

/** Writes an OCI layout in `dir`; push() then copies each manifest with skopeo (with its blobs, an index with its children) to where it was put. */
export class SkopeoSink implements Sink {
  readonly #copies: Array<{ repo: string; ref: string; destination: string }> = [];
  private constructor(readonly layout: OciLayout) {}

  static async create(dir: string): Promise<SkopeoSink> {
    return new SkopeoSink(await OciLayout.create(dir));
  }

  async pushBlob(_repo: string, bytes: Buffer): Promise<string> {
    return (await this.layout.blob(bytes)).digest;
  }

  async put(repo: string, reference: string, manifest: unknown, mediaType: string): Promise<{ digest: string; size: number }> {
    const ref = `m${this.#copies.length}`;
    const { digest, size } = await this.layout.manifest(manifest, mediaType, ref);
    this.#copies.push({ repo, ref, destination: reference.includes(':') ? `${repo}@${reference}` : `${repo}:${reference}` });
    return { digest, size };
  }

  /**
   * Runs the copies, up to `parallel` repositories at a time; the copies into one repository run one after
   * the other in the order they were put, so its push times follow that order (the UI sorts tags by them).
   */
  async push(target: SkopeoTarget, parallel = 1): Promise<void> {
    await this.layout.close();
    const byRepo = new Map<string, Array<{ ref: string; destination: string }>>();
    for (const c of this.#copies) byRepo.set(c.repo, [...(byRepo.get(c.repo) ?? []), c]);
    const queue = [...byRepo.values()];
    const worker = async () => {
      for (let group = queue.shift(); group; group = queue.shift()) {
        for (const next of group) await skopeoPush(this.layout, next.ref, target, next.destination);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }
}

/** Pushes an image for `architecture` by digest (untagged). */
export async function pushPlatformImage(sink: Sink, repo: string, architecture: string, layerSizes: readonly number[] = [2048, 4096]): Promise<PushedImage> {
  const config = Buffer.from(
    JSON.stringify({
      created: '2026-11-30T12:00:00Z',
      architecture,
      os: 'linux',
      config: { Entrypoint: ['/bin/server'], Cmd: ['--port', '8080'], Env: ['PATH=/usr/bin:/bin'], WorkingDir: '/srv', Labels: { 'org.opencontainers.image.title': 'demo server', maintainer: 'ui-tests' } },
      rootfs: { type: 'layers', diff_ids: layerSizes.map(() => `sha256:${randomBytes(32).toString('hex')}`) },
      history: [
        { created: '2026-11-30T11:00:00Z', created_by: 'ADD rootfs.tar /' },
        { created: '2026-11-30T12:00:00Z', created_by: 'COPY server /bin/server' },
      ],
    }),
  );
  const configDigest = await sink.pushBlob(repo, config);
  const layers: Array<{ digest: string; size: number }> = [];
  for (const size of layerSizes) layers.push({ digest: await sink.pushBlob(repo, randomBytes(size)), size });
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  const pushed = await sink.put(repo, digest, manifest, OCI_MANIFEST);
  return { digest, manifestSize: pushed.size, size: pushed.size + config.length + layers.reduce((s, l) => s + l.size, 0), layers };
}

/** An artifact manifest whose subject is `subject`, pushed by digest (a referrer). */
export async function pushReferrer(sink: Sink, repo: string, subject: { digest: string; size: number }, artifactType: string, payload: string): Promise<string> {
  const bytes = Buffer.from(payload);
  const layer = await sink.pushBlob(repo, bytes);
  await sink.pushBlob(repo, Buffer.from('{}'));
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: EMPTY,
    layers: [{ mediaType: artifactType, digest: layer, size: bytes.length }],
    subject: { mediaType: OCI_INDEX, ...subject },
    annotations: { 'org.opencontainers.image.created': '2026-12-01T08:00:00Z' },
  };
  return (await sink.put(repo, digestOf(Buffer.from(JSON.stringify(manifest))), manifest, OCI_MANIFEST)).digest;
}

/** The whole set: `repo` gets the index (tags 1.0 and latest) with its referrers; `chartRepo` a chart tagged 0.1.0. */
export async function pushSampleSet(sink: Sink, repo: string, chartRepo: string): Promise<SampleSet> {
  const amd64 = await pushPlatformImage(sink, repo, 'amd64');
  const arm64 = await pushPlatformImage(sink, repo, 'arm64', [1024, 3000]);
  const manifests = ([[amd64, 'amd64'], [arm64, 'arm64']] as const).map(([image, architecture]) => ({
    mediaType: OCI_MANIFEST,
    digest: image.digest,
    size: image.manifestSize,
    platform: { os: 'linux', architecture },
  }));
  const indexManifest = { schemaVersion: 2, mediaType: OCI_INDEX, manifests, annotations: { 'org.opencontainers.image.source': 'https://example.com/demo' } };
  const index = await sink.put(repo, '1.0', indexManifest, OCI_INDEX);
  await sink.put(repo, 'latest', indexManifest, OCI_INDEX);
  const signature = await pushReferrer(sink, repo, index, SIGNATURE_TYPE, JSON.stringify({ critical: { image: { 'docker-manifest-digest': index.digest } } }));
  const sbom = await pushReferrer(sink, repo, index, SBOM_TYPE, JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo' }));

  const chartConfig = Buffer.from(JSON.stringify({ name: 'demo', version: '0.1.0', apiVersion: 'v2' }));
  const chartLayer = randomBytes(1500);
  const chartManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: await sink.pushBlob(chartRepo, chartConfig), size: chartConfig.length },
    layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: await sink.pushBlob(chartRepo, chartLayer), size: chartLayer.length }],
  };
  const chart = (await sink.put(chartRepo, '0.1.0', chartManifest, OCI_MANIFEST)).digest;
  return { index, platforms: { amd64, arm64 }, signature, sbom, chart };
}

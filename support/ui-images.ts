/**
 * Content for the web UI tests, pushed over HTTP like a client would: a
 * two-platform image index (configs with history, labels, entrypoint), a
 * signature and an SBOM referring to it, and a Helm chart (an artifact).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { digestOf } from '../src/oci/digest.js';
import { OciClient } from './oci-client.js';

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

async function put(client: OciClient, repo: string, reference: string, manifest: unknown, mediaType: string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const res = await client.putManifest(repo, reference, bytes, mediaType);
  assert.equal(res.status, 201, await res.text());
  return { digest: digestOf(bytes), size: bytes.length };
}

/** Pushes an image for `architecture` by digest (untagged). */
export async function pushPlatformImage(client: OciClient, repo: string, architecture: string, layerSizes: readonly number[] = [2048, 4096]): Promise<PushedImage> {
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
  const configDigest = await client.pushBlob(repo, config);
  const layers: Array<{ digest: string; size: number }> = [];
  for (const size of layerSizes) layers.push({ digest: await client.pushBlob(repo, randomBytes(size)), size });
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = digestOf(bytes);
  const pushed = await put(client, repo, digest, manifest, OCI_MANIFEST);
  return { digest, manifestSize: pushed.size, size: pushed.size + config.length + layers.reduce((s, l) => s + l.size, 0), layers };
}

/** An artifact manifest whose subject is `subject`, pushed by digest (a referrer). */
export async function pushReferrer(client: OciClient, repo: string, subject: { digest: string; size: number }, artifactType: string, payload: string): Promise<string> {
  const bytes = Buffer.from(payload);
  const layer = await client.pushBlob(repo, bytes);
  await client.pushBlob(repo, Buffer.from('{}'));
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: EMPTY,
    layers: [{ mediaType: artifactType, digest: layer, size: bytes.length }],
    subject: { mediaType: OCI_INDEX, ...subject },
    annotations: { 'org.opencontainers.image.created': '2026-12-01T08:00:00Z' },
  };
  return (await put(client, repo, digestOf(Buffer.from(JSON.stringify(manifest))), manifest, OCI_MANIFEST)).digest;
}

/** The whole set: `repo` gets the index (tags 1.0 and latest) with its referrers; `chartRepo` a chart tagged 0.1.0. */
export async function pushSampleSet(client: OciClient, repo: string, chartRepo: string): Promise<SampleSet> {
  const amd64 = await pushPlatformImage(client, repo, 'amd64');
  const arm64 = await pushPlatformImage(client, repo, 'arm64', [1024, 3000]);
  const manifests = ([[amd64, 'amd64'], [arm64, 'arm64']] as const).map(([image, architecture]) => ({
    mediaType: OCI_MANIFEST,
    digest: image.digest,
    size: image.manifestSize,
    platform: { os: 'linux', architecture },
  }));
  const indexManifest = { schemaVersion: 2, mediaType: OCI_INDEX, manifests, annotations: { 'org.opencontainers.image.source': 'https://example.com/demo' } };
  const index = await put(client, repo, '1.0', indexManifest, OCI_INDEX);
  await put(client, repo, 'latest', indexManifest, OCI_INDEX);
  const signature = await pushReferrer(client, repo, index, SIGNATURE_TYPE, JSON.stringify({ critical: { image: { 'docker-manifest-digest': index.digest } } }));
  const sbom = await pushReferrer(client, repo, index, SBOM_TYPE, JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo' }));

  const chartConfig = Buffer.from(JSON.stringify({ name: 'demo', version: '0.1.0', apiVersion: 'v2' }));
  const chartLayer = randomBytes(1500);
  const chartManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: await client.pushBlob(chartRepo, chartConfig), size: chartConfig.length },
    layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: await client.pushBlob(chartRepo, chartLayer), size: chartLayer.length }],
  };
  const chart = (await put(client, chartRepo, '0.1.0', chartManifest, OCI_MANIFEST)).digest;
  return { index, platforms: { amd64, arm64 }, signature, sbom, chart };
}

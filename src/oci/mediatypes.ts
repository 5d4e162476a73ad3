/** Media types of image-spec media-types.md and the Docker schema2 equivalents. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OctetStream: 'application/octet-stream',
} as const;

/** Manifest media types whose `manifests` list other manifests. */
export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);

/** Manifest media types with a `config` and `layers`. */
export const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);

/** Every manifest media type the registry accepts on PUT. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([...IMAGE_MEDIA_TYPES, ...INDEX_MEDIA_TYPES]);

/** Strips parameters (`; charset=…`) and case from a Content-Type value (spec: registry SHOULD ignore parameters). */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const bare = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}

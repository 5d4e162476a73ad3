/**
 * ferro-oci-server as a library: build an OCI registry from a BlobStore and a
 * MetadataStore, mount it in a Fastify app (createRegistry) or get a ready
 * server (createRegistryServer), and use the OCI helpers.
 */
export { createRegistry, createServices, type RegistryOptions } from './registry.js';
export { createRegistryServer, type RegistryServerOptions, type ServerHealthOptions } from './server/app.js';
export { healthPlugin, type HealthOptions } from './server/health.js';
export { metricsPlugin, type MetricsOptions } from './server/metrics.js';
export { DEFAULT_LIMITS, resolveLimits, type RegistryLimits } from './limits.js';

export type * from './storage/blob/types.js';
export type * from './storage/meta/types.js';
export * from './storage/errors.js';
export { MemoryBlobStore } from './storage/blob/memory.js';
export { FilesystemBlobStore, openFilesystemBlobStore } from './storage/blob/filesystem.js';
export { MemoryMetadataStore } from './storage/meta/memory.js';
export { SqliteMetadataStore, openSqliteMetadataStore } from './storage/meta/sqlite.js';

export { RegistryError, ERROR_TABLE, type ErrorKind, type OciErrorCode } from './oci/errors.js';
export { parseDigest, tryParseDigest, looksLikeDigest, digestOf, verifyDigest, createDigester, type DigestAlgorithm, type ParsedDigest } from './oci/digest.js';
export { isValidName, isValidTag, assertValidName, parseReference, MAX_NAME_LENGTH, MAX_TAG_LENGTH, type Reference } from './oci/names.js';
export { MediaType, MANIFEST_MEDIA_TYPES, IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, bareMediaType } from './oci/mediatypes.js';
export { parseManifest, parseDescriptor, type Descriptor, type ParsedManifest } from './oci/manifest.js';

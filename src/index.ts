/**
 * ferro-oci-server as a library: build an OCI registry from a BlobStore and a
 * MetadataStore, mount it in a Fastify app (createRegistry) or get a ready
 * server (createRegistryServer), and use the OCI helpers.
 */
// The Fastify this package is built with: embed the registry in an app made with it (one Fastify, one major version).
export { fastify, type FastifyInstance } from 'fastify';
export { createRegistry, createServices, DEFAULT_GC_INTERVAL_MS, type RegistryOptions, type RegistryGcOptions } from './registry.js';
export { createRegistryServer, createOperationsServer, type RegistryServerOptions, type ServerHealthOptions } from './server/app.js';
export { healthPlugin, type HealthOptions } from './server/health.js';
export { metricsPlugin, metricsRoute, type MetricsOptions } from './server/metrics.js';
// Tracing (README "Tracing"): the OpenTelemetry SDK is imported only by startTracing.
export { startTracing, type RequestTracing, type StartTracingOptions, type StoreTracing, type Tracing } from './server/tracing.js';
export type { TracingConfig } from './server/config-tracing.js';
export { resolveV2Route, type ResolvedV2, type ParsedPath, type RouteKind } from './http/paths.js';
export { routeAccess, type RouteAccess, type V2Action } from './http/route-access.js';
export { TrustedProxies } from './http/proxy.js';
export { DEFAULT_LIMITS, resolveLimits, type RegistryLimits } from './limits.js';
export { Live } from './live.js';

export type * from './storage/blob/types.js';
export type * from './storage/meta/types.js';
export * from './storage/errors.js';
export { MemoryBlobStore } from './storage/blob/memory.js';
export { FilesystemBlobStore, openFilesystemBlobStore } from './storage/blob/filesystem.js';
export { MemoryMetadataStore } from './storage/meta/memory/index.js';
export { SqliteMetadataStore, openSqliteMetadataStore } from './storage/meta/sqlite/index.js';

export { RegistryError, ERROR_TABLE, type ErrorKind, type OciErrorCode } from './oci/errors.js';
export { parseDigest, tryParseDigest, looksLikeDigest, digestOf, digestFromHex, digestAlgorithm, digestEncoded, verifyDigest, createDigester, type Digest, type DigestAlgorithm, type ParsedDigest } from './oci/digest.js';
export { isValidName, isValidTag, assertValidName, parseReference, MAX_NAME_LENGTH, MAX_TAG_LENGTH, type Reference } from './oci/names.js';
export { MediaType, MANIFEST_MEDIA_TYPES, IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, bareMediaType } from './oci/mediatypes.js';
export { parseManifest, parseDescriptor, type Descriptor, type ParsedManifest } from './oci/manifest.js';
export { collectGarbage, formatGcReport, GarbageCollector, DEFAULT_GC_GRACE_MS, DEFAULT_GC_LEASE_MS, type GcOptions, type GcReport, type GcProgress, type GcStores } from './services/gc.js';
export { StoragePolicy, TagPattern, type PolicyRules, type UntaggedRule, type RetentionRule, type ImmutableTagRule } from './services/policy.js';
export { pruneManifests, type PruneOptions, type PruneReport, type PruneReason } from './services/prune.js';
export { MirrorNamespaces, UPSTREAM_DEFAULTS, type UpstreamSettings, type MirrorRoute } from './services/mirror/settings.js';
export { type MirrorOptions } from './services/mirror/mirror.js';
export { MirrorStatsBoard, type UpstreamStats, type UpstreamStatsRow, type FetchEvent } from './services/mirror/stats.js';
export { parseMirrorConfig, MirrorConfigError } from './server/mirror-config.js';
export { checkStores, formatReport, type CheckReport, type CheckProblem, type CheckCounts, type CheckOptions, type ProblemKind } from './services/check.js';

// Access control (src/auth): the auth plugin, its parts, and loading it from the configuration file's settings (server/config*.ts).
export { authPlugin, type AuthOptions, type TokenAuthOptions } from './auth/plugin.js';
export { AccessPolicy, ACTIONS, type Action, type PolicyOptions, type PolicyRule } from './auth/policy.js';
export { RepositoryPattern, PatternError } from './oci/patterns.js';
export { UserStore, HtpasswdError, parseHtpasswd } from './auth/htpasswd.js';
export { TokenIssuer, TokenVerifier, type TokenIssuerOptions, type TokenVerifierOptions, type VerifiedToken } from './auth/tokens.js';
export { loadOrCreateSigningKey, loadPublicKey, KeyFileError } from './auth/keys.js';
export { LoginThrottle, type ThrottleOptions, type LoginAttempt } from './auth/throttle.js';
export { requiredAccess, type RequiredAccess } from './auth/access.js';
export type { AuthConfig } from './auth/config.js';
export { parseAuthConfig, parseConfigFile, ConfigError } from './server/config.js';
export { loadAuth, loadUsers, type LoadedAuth } from './auth/load.js';
export { authLogOptions, REDACT_PATHS, redactUrl } from './auth/redact.js';

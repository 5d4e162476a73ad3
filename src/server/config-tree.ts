/**
 * The shape of a configuration once validated against
 * schema/config.schema.json, defaults filled in: keys with a schema default
 * are always present. The schema is what is checked; this type only names
 * what the code reads. The auth and upkeep sections stay raw here: their
 * own parsers (config-auth.ts, config-upkeep.ts) read them.
 */
import type { LOG_LEVELS } from './config.js';

export interface ConfigTree {
  /** Raw: events-config.ts validates it. */
  readonly events?: unknown;
  /** Raw: audit-config.ts validates it. */
  readonly audit?: unknown;
  readonly tracing?: { readonly endpoint?: string; readonly serviceName: string; readonly sampleRatio: number };
  /** Raw: mirror-config.ts validates it. */
  readonly mirrors?: unknown;
  readonly server: {
    readonly listen: string;
    readonly shutdownTimeoutSeconds: number;
    readonly idleTimeoutSeconds: number;
    readonly headersTimeoutSeconds: number;
    readonly trustedProxies: readonly string[];
  };
  readonly log: { readonly level: (typeof LOG_LEVELS)[number]; readonly format: 'json' | 'pretty' };
  readonly metrics: { readonly listen?: string; readonly publicRepositoryMetrics: boolean };
  readonly storage: {
    readonly directory?: string;
    readonly metadataUrl?: string;
    readonly metadataSchema?: string;
    readonly s3?: {
      readonly bucket: string;
      readonly endpoint?: string;
      readonly region?: string;
      readonly prefix?: string;
      readonly forcePathStyle: boolean;
      readonly redirect: boolean;
      readonly createBucket: boolean;
      readonly accessKeyId?: string;
      readonly secretAccessKey?: string;
    };
  };
  readonly limits: {
    readonly maxUploadSize: number;
    readonly maxManifestSize: number;
    readonly maxUploadSessions: number;
    readonly maxUploadSessionsPerRepository: number;
    readonly maxUploadSessionsPerUser: number;
    readonly uploadSessionTtlSeconds: number;
    readonly maxTagsPerPush: number;
    readonly defaultPageSize?: number;
    readonly maxPageSize: number;
    readonly maxCatalogScan: number;
  };
  readonly auth?: Record<string, unknown>;
  readonly gc?: Record<string, unknown>;
  readonly retention?: unknown[];
  readonly immutableTags?: unknown[];
  readonly ui: { readonly enabled: boolean; readonly publicHost?: string; readonly corsOrigins?: readonly string[] };
}

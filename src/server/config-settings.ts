/**
 * The settings that flags and environment variables can set: each names its
 * key in the configuration file (schema/config.schema.json), and laying the
 * flags and variables over a file tree happens here (flags win over
 * variables, which win over the file; an empty variable counts as unset, an
 * empty flag unsets the key). --help is written from the same table and the
 * schema's descriptions, so it lists everything the file holds.
 */
import { parseArgs } from 'node:util';
import { CONFIG_SCHEMA, ConfigError, Sources } from './config-schema.js';

/** How a flag's or variable's text becomes the key's value; text that does not convert stays text (the schema then refuses it). */
type Kind = 'string' | 'number' | 'integer' | 'size' | 'bool' | 'list' | 'lower';

export interface Setting {
  /** Key in the configuration file, e.g. `limits.maxUploadSize`. */
  readonly key: string;
  /** Command-line flag without `--`; absent: environment and file only (secrets). */
  readonly flag?: string;
  readonly env: string;
  readonly kind: Kind;
  /** Placeholder of the value in --help. */
  readonly value: string;
}

const s = (key: string, flag: string | undefined, env: string, kind: Kind, value: string): Setting => ({ key, env, kind, value, ...(flag ? { flag } : {}) });

export const SETTINGS: readonly Setting[] = [
  s('server.listen', 'listen', 'FERRO_OCI_LISTEN', 'string', 'ADDR'),
  s('server.shutdownTimeoutSeconds', 'shutdown-timeout', 'FERRO_OCI_SHUTDOWN_TIMEOUT', 'number', 'SECONDS'),
  s('server.idleTimeoutSeconds', 'idle-timeout', 'FERRO_OCI_IDLE_TIMEOUT', 'number', 'SECONDS'),
  s('server.headersTimeoutSeconds', 'headers-timeout', 'FERRO_OCI_HEADERS_TIMEOUT', 'number', 'SECONDS'),
  s('server.trustedProxies', 'trusted-proxies', 'FERRO_OCI_TRUSTED_PROXIES', 'list', 'LIST'),
  s('log.level', 'log-level', 'FERRO_OCI_LOG_LEVEL', 'lower', 'LEVEL'),
  s('log.format', 'log-format', 'FERRO_OCI_LOG_FORMAT', 'lower', 'FORMAT'),
  s('metrics.listen', 'metrics-listen', 'FERRO_OCI_METRICS_LISTEN', 'string', 'ADDR'),
  s('metrics.publicRepositoryMetrics', 'public-repository-metrics', 'FERRO_OCI_PUBLIC_REPOSITORY_METRICS', 'bool', 'BOOL'),
  s('storage.directory', 'storage-dir', 'FERRO_OCI_STORAGE_DIR', 'string', 'DIR'),
  s('storage.metadataUrl', 'metadata-url', 'FERRO_OCI_METADATA_URL', 'string', 'URL'),
  s('storage.metadataSchema', 'metadata-schema', 'FERRO_OCI_METADATA_SCHEMA', 'string', 'NAME'),
  s('storage.s3.bucket', 's3-bucket', 'FERRO_OCI_S3_BUCKET', 'string', 'BUCKET'),
  s('storage.s3.endpoint', 's3-endpoint', 'FERRO_OCI_S3_ENDPOINT', 'string', 'URL'),
  s('storage.s3.region', 's3-region', 'FERRO_OCI_S3_REGION', 'string', 'REGION'),
  s('storage.s3.prefix', 's3-prefix', 'FERRO_OCI_S3_PREFIX', 'string', 'PREFIX'),
  s('storage.s3.forcePathStyle', 's3-force-path-style', 'FERRO_OCI_S3_FORCE_PATH_STYLE', 'bool', 'BOOL'),
  s('storage.s3.redirect', 's3-redirect', 'FERRO_OCI_S3_REDIRECT', 'bool', 'BOOL'),
  s('storage.s3.createBucket', 's3-create-bucket', 'FERRO_OCI_S3_CREATE_BUCKET', 'bool', 'BOOL'),
  s('storage.s3.accessKeyId', undefined, 'FERRO_OCI_S3_ACCESS_KEY', 'string', 'KEY'),
  s('storage.s3.secretAccessKey', undefined, 'FERRO_OCI_S3_SECRET_KEY', 'string', 'SECRET'),
  s('limits.maxUploadSize', 'max-upload-size', 'FERRO_OCI_MAX_UPLOAD_SIZE', 'size', 'BYTES'),
  s('limits.maxManifestSize', 'max-manifest-size', 'FERRO_OCI_MAX_MANIFEST_SIZE', 'size', 'BYTES'),
  s('limits.maxUploadSessions', 'max-upload-sessions', 'FERRO_OCI_MAX_UPLOAD_SESSIONS', 'integer', 'N'),
  s('limits.maxUploadSessionsPerRepository', 'max-upload-sessions-per-repository', 'FERRO_OCI_MAX_UPLOAD_SESSIONS_PER_REPOSITORY', 'integer', 'N'),
  s('limits.maxUploadSessionsPerUser', 'max-upload-sessions-per-user', 'FERRO_OCI_MAX_UPLOAD_SESSIONS_PER_USER', 'integer', 'N'),
  s('limits.uploadSessionTtlSeconds', 'upload-session-ttl', 'FERRO_OCI_UPLOAD_SESSION_TTL', 'integer', 'SECONDS'),
  s('limits.maxTagsPerPush', 'max-tags-per-push', 'FERRO_OCI_MAX_TAGS_PER_PUSH', 'integer', 'N'),
  s('limits.defaultPageSize', 'default-page-size', 'FERRO_OCI_DEFAULT_PAGE_SIZE', 'integer', 'N'),
  s('limits.maxPageSize', 'max-page-size', 'FERRO_OCI_MAX_PAGE_SIZE', 'integer', 'N'),
  s('limits.maxCatalogScan', 'max-catalog-scan', 'FERRO_OCI_MAX_CATALOG_SCAN', 'integer', 'N'),
];

/** The storage keys: what check, gc and usage take besides their own flags. */
export const STORAGE_SETTINGS = SETTINGS.filter((x) => x.key.startsWith('storage.'));

/** The configuration file flag every command takes. */
export const CONFIG_FILE = { flag: 'config', env: 'FERRO_OCI_CONFIG' } as const;

type FlagSpec = Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>;
export type Flags = Record<string, string | boolean | undefined>;

/** parseArgs options for `settings`, --config and --help, plus `extra`. */
export function flagSpec(settings: readonly Setting[], extra: FlagSpec = {}): FlagSpec {
  const spec: FlagSpec = { [CONFIG_FILE.flag]: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...extra };
  for (const x of settings) if (x.flag) spec[x.flag] = { type: 'string' };
  return spec;
}

/** The flags' values (strict: unknown flags are ConfigErrors); positionals only when `positionals` is set. */
export function parseFlags(argv: readonly string[], spec: FlagSpec, positionals = false): { flags: Flags; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: positionals });
    return { flags: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
}

function convert(text: string, kind: Kind): unknown {
  switch (kind) {
    case 'number':
      return /^\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    case 'integer':
    case 'size':
      return /^\d+$/.test(text) ? Number(text) : text;
    case 'bool': {
      const v = text.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return text;
    }
    case 'list':
      return text.split(',').map((v) => v.trim()).filter((v) => v !== '');
    case 'lower':
      return text.toLowerCase();
    default:
      return text;
  }
}

type Tree = Record<string, unknown>;

function setKey(tree: Tree, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Tree;
  }
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/**
 * Lays the flags and variables of `settings` over `tree` (in place), recording
 * each value's source in `sources`. An empty flag (`--storage-dir=`) removes
 * the key, whatever the variable or file says.
 */
export function overlay(tree: Tree, settings: readonly Setting[], flags: Flags, env: NodeJS.ProcessEnv, sources: Sources): void {
  for (const x of settings) {
    const flag = x.flag === undefined ? undefined : flags[x.flag];
    const variable = env[x.env];
    if (typeof flag === 'string') {
      setKey(tree, x.key, flag === '' ? undefined : convert(flag, x.kind));
      sources.set(x.key, `--${x.flag}`);
    } else if (variable !== undefined && variable !== '') {
      setKey(tree, x.key, convert(variable, x.kind));
      sources.set(x.key, x.env);
    }
  }
}

type Node = { description?: string; properties?: Record<string, Node>; default?: unknown };

/** The schema node of `key` (e.g. `storage.s3.bucket`). */
export function schemaNode(key: string): Node | undefined {
  let node: Node | undefined = CONFIG_SCHEMA as Node;
  for (const part of key.split('.')) node = node?.properties?.[part];
  return node;
}

/** A setting's --help lines: flag (or "(environment only)"), description, variable, file key and default. */
function helpLines(x: Setting): string[] {
  const node = schemaNode(x.key);
  const description = (node?.description ?? '').replace(/ \([^()]*(--|FERRO_OCI_)[^()]*\)\.?$/, '.');
  const left = x.flag ? `  --${x.flag} ${x.value}` : '  (environment only)';
  const fallback = node?.default === undefined || (Array.isArray(node.default) && node.default.length === 0) ? '' : `, default ${JSON.stringify(node.default)}`;
  return [left.padEnd(44) + description, ' '.repeat(44) + `Environment: ${x.env}; file: ${x.key}${fallback}`];
}

/** The options part of --help for `settings` (every flag with its variable, file key and default). */
export function settingsHelp(settings: readonly Setting[]): string[] {
  const lines: string[] = [];
  let section = '';
  for (const x of settings) {
    const top = x.key.split('.')[0]!;
    if (top !== section) {
      section = top;
      lines.push('', `${top}:`);
    }
    lines.push(...helpLines(x));
  }
  lines.push('', `  --${CONFIG_FILE.flag} FILE`.padEnd(44) + 'Read settings from FILE (YAML or JSON; schema: schema/config.schema.json in the package).');
  lines.push(' '.repeat(44) + `Environment: ${CONFIG_FILE.env}. Flags override variables, which override the file, which overrides the defaults.`);
  return lines;
}

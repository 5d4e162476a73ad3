/**
 * Server configuration from command-line flags and the environment. Flags win
 * over environment variables, which win over defaults. An empty environment
 * variable counts as unset. parseConfig is pure: it reads only its arguments.
 */
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { TrustedProxies } from '../http/proxy.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where the registry keeps its data: the same settings for serve and every subcommand. */
export interface StorageConfig {
  /** Filesystem blobs and SQLite metadata under this directory; undefined: everything in memory. */
  readonly storageDir: string | undefined;
  /** PostgreSQL metadata store (`postgres://` or `postgresql://` URL); absent: SQLite in storageDir, or memory. */
  readonly metadataUrl?: string;
  /** Schema of the PostgreSQL tables; absent: the store's default (public). */
  readonly metadataSchema?: string;
  /** S3 blob store; absent: filesystem blobs in storageDir, or memory. */
  readonly s3?: S3Settings;
}

export interface ServerConfig extends StorageConfig {
  /** Interface to bind, without brackets (e.g. '0.0.0.0', '::1'). */
  readonly host: string;
  /** 0 lets the OS pick a free port. */
  readonly port: number;
  readonly logLevel: LogLevel;
  /** How long in-flight requests may run after SIGTERM/SIGINT before their connections are closed. */
  readonly shutdownTimeoutMs: number;
  /** A connection that sends and receives nothing for this long during a request is closed; 0 disables. */
  readonly idleTimeoutMs: number;
  /** A client must have sent its request headers this long after it started them; 0 disables. */
  readonly headersTimeoutMs: number;
  /** Configuration file (YAML or JSON: the auth settings), read by main.ts; absent when none is given. */
  readonly configFile?: string;
  /** Reverse proxies (addresses, CIDRs) whose X-Forwarded-For/-Proto/-Host are believed; absent: none. */
  readonly trustedProxies?: readonly string[];
  /** A second listener for /metrics and the probes; /metrics is then served there only. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /** With auth on, publish the repository-labelled metrics on the public listener anyway (absent: false). */
  readonly publicRepositoryMetrics?: boolean;
}

/** The S3 blob store settings of the server (FERRO_OCI_S3_*). */
export interface S3Settings {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly prefix?: string;
  readonly forcePathStyle: boolean;
  /** Static keys (environment only, never flags); absent: the AWS SDK's default credential chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Answer blob GETs with a redirect to a presigned URL (the registry's redirectBlobGets). */
  readonly redirect: boolean;
}

/** The `gc` subcommand's settings. */
export interface GcCommandConfig {
  readonly storage: StorageConfig;
  readonly dryRun: boolean;
  /** --grace; undefined: the configuration file's gc.graceSeconds, else the default (1 h). */
  readonly graceMs?: number;
  readonly configFile?: string;
}

/** What the command line asks for: run the server, check or collect a storage directory, or print usage. */
export type Command =
  | { readonly kind: 'serve'; readonly config: ServerConfig }
  | { readonly kind: 'check'; readonly storage: StorageConfig }
  | { readonly kind: 'gc'; readonly config: GcCommandConfig }
  | { readonly kind: 'usage'; readonly storage: StorageConfig; readonly top?: number; readonly json: boolean }
  | { readonly kind: 'help'; readonly usage: string };

/** A bad flag or value; the binary prints the message and exits with `exitCode` (2). */
export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_LISTEN = '0.0.0.0:8080';
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 30;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;
export const DEFAULT_HEADERS_TIMEOUT_SECONDS = 60;

interface OptionSpec {
  readonly flag: string;
  readonly env?: string;
  readonly value?: string;
  readonly description: string;
}

const OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'listen',
    env: 'FERRO_OCI_LISTEN',
    value: 'ADDR',
    description: `Address to listen on: host:port, [ipv6]:port, :port or port (default ${DEFAULT_LISTEN}).`,
  },
  {
    flag: 'storage-dir',
    env: 'FERRO_OCI_STORAGE_DIR',
    value: 'DIR',
    description: 'Keep blobs under DIR/blobs and metadata in DIR/metadata.db (SQLite). Unset: in memory, lost on exit.',
  },
  { flag: 'log-level', env: 'FERRO_OCI_LOG_LEVEL', value: 'LEVEL', description: `One of ${LOG_LEVELS.join(', ')} (default info).` },
  {
    flag: 'shutdown-timeout',
    env: 'FERRO_OCI_SHUTDOWN_TIMEOUT',
    value: 'SECONDS',
    description: `Time in-flight requests get to finish on SIGTERM/SIGINT (default ${DEFAULT_SHUTDOWN_TIMEOUT_SECONDS}).`,
  },
  {
    flag: 'idle-timeout',
    env: 'FERRO_OCI_IDLE_TIMEOUT',
    value: 'SECONDS',
    description: `Close a connection idle this long during a request: a stalled upload fails and stays resumable (default ${DEFAULT_IDLE_TIMEOUT_SECONDS}; 0 disables).`,
  },
  {
    flag: 'headers-timeout',
    env: 'FERRO_OCI_HEADERS_TIMEOUT',
    value: 'SECONDS',
    description: `Time a client has to send its request headers (default ${DEFAULT_HEADERS_TIMEOUT_SECONDS}; 0 disables).`,
  },
  {
    flag: 'metadata-url',
    env: 'FERRO_OCI_METADATA_URL',
    value: 'URL',
    description: 'Keep metadata in PostgreSQL (postgres://user:password@host:port/db) instead of SQLite; needs durable blobs (--storage-dir or S3).',
  },
  {
    flag: 'metadata-schema',
    env: 'FERRO_OCI_METADATA_SCHEMA',
    value: 'NAME',
    description: 'PostgreSQL schema of the tables, created at first start (default public).',
  },
  {
    flag: 's3-bucket',
    env: 'FERRO_OCI_S3_BUCKET',
    value: 'BUCKET',
    description: 'Keep blobs in this S3 bucket instead of DIR/blobs; needs durable metadata (--storage-dir or --metadata-url).',
  },
  { flag: 's3-endpoint', env: 'FERRO_OCI_S3_ENDPOINT', value: 'URL', description: 'Endpoint of a non-AWS S3 store, e.g. http://127.0.0.1:7480 (default: AWS).' },
  { flag: 's3-region', env: 'FERRO_OCI_S3_REGION', value: 'REGION', description: 'Region (default AWS_REGION, else us-east-1).' },
  { flag: 's3-prefix', env: 'FERRO_OCI_S3_PREFIX', value: 'PREFIX', description: 'Key prefix for everything the registry writes to the bucket (default none).' },
  {
    flag: 's3-force-path-style',
    env: 'FERRO_OCI_S3_FORCE_PATH_STYLE',
    value: 'BOOL',
    description: 'true: path-style addressing (endpoint/bucket/key), as most non-AWS stores need (default false).',
  },
  {
    flag: 's3-redirect',
    env: 'FERRO_OCI_S3_REDIRECT',
    value: 'BOOL',
    description: 'true: answer blob GETs with a 307 to a presigned S3 URL instead of streaming them (default false).',
  },
  {
    flag: 's3-keys',
    env: 'FERRO_OCI_S3_ACCESS_KEY',
    description: 'Static S3 keys, from the environment only: FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY (both or neither).',
  },
  {
    flag: 'trusted-proxies',
    env: 'FERRO_OCI_TRUSTED_PROXIES',
    value: 'LIST',
    description: 'Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (default none).',
  },
  {
    flag: 'metrics-listen',
    env: 'FERRO_OCI_METRICS_LISTEN',
    value: 'ADDR',
    description: 'Serve /metrics (and /live, /ready, /healthz) on this second address instead of the main one (default: the main one).',
  },
  {
    flag: 'public-repository-metrics',
    env: 'FERRO_OCI_PUBLIC_REPOSITORY_METRICS',
    value: 'BOOL',
    description: 'true: with auth on, still publish repository_blob_bytes{repository} on a /metrics of the main address (default false).',
  },
  {
    flag: 'config',
    env: 'FERRO_OCI_CONFIG',
    value: 'FILE',
    description: 'Read settings from FILE (YAML or JSON): auth mode, users, tokens, permissions. See README "Securing the registry".',
  },
  { flag: 'help', description: 'Print this help and exit (also -h).' },
];

const STORAGE_USAGE = [
  'Storage: the same flags and environment variables as the server (ferro-oci-server --help):',
  '--storage-dir DIR (FERRO_OCI_STORAGE_DIR), or --metadata-url URL (FERRO_OCI_METADATA_URL) with --s3-bucket BUCKET',
  '(FERRO_OCI_S3_BUCKET) or DIR, and --metadata-schema, --s3-endpoint, --s3-region, --s3-prefix, --s3-force-path-style',
  'and the keys FERRO_OCI_S3_ACCESS_KEY / FERRO_OCI_S3_SECRET_KEY.',
];

const CHECK_USAGE = [
  'Usage: ferro-oci-server check [storage options]',
  '',
  "Verifies the registry's stores: blob and manifest bytes against their digests (blobs are streamed,",
  'never held in memory), manifest references, tags, blob links, and leftover upload data. Prints',
  'progress (at most one line a second), a summary and one line per problem.',
  ...STORAGE_USAGE,
  'Exit codes: 0 clean, 1 problems found or the stores could not be read, 2 bad usage.',
  '',
].join('\n');

const GC_USAGE = [
  'Usage: ferro-oci-server gc [--dry-run] [--grace SECONDS] [--config FILE] [storage options]',
  '',
  'Deletes the blobs that no repository links and no manifest references, unused for the grace',
  'period (default 3600 s, or gc.graceSeconds of the configuration file), and expired upload',
  'sessions. Safe next to running servers on the same stores. --dry-run only reports.',
  'FILE defaults to FERRO_OCI_CONFIG (its retention and untagged rules are applied first).',
  ...STORAGE_USAGE,
  'Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

const USAGE_USAGE = [
  'Usage: ferro-oci-server usage [--top N] [--json] [storage options]',
  '',
  'Prints the storage used per repository, largest first: blobs linked in it (each digest once per',
  'repository; a blob shared by several repositories counts in each), their bytes, manifests.',
  '--top N prints only the N largest.',
  ...STORAGE_USAGE,
  'Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

/** The --help text: every option with its environment variable. */
export function usage(): string {
  const lines = ['Usage: ferro-oci-server [options]', '', 'An OCI Distribution (Docker Registry v2) server.', '', 'Options (flags override environment variables):'];
  for (const o of OPTIONS) {
    if (o.flag === 's3-keys') {
      lines.push('  (environment only)'.padEnd(32) + o.description);
      lines.push(' '.repeat(32) + 'Environment: FERRO_OCI_S3_ACCESS_KEY, FERRO_OCI_S3_SECRET_KEY (unset: the AWS SDK credential chain)');
      continue;
    }
    const left = `  --${o.flag}${o.value ? ` ${o.value}` : ''}`;
    lines.push(left.padEnd(32) + o.description);
    if (o.env) lines.push(' '.repeat(32) + `Environment: ${o.env}`);
  }
  lines.push('', 'Endpoints: /v2/ (registry API), /live, /ready, /healthz, /metrics (on --metrics-listen when given).');
  lines.push('Subcommands check, gc and usage take the storage options above (--storage-dir, --metadata-url, --s3-*) and their variables:');
  lines.push('  ferro-oci-server check        verifies the stores (check --help)');
  lines.push('  ferro-oci-server gc           collects garbage (gc --help)');
  lines.push('  ferro-oci-server usage        prints the storage used per repository (usage --help)');
  lines.push("  ferro-oci-server healthcheck [--listen ADDR] asks a running server's /ready, exit 0 when ready (healthcheck --help)");
  lines.push('ferro-oci-server --version prints the version.', '');
  return lines.join('\n');
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` (all interfaces) or a bare port.
 * Throws ConfigError naming `source` for anything else.
 */
export function parseListen(value: string, source: string): { host: string; port: number } {
  const bad = (why: string) => new ConfigError(`invalid ${source} ${JSON.stringify(value)}: ${why}`);
  let host: string;
  let portText: string;
  if (/^\d+$/.test(value)) {
    host = '0.0.0.0';
    portText = value;
  } else if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1 || value[close + 1] !== ':') throw bad('expected [ipv6]:port');
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (!isIPv6(host)) throw bad(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon === -1) throw bad('expected host:port, [ipv6]:port or :port');
    host = value.slice(0, colon) || '0.0.0.0';
    portText = value.slice(colon + 1);
    if (host.includes(':')) throw bad('put an IPv6 address in brackets, e.g. [::1]:8080');
    if (!/^[A-Za-z0-9.\-_]+$/.test(host)) throw bad(`${JSON.stringify(host)} is not a host name or address`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad('the port must be a number from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) throw bad('the port must be a number from 0 to 65535');
  return { host, port };
}

function parseSeconds(value: string, source: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds > 24 * 3600) {
    throw new ConfigError(`invalid ${source} ${JSON.stringify(value)}: expected a number of seconds from 0 to 86400`);
  }
  return Math.round(seconds * 1000);
}

function parseLogLevel(value: string, source: string): LogLevel {
  const level = value.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`invalid ${source} ${JSON.stringify(value)}: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as LogLevel;
}

/** The storage flags every command takes (their variables: FERRO_OCI_STORAGE_DIR, FERRO_OCI_METADATA_*, FERRO_OCI_S3_*). */
const STORAGE_FLAGS = {
  'storage-dir': { type: 'string' },
  'metadata-url': { type: 'string' },
  'metadata-schema': { type: 'string' },
  's3-bucket': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-prefix': { type: 'string' },
  's3-force-path-style': { type: 'string' },
  's3-redirect': { type: 'string' },
} as const;

type Flags = Record<string, string | boolean | undefined>;

/** The flags' values (strict: unknown flags and positionals are ConfigErrors). */
function parseFlags(argv: readonly string[], options: Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>): Flags {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
}

/** `pick(flag, variable)`: the flag's value and its name, else the variable's (empty counts as unset), else undefined. */
function picker(flags: Flags, env: NodeJS.ProcessEnv): Pick {
  return (flag, name) => {
    const f = flags[flag];
    if (typeof f === 'string') return { value: f, source: `--${flag}` };
    const e = env[name];
    if (e !== undefined && e !== '') return { value: e, source: name };
    return undefined;
  };
}

/** The storage settings, checked for a usable combination (durable blobs go with durable metadata). */
function parseStorage(pick: Pick, env: NodeJS.ProcessEnv): StorageConfig {
  const dir = pick('storage-dir', 'FERRO_OCI_STORAGE_DIR');
  // An explicit empty --storage-dir= selects memory even when the env var is set.
  const storageDir = dir === undefined || dir.value === '' ? undefined : dir.value;
  const metadata = pick('metadata-url', 'FERRO_OCI_METADATA_URL');
  const metadataUrl = metadata === undefined ? undefined : parseMetadataUrl(metadata.value, metadata.source);
  const schema = pick('metadata-schema', 'FERRO_OCI_METADATA_SCHEMA');
  if (schema !== undefined && metadataUrl === undefined) throw new ConfigError(`${schema.source} needs --metadata-url or FERRO_OCI_METADATA_URL`);
  const s3 = parseS3(pick, env);
  if (metadataUrl !== undefined && s3 === undefined && storageDir === undefined) {
    throw new ConfigError('PostgreSQL metadata needs durable blobs: set --storage-dir (filesystem) or --s3-bucket (S3) too');
  }
  if (s3 !== undefined && metadataUrl === undefined && storageDir === undefined) {
    throw new ConfigError('S3 blobs need durable metadata: set --metadata-url (PostgreSQL) or --storage-dir (SQLite) too');
  }
  return {
    storageDir,
    ...(metadataUrl !== undefined ? { metadataUrl } : {}),
    ...(schema !== undefined ? { metadataSchema: schema.value } : {}),
    ...(s3 !== undefined ? { s3 } : {}),
  };
}

/** A subcommand's storage: the same settings as serve, which must name durable stores. */
function subcommandStorage(command: string, flags: Flags, env: NodeJS.ProcessEnv): StorageConfig {
  const storage = parseStorage(picker(flags, env), env);
  if (storage.storageDir === undefined && storage.metadataUrl === undefined && storage.s3 === undefined) {
    throw new ConfigError(
      `${command} needs the registry's storage, as serve takes it: a storage directory (--storage-dir DIR or FERRO_OCI_STORAGE_DIR), ` +
        'or PostgreSQL and S3 (--metadata-url URL and --s3-bucket BUCKET, or their FERRO_OCI_* variables)',
    );
  }
  return storage;
}

/** The `check` subcommand's arguments (after "check"). */
function parseCheck(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const flags = parseFlags(argv, { ...STORAGE_FLAGS, help: { type: 'boolean', short: 'h' } });
  if (flags.help === true) return { kind: 'help', usage: CHECK_USAGE };
  return { kind: 'check', storage: subcommandStorage('check', flags, env) };
}

/** The `gc` subcommand's arguments (after "gc"). */
function parseGc(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const flags = parseFlags(argv, {
    ...STORAGE_FLAGS,
    'dry-run': { type: 'boolean' },
    grace: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help === true) return { kind: 'help', usage: GC_USAGE };
  const storage = subcommandStorage('gc', flags, env);
  const configFile = typeof flags.config === 'string' ? flags.config : env.FERRO_OCI_CONFIG;
  let graceMs: number | undefined;
  if (typeof flags.grace === 'string') {
    const seconds = /^\d+(\.\d+)?$/.test(flags.grace) ? Number(flags.grace) : Number.NaN;
    if (!(seconds <= 366 * 86_400)) throw new ConfigError(`invalid --grace ${JSON.stringify(flags.grace)}: expected a number of seconds from 0 to 31622400`);
    graceMs = Math.round(seconds * 1000);
  }
  return {
    kind: 'gc',
    config: {
      storage,
      dryRun: flags['dry-run'] === true,
      ...(graceMs !== undefined ? { graceMs } : {}),
      ...(configFile !== undefined && configFile !== '' ? { configFile } : {}),
    },
  };
}

/** The `usage` subcommand's arguments (after "usage"). */
function parseUsage(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const flags = parseFlags(argv, { ...STORAGE_FLAGS, top: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (flags.help === true) return { kind: 'help', usage: USAGE_USAGE };
  const storage = subcommandStorage('usage', flags, env);
  const top = typeof flags.top === 'string' ? Number(flags.top) : undefined;
  if (top !== undefined && !(Number.isSafeInteger(top) && top > 0 && /^\d+$/.test(String(flags.top)))) throw new ConfigError(`invalid --top ${JSON.stringify(flags.top)}: expected a positive integer`);
  return { kind: 'usage', storage, json: flags.json === true, ...(top !== undefined ? { top } : {}) };
}

/**
 * Builds the configuration from `argv` (without node and script, i.e.
 * process.argv.slice(2)) and `env`. Returns the help command when --help is
 * present. Throws ConfigError for unknown flags, positional arguments and bad
 * values; the message names the flag or variable at fault.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  if (argv[0] === 'check') return parseCheck(argv.slice(1), env);
  if (argv[0] === 'gc') return parseGc(argv.slice(1), env);
  if (argv[0] === 'usage') return parseUsage(argv.slice(1), env);
  const flags = parseFlags(argv, {
    ...STORAGE_FLAGS,
    listen: { type: 'string' },
    'log-level': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'idle-timeout': { type: 'string' },
    'headers-timeout': { type: 'string' },
    config: { type: 'string' },
    'trusted-proxies': { type: 'string' },
    'metrics-listen': { type: 'string' },
    'public-repository-metrics': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help === true) return { kind: 'help', usage: usage() };
  const pick = picker(flags, env);
  const listen = pick('listen', 'FERRO_OCI_LISTEN');
  const { host, port } = parseListen(listen?.value ?? DEFAULT_LISTEN, listen?.source ?? 'default listen address');
  const storage = parseStorage(pick, env);
  const level = pick('log-level', 'FERRO_OCI_LOG_LEVEL');
  const timeout = pick('shutdown-timeout', 'FERRO_OCI_SHUTDOWN_TIMEOUT');
  const idle = pick('idle-timeout', 'FERRO_OCI_IDLE_TIMEOUT');
  const headers = pick('headers-timeout', 'FERRO_OCI_HEADERS_TIMEOUT');
  const configFile = pick('config', 'FERRO_OCI_CONFIG');
  const proxies = pick('trusted-proxies', 'FERRO_OCI_TRUSTED_PROXIES');
  const trustedProxies = proxies === undefined ? [] : parseProxies(proxies.value, proxies.source);
  const publicRepositoryMetrics = publicMetricsFlag(pick);
  const metricsAddress = pick('metrics-listen', 'FERRO_OCI_METRICS_LISTEN');
  const metricsListen = metricsAddress === undefined ? undefined : parseListen(metricsAddress.value, metricsAddress.source);
  return {
    kind: 'serve',
    config: {
      host,
      port,
      ...(trustedProxies.length > 0 ? { trustedProxies } : {}),
      ...(metricsListen !== undefined ? { metricsListen } : {}),
      ...(publicRepositoryMetrics ? { publicRepositoryMetrics } : {}),
      ...storage,
      logLevel: level ? parseLogLevel(level.value, level.source) : 'info',
      shutdownTimeoutMs: timeout ? parseSeconds(timeout.value, timeout.source) : DEFAULT_SHUTDOWN_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: idle ? parseSeconds(idle.value, idle.source) : DEFAULT_IDLE_TIMEOUT_SECONDS * 1000,
      headersTimeoutMs: headers ? parseSeconds(headers.value, headers.source) : DEFAULT_HEADERS_TIMEOUT_SECONDS * 1000,
      ...(configFile !== undefined && configFile.value !== '' ? { configFile: configFile.value } : {}),
    },
  };
}

function publicMetricsFlag(pick: Pick): boolean {
  const flag = pick('public-repository-metrics', 'FERRO_OCI_PUBLIC_REPOSITORY_METRICS');
  return flag ? parseBool(flag.value, flag.source) : false;
}

/** A comma-separated list of proxy addresses or CIDRs. */
function parseProxies(value: string, source: string): string[] {
  const list = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  try {
    new TrustedProxies(list);
  } catch (err) {
    throw new ConfigError(`invalid ${source}: ${(err as Error).message}`);
  }
  return list;
}

type Pick = (flag: string, name: string) => { value: string; source: string } | undefined;

/** A postgres:// or postgresql:// URL with a host; the message never repeats the URL (it may hold a password). */
function parseMetadataUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`invalid ${source}: not a URL; expected postgres://user:password@host:port/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`invalid ${source}: unsupported scheme ${JSON.stringify(url.protocol)}; expected postgres:// or postgresql://`);
  }
  return value;
}

function parseBool(value: string, source: string): boolean {
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`invalid ${source} ${JSON.stringify(value)}: expected true or false`);
}

/** The S3 settings, or undefined when no bucket is given; other S3 settings without a bucket are errors. */
function parseS3(pick: Pick, env: NodeJS.ProcessEnv): S3Settings | undefined {
  const bucket = pick('s3-bucket', 'FERRO_OCI_S3_BUCKET');
  const endpoint = pick('s3-endpoint', 'FERRO_OCI_S3_ENDPOINT');
  const region = pick('s3-region', 'FERRO_OCI_S3_REGION');
  const prefix = pick('s3-prefix', 'FERRO_OCI_S3_PREFIX');
  const pathStyle = pick('s3-force-path-style', 'FERRO_OCI_S3_FORCE_PATH_STYLE');
  const redirect = pick('s3-redirect', 'FERRO_OCI_S3_REDIRECT');
  const accessKey = env.FERRO_OCI_S3_ACCESS_KEY === '' ? undefined : env.FERRO_OCI_S3_ACCESS_KEY;
  const secretKey = env.FERRO_OCI_S3_SECRET_KEY === '' ? undefined : env.FERRO_OCI_S3_SECRET_KEY;
  if (bucket === undefined || bucket.value === '') {
    const stray = [endpoint, region, prefix, pathStyle, redirect].find((o) => o !== undefined);
    if (stray) throw new ConfigError(`${stray.source} needs an S3 bucket: --s3-bucket or FERRO_OCI_S3_BUCKET`);
    if (accessKey !== undefined || secretKey !== undefined) throw new ConfigError('FERRO_OCI_S3_ACCESS_KEY/FERRO_OCI_S3_SECRET_KEY need an S3 bucket: --s3-bucket or FERRO_OCI_S3_BUCKET');
    return undefined;
  }
  if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(bucket.value)) throw new ConfigError(`invalid ${bucket.source} ${JSON.stringify(bucket.value)}: not a bucket name`);
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint.value);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ConfigError(`invalid ${endpoint.source} ${JSON.stringify(endpoint.value)}: expected an http:// or https:// URL`);
    }
  }
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw new ConfigError('set both FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY, or neither (the AWS SDK credential chain)');
  }
  const defaultRegion = env.AWS_REGION !== undefined && env.AWS_REGION !== '' ? env.AWS_REGION : 'us-east-1';
  return {
    bucket: bucket.value,
    region: region?.value ?? defaultRegion,
    ...(endpoint !== undefined ? { endpoint: endpoint.value } : {}),
    ...(prefix !== undefined ? { prefix: prefix.value } : {}),
    forcePathStyle: pathStyle ? parseBool(pathStyle.value, pathStyle.source) : false,
    ...(accessKey !== undefined && secretKey !== undefined ? { credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } } : {}),
    redirect: redirect ? parseBool(redirect.value, redirect.source) : false,
  };
}

/** `url` without its password (and query, which may hold one), for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    u.search = '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

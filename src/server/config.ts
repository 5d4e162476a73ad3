/**
 * The server's configuration: one module (config*.ts) owns the file (YAML or
 * JSON, schema/config.schema.json), the flags, the environment variables,
 * the defaults and their validation. Precedence: flags > environment
 * (FERRO_OCI_*; empty counts as unset) > file > defaults (the schema's).
 * parseConfig reads only its arguments and the configuration file named by
 * --config / FERRO_OCI_CONFIG (through `read`).
 *
 *   config-schema.ts    the schema, validation, ConfigError, where values came from
 *   config-settings.ts  flags and variables and their file keys, --help
 *   config-storage.ts   listen addresses, proxies, storage combinations
 *   config-auth.ts      the auth section, startup warnings about it
 *   config-upkeep.ts    the gc, retention and immutableTags sections
 *   config-ui.ts        the ui section
 *   events-config.ts    the events section (its own strict parser)
 *   audit-config.ts     the audit section (its own strict parser)
 *   mirror-config.ts    the mirrors section (its own strict parser)
 *   config-tracing.ts   the tracing section and the OTEL_EXPORTER_OTLP_* variables
 *   config-usage.ts     the --help texts
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import type { AuthConfig } from '../auth/config.js';
import { resolveLimits, type RegistryLimits } from '../limits.js';
import { authOf, openRegistryWarning } from './config-auth.js';
import { ConfigError, Sources, validateConfig } from './config-schema.js';
import { CONFIG_FILE, flagSpec, overlay, parseFlags, schemaNode, SETTINGS, STORAGE_SETTINGS, type Flags, type Setting } from './config-settings.js';
import { checkProxies, listenAt, storageOf, type StorageConfig } from './config-storage.js';
import type { ConfigTree } from './config-tree.js';
import { parseUpkeep, type UpkeepConfig } from './config-upkeep.js';
import { parseUi, type UiConfig } from './config-ui.js';
import { EventsConfigError, parseEventsConfig, type EventsConfig } from './events-config.js';
import { AuditConfigError, parseAuditConfig, type AuditConfig } from './audit-config.js';
import { MirrorConfigError, parseMirrorConfig } from './mirror-config.js';
import { parseTracing, type TracingConfig } from './config-tracing.js';
import type { UpstreamSettings } from '../services/mirror/settings.js';
import { eventsCommandOf, EVENTS_FLAGS, type EventsCommand } from './events-command.js';
import { CHECK_USAGE, CONFIG_USAGE, GC_USAGE, USAGE_USAGE, usage } from './config-usage.js';

export { ConfigError } from './config-schema.js';
export { parseListen, redactUrl, type S3Settings, type StorageConfig } from './config-storage.js';
export { parseAuthConfig } from './config-auth.js';
export { usage } from './config-usage.js';
export type { ConfigTree } from './config-tree.js';
export type { UpkeepConfig } from './config-upkeep.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';
/** The schema's default listen address (server.listen). */
export const DEFAULT_LISTEN = schemaNode('server.listen')!.default as string;

export interface ServerConfig extends StorageConfig {
  /** Interface to bind, without brackets (e.g. '0.0.0.0', '::1'). */
  readonly host: string;
  /** 0 lets the OS pick a free port. */
  readonly port: number;
  readonly logLevel: LogLevel;
  /** json: JSON lines; pretty: for people. */
  readonly logFormat: LogFormat;
  /** How long in-flight requests may run after SIGTERM/SIGINT before their connections are closed. */
  readonly shutdownTimeoutMs: number;
  /** A connection that sends and receives nothing for this long during a request is closed; 0 disables. */
  readonly idleTimeoutMs: number;
  /** A client must have sent its request headers this long after it started them; 0 disables. */
  readonly headersTimeoutMs: number;
  /** The configuration file (absolute), when one is given. */
  readonly configFile?: string;
  /** Reverse proxies (addresses, CIDRs) whose X-Forwarded-For/-Proto/-Host are believed; absent: none. */
  readonly trustedProxies?: readonly string[];
  /** A second listener for /metrics and the probes; /metrics is then served there only. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /** With auth on, publish the repository-labelled metrics on the public listener anyway (absent: false). */
  readonly publicRepositoryMetrics?: boolean;
  /** The registry's limits, every one resolved. */
  readonly limits: RegistryLimits;
  /** Access control (the file's auth section); absent: none. */
  readonly auth?: AuthConfig;
  /** Garbage collection and storage policies (the file's gc, retention, immutableTags). */
  readonly upkeep: UpkeepConfig;
  /** The web UI and CORS (the file's ui section; read at start). */
  readonly ui: UiConfig;
  /** Event subscriptions and delivery (the file's events section; read at start); absent: no events. */
  readonly events?: EventsConfig;
  /** The audit log (the file's audit section; read at start); absent: none. */
  readonly audit?: AuditConfig;
  /** Upstreams of the pull-through cache (the file's mirrors section; read at start); absent: none. */
  readonly mirrors?: readonly UpstreamSettings[];
  /** OpenTelemetry tracing (the file's tracing section, OTEL_EXPORTER_OTLP_* variables; read at start); absent: off. */
  readonly tracing?: TracingConfig;
  /** Mistakes found in the configuration that do not stop the server (logged at warn at start). */
  readonly warnings: readonly string[];
}

/** The `gc` subcommand's settings. */
export interface GcCommandConfig {
  readonly storage: StorageConfig;
  readonly dryRun: boolean;
  /** --grace; undefined: the file's gc.graceSeconds, else the default (1 h). */
  readonly graceMs?: number;
  /** The file's gc, retention and untagged rules. */
  readonly upkeep: UpkeepConfig;
  /** The file's mirrors: the run evicts their cached content as the server's would. */
  readonly mirrors?: readonly UpstreamSettings[];
}

/** What the command line asks for: run the server, a subcommand, or print usage. */
export type Command =
  | { readonly kind: 'serve'; readonly config: ServerConfig }
  | { readonly kind: 'check'; readonly storage: StorageConfig }
  | { readonly kind: 'gc'; readonly config: GcCommandConfig }
  | { readonly kind: 'usage'; readonly storage: StorageConfig; readonly top?: number; readonly json: boolean }
  | { readonly kind: 'config-check'; readonly file: string; readonly config: ServerConfig; readonly tree: ConfigTree }
  | EventsCommand
  | { readonly kind: 'help'; readonly usage: string };

export type ReadFile = (path: string) => string;
const readUtf8: ReadFile = (path) => readFileSync(path, 'utf8');

/** The tree of configuration file `file` (absolute); an empty file is an empty tree. */
function readTree(file: string, read: ReadFile): Record<string, unknown> {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  return (raw ?? {}) as Record<string, unknown>;
}

interface Loaded {
  readonly tree: ConfigTree;
  readonly sources: Sources;
  readonly file?: string;
  /** The file, as read (before flags, variables and defaults). */
  readonly fileTree: Record<string, unknown>;
}

/** The file (--config, else FERRO_OCI_CONFIG, else `file`), with `settings`' flags and variables over it, validated. */
function load(flags: Flags, env: NodeJS.ProcessEnv, settings: readonly Setting[], read: ReadFile, file?: string): Loaded {
  const named = typeof flags[CONFIG_FILE.flag] === 'string' ? (flags[CONFIG_FILE.flag] as string) : file ?? env[CONFIG_FILE.env];
  const path = named === undefined || named === '' ? undefined : resolve(named);
  const fileTree = path === undefined ? {} : readTree(path, read);
  const tree = structuredClone(fileTree);
  const sources = new Sources(path);
  overlay(tree, settings, flags, env, sources);
  validateConfig(tree, sources);
  return { tree: tree as unknown as ConfigTree, sources, fileTree, ...(path !== undefined ? { file: path } : {}) };
}

/** The registry limits of the `limits` section. */
function limitsOf(tree: ConfigTree, sources: Sources): RegistryLimits {
  const l = tree.limits;
  const maxPageSize = l.maxPageSize;
  const defaultPageSize = l.defaultPageSize ?? maxPageSize;
  if (defaultPageSize > maxPageSize) throw sources.error('limits.defaultPageSize', `must be at most limits.maxPageSize (${maxPageSize})`);
  return resolveLimits({
    maxBlobSize: l.maxUploadSize,
    maxManifestSize: l.maxManifestSize,
    maxUploadSessions: l.maxUploadSessions,
    maxUploadSessionsPerRepository: l.maxUploadSessionsPerRepository,
    maxUploadSessionsPerUser: l.maxUploadSessionsPerUser,
    uploadSessionTtlMs: l.uploadSessionTtlSeconds * 1000,
    maxTagsPerPush: l.maxTagsPerPush,
    defaultPageSize,
    maxPageSize,
    maxCatalogScan: l.maxCatalogScan,
  });
}

function serverConfigOf({ tree, sources, file, fileTree }: Loaded, env: NodeJS.ProcessEnv): ServerConfig {
  const { host, port } = listenAt(tree.server.listen, 'server.listen', sources);
  checkProxies(tree.server.trustedProxies, sources);
  const metricsListen = tree.metrics.listen === undefined ? undefined : listenAt(tree.metrics.listen, 'metrics.listen', sources);
  const auth = tree.auth === undefined ? undefined : authOf(tree.auth, dirname(file ?? '.'), sources);
  const ms = (seconds: number) => Math.round(seconds * 1000);
  const tracing = parseTracing(tree.tracing, env);
  const warnings = file !== undefined && fileTree.auth === undefined ? [openRegistryWarning(file)] : [];
  if (tree.tracing !== undefined && tracing === undefined) warnings.push('the tracing section names no endpoint (nor does OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_SDK_DISABLED is true): tracing is off');
  return {
    host,
    port,
    ...(tree.server.trustedProxies.length > 0 ? { trustedProxies: tree.server.trustedProxies } : {}),
    ...(metricsListen !== undefined ? { metricsListen } : {}),
    ...(tree.metrics.publicRepositoryMetrics ? { publicRepositoryMetrics: true } : {}),
    ...storageOf(tree, sources, env),
    logLevel: tree.log.level,
    logFormat: tree.log.format,
    shutdownTimeoutMs: ms(tree.server.shutdownTimeoutSeconds),
    idleTimeoutMs: ms(tree.server.idleTimeoutSeconds),
    headersTimeoutMs: ms(tree.server.headersTimeoutSeconds),
    ...(file !== undefined ? { configFile: file } : {}),
    limits: limitsOf(tree, sources),
    ...(auth !== undefined ? { auth } : {}),
    upkeep: parseUpkeep(tree, sources),
    ui: parseUi(tree.ui, sources),
    ...(tree.events !== undefined ? { events: eventsOf(tree.events, file) } : {}),
    ...(tree.audit !== undefined ? { audit: auditOf(tree.audit, file) } : {}),
    ...(tree.mirrors !== undefined ? { mirrors: mirrorsOf(tree.mirrors, file) } : {}),
    ...(tracing !== undefined ? { tracing } : {}),
    warnings,
  };
}

/** The events section, strictly validated (events-config.ts); its errors become ConfigErrors naming the file. */
function eventsOf(raw: unknown, file: string | undefined): EventsConfig {
  try {
    return parseEventsConfig(raw);
  } catch (err) {
    if (err instanceof EventsConfigError) throw new ConfigError(`${file ?? 'configuration'}: ${err.message}`);
    throw err;
  }
}

/** The audit section, strictly validated (audit-config.ts); its errors become ConfigErrors naming the file. */
function auditOf(raw: unknown, file: string | undefined): AuditConfig {
  try {
    return parseAuditConfig(raw, dirname(file ?? '.'));
  } catch (err) {
    if (err instanceof AuditConfigError) throw new ConfigError(`${file ?? 'configuration'}: ${err.message}`);
    throw err;
  }
}

/** The mirrors section, strictly validated (mirror-config.ts); its errors become ConfigErrors naming the file. */
function mirrorsOf(raw: unknown, file: string | undefined): UpstreamSettings[] {
  try {
    return parseMirrorConfig(raw, dirname(file ?? '.'));
  } catch (err) {
    if (err instanceof MirrorConfigError) throw new ConfigError(`${file ?? 'configuration'}: ${err.message}`);
    throw err;
  }
}

/** A subcommand's storage: the same settings as serve (flags, variables, file), which must name durable stores. */
function subcommandStorage(command: string, loaded: Loaded, env: NodeJS.ProcessEnv): StorageConfig {
  const storage = storageOf(loaded.tree, loaded.sources, env);
  if (storage.storageDir === undefined && storage.metadataUrl === undefined && storage.s3 === undefined) {
    throw new ConfigError(
      `${command} needs the registry's storage, as serve takes it: a storage directory (--storage-dir DIR, FERRO_OCI_STORAGE_DIR or storage.directory), ` +
        'or PostgreSQL and S3 (--metadata-url URL and --s3-bucket BUCKET, or their FERRO_OCI_* variables or storage.* keys)',
    );
  }
  return storage;
}

function parseGrace(text: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds <= 366 * 86_400)) throw new ConfigError(`invalid --grace ${JSON.stringify(text)}: expected a number of seconds from 0 to 31622400`);
  return Math.round(seconds * 1000);
}

function parseSubcommand(name: string, argv: readonly string[], env: NodeJS.ProcessEnv, read: ReadFile): Command {
  const extra = {
    check: {},
    gc: { 'dry-run': { type: 'boolean' }, grace: { type: 'string' } },
    usage: { top: { type: 'string' }, json: { type: 'boolean' } },
  } as const;
  const { flags } = parseFlags(argv, flagSpec(STORAGE_SETTINGS, extra[name as keyof typeof extra]));
  if (flags.help === true) return { kind: 'help', usage: { check: CHECK_USAGE, gc: GC_USAGE, usage: USAGE_USAGE }[name]! };
  const loaded = load(flags, env, STORAGE_SETTINGS, read);
  const storage = subcommandStorage(name, loaded, env);
  if (name === 'check') return { kind: 'check', storage };
  if (name === 'gc') {
    const upkeep = parseUpkeep(loaded.tree, loaded.sources);
    const graceMs = typeof flags.grace === 'string' ? parseGrace(flags.grace) : undefined;
    const mirrors = loaded.tree.mirrors !== undefined ? { mirrors: mirrorsOf(loaded.tree.mirrors, loaded.file) } : {};
    return { kind: 'gc', config: { storage, dryRun: flags['dry-run'] === true, upkeep, ...mirrors, ...(graceMs !== undefined ? { graceMs } : {}) } };
  }
  const top = typeof flags.top === 'string' ? Number(flags.top) : undefined;
  if (top !== undefined && !(Number.isSafeInteger(top) && top > 0 && /^\d+$/.test(String(flags.top)))) throw new ConfigError(`invalid --top ${JSON.stringify(flags.top)}: expected a positive integer`);
  return { kind: 'usage', storage, json: flags.json === true, ...(top !== undefined ? { top } : {}) };
}

/** `config check FILE [options]`: the configuration the server would run with, FILE in place of --config. */
function parseConfigCommand(argv: readonly string[], env: NodeJS.ProcessEnv, read: ReadFile): Command {
  const { flags, positionals } = parseFlags(argv, flagSpec(SETTINGS), true);
  if (flags.help === true) return { kind: 'help', usage: CONFIG_USAGE };
  if (positionals[0] !== 'check' || positionals.length !== 2 || flags[CONFIG_FILE.flag] !== undefined) {
    throw new ConfigError('usage: ferro-oci-server config check FILE [options] (config --help)');
  }
  const loaded = load(flags, env, SETTINGS, read, positionals[1]);
  return { kind: 'config-check', file: loaded.file!, config: serverConfigOf(loaded, env), tree: loaded.tree };
}

/**
 * Builds the command from `argv` (process.argv.slice(2)), `env` and the
 * configuration file they name. Returns the help command when --help is
 * present. Throws ConfigError for unknown flags, stray arguments and bad
 * values; the message names the key at fault and where its value came from.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv, read: ReadFile = readUtf8): Command {
  const [first] = argv;
  if (first === 'check' || first === 'gc' || first === 'usage') return parseSubcommand(first, argv.slice(1), env, read);
  if (first === 'config') return parseConfigCommand(argv.slice(1), env, read);
  if (first === 'events') {
    const { flags, positionals } = parseFlags(argv.slice(1), flagSpec(STORAGE_SETTINGS, EVENTS_FLAGS), true);
    const storage = () => subcommandStorage('events', load(flags, env, STORAGE_SETTINGS, read), env);
    return eventsCommandOf(positionals, flags, argv.slice(1), storage);
  }
  const { flags } = parseFlags(argv, flagSpec(SETTINGS));
  if (flags.help === true) return { kind: 'help', usage: usage() };
  return { kind: 'serve', config: serverConfigOf(load(flags, env, SETTINGS, read), env) };
}

/** The server's configuration from `argv` and `env` (as parseConfig; a reload loads it again this way). Throws ConfigError. */
export function serverConfig(argv: readonly string[], env: NodeJS.ProcessEnv, read: ReadFile = readUtf8): ServerConfig {
  const command = parseConfig(argv, env, read);
  if (command.kind !== 'serve') throw new ConfigError(`not a server command line: ${argv.join(' ')}`);
  return command.config;
}

/**
 * The auth and upkeep settings of a configuration file's text alone (no
 * flags, variables or other sections' defaults applied): for reading the
 * file again, and for libraries. `path` names it and anchors relative paths.
 */
export function parseConfigFile(text: string, path: string): { auth?: AuthConfig; upkeep?: UpkeepConfig } {
  const file = resolve(path);
  const loaded = load({}, {}, [], () => text, file);
  const auth = loaded.tree.auth === undefined ? undefined : authOf(loaded.tree.auth, dirname(file), loaded.sources);
  const upkeep = parseUpkeep(loaded.tree, loaded.sources);
  return { ...(auth ? { auth } : {}), ...(Object.keys(upkeep).length > 0 ? { upkeep } : {}) };
}

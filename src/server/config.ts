/**
 * Server configuration from command-line flags and the environment. Flags win
 * over environment variables, which win over defaults. An empty environment
 * variable counts as unset. parseConfig is pure: it reads only its arguments.
 */
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerConfig {
  /** Interface to bind, without brackets (e.g. '0.0.0.0', '::1'). */
  readonly host: string;
  /** 0 lets the OS pick a free port. */
  readonly port: number;
  /** Filesystem blobs and SQLite metadata under this directory; undefined: everything in memory. */
  readonly storageDir: string | undefined;
  readonly logLevel: LogLevel;
  /** How long in-flight requests may run after SIGTERM/SIGINT before their connections are closed. */
  readonly shutdownTimeoutMs: number;
  /** A connection that sends and receives nothing for this long during a request is closed; 0 disables. */
  readonly idleTimeoutMs: number;
  /** A client must have sent its request headers this long after it started them; 0 disables. */
  readonly headersTimeoutMs: number;
  /** Configuration file (YAML or JSON: the auth settings), read by main.ts; absent when none is given. */
  readonly configFile?: string;
}

/** The `gc` subcommand's settings. */
export interface GcCommandConfig {
  readonly storageDir: string;
  readonly dryRun: boolean;
  /** --grace; undefined: the configuration file's gc.graceSeconds, else the default (1 h). */
  readonly graceMs?: number;
  readonly configFile?: string;
}

/** What the command line asks for: run the server, check or collect a storage directory, or print usage. */
export type Command =
  | { readonly kind: 'serve'; readonly config: ServerConfig }
  | { readonly kind: 'check'; readonly storageDir: string }
  | { readonly kind: 'gc'; readonly config: GcCommandConfig }
  | { readonly kind: 'usage'; readonly storageDir: string; readonly top?: number; readonly json: boolean }
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
    flag: 'config',
    env: 'FERRO_OCI_CONFIG',
    value: 'FILE',
    description: 'Read settings from FILE (YAML or JSON): auth mode, users, tokens, permissions. See README "Securing the registry".',
  },
  { flag: 'help', description: 'Print this help and exit (also -h).' },
];

const CHECK_USAGE = [
  'Usage: ferro-oci-server check [--storage-dir DIR]',
  '',
  'Verifies a storage directory: blob and manifest bytes against their digests, manifest references,',
  'tags, blob links, and leftover upload data. Prints a summary and one line per problem.',
  'DIR defaults to FERRO_OCI_STORAGE_DIR. Exit codes: 0 clean, 1 problems found, 2 bad usage.',
  '',
].join('\n');

const GC_USAGE = [
  'Usage: ferro-oci-server gc [--dry-run] [--storage-dir DIR] [--grace SECONDS] [--config FILE]',
  '',
  'Deletes the blobs of a storage directory that no repository links and no manifest references,',
  'unused for the grace period (default 3600 s, or gc.graceSeconds of the configuration file),',
  'and expired upload sessions. Safe next to a running server. --dry-run only reports.',
  'DIR defaults to FERRO_OCI_STORAGE_DIR, FILE to FERRO_OCI_CONFIG. Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

const USAGE_USAGE = [
  'Usage: ferro-oci-server usage [--storage-dir DIR] [--top N] [--json]',
  '',
  'Prints the storage used per repository, largest first: blobs linked in it (each digest once per',
  'repository; a blob shared by several repositories counts in each), their bytes, manifests.',
  '--top N prints only the N largest. DIR defaults to FERRO_OCI_STORAGE_DIR. Exit codes: 0, 1 failed, 2 bad usage.',
  '',
].join('\n');

/** The --help text: every option with its environment variable. */
export function usage(): string {
  const lines = ['Usage: ferro-oci-server [options]', '', 'An OCI Distribution (Docker Registry v2) server.', '', 'Options (flags override environment variables):'];
  for (const o of OPTIONS) {
    const left = `  --${o.flag}${o.value ? ` ${o.value}` : ''}`;
    lines.push(left.padEnd(32) + o.description);
    if (o.env) lines.push(' '.repeat(32) + `Environment: ${o.env}`);
  }
  lines.push('', 'Endpoints: /v2/ (registry API), /live, /ready, /healthz, /metrics.');
  lines.push('Subcommand: ferro-oci-server check [--storage-dir DIR] verifies a storage directory (check --help).');
  lines.push('Subcommand: ferro-oci-server gc [--dry-run] [--storage-dir DIR] [--grace SECONDS] collects garbage (gc --help).');
  lines.push('Subcommand: ferro-oci-server usage [--storage-dir DIR] prints the storage used per repository (usage --help).', '');
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

/** The `check` subcommand's arguments (after "check"). */
function parseCheck(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: { 'storage-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (flags.help === true) return { kind: 'help', usage: CHECK_USAGE };
  const flag = flags['storage-dir'];
  const storageDir = typeof flag === 'string' ? flag : env.FERRO_OCI_STORAGE_DIR;
  if (storageDir === undefined || storageDir === '') throw new ConfigError('check needs a storage directory: --storage-dir DIR or FERRO_OCI_STORAGE_DIR');
  return { kind: 'check', storageDir };
}

/** The `gc` subcommand's arguments (after "gc"). */
function parseGc(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: {
        'storage-dir': { type: 'string' },
        'dry-run': { type: 'boolean' },
        grace: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (flags.help === true) return { kind: 'help', usage: GC_USAGE };
  const dir = typeof flags['storage-dir'] === 'string' ? flags['storage-dir'] : env.FERRO_OCI_STORAGE_DIR;
  if (dir === undefined || dir === '') throw new ConfigError('gc needs a storage directory: --storage-dir DIR or FERRO_OCI_STORAGE_DIR');
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
      storageDir: dir,
      dryRun: flags['dry-run'] === true,
      ...(graceMs !== undefined ? { graceMs } : {}),
      ...(configFile !== undefined && configFile !== '' ? { configFile } : {}),
    },
  };
}

/** The `usage` subcommand's arguments (after "usage"). */
function parseUsage(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: { 'storage-dir': { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (flags.help === true) return { kind: 'help', usage: USAGE_USAGE };
  const dir = typeof flags['storage-dir'] === 'string' ? flags['storage-dir'] : env.FERRO_OCI_STORAGE_DIR;
  if (dir === undefined || dir === '') throw new ConfigError('usage needs a storage directory: --storage-dir DIR or FERRO_OCI_STORAGE_DIR');
  const top = typeof flags.top === 'string' ? Number(flags.top) : undefined;
  if (top !== undefined && !(Number.isSafeInteger(top) && top > 0 && /^\d+$/.test(String(flags.top)))) throw new ConfigError(`invalid --top ${JSON.stringify(flags.top)}: expected a positive integer`);
  return { kind: 'usage', storageDir: dir, json: flags.json === true, ...(top !== undefined ? { top } : {}) };
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
  let flags: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        listen: { type: 'string' },
        'storage-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'headers-timeout': { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    flags = parsed.values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (flags.help === true) return { kind: 'help', usage: usage() };

  // The flag's value and its source name, else the env var's, else undefined.
  const pick = (flag: string, name: string): { value: string; source: string } | undefined => {
    const f = flags[flag];
    if (typeof f === 'string') return { value: f, source: `--${flag}` };
    const e = env[name];
    if (e !== undefined && e !== '') return { value: e, source: name };
    return undefined;
  };

  const listen = pick('listen', 'FERRO_OCI_LISTEN');
  const { host, port } = parseListen(listen?.value ?? DEFAULT_LISTEN, listen?.source ?? 'default listen address');
  const storage = pick('storage-dir', 'FERRO_OCI_STORAGE_DIR');
  const level = pick('log-level', 'FERRO_OCI_LOG_LEVEL');
  const timeout = pick('shutdown-timeout', 'FERRO_OCI_SHUTDOWN_TIMEOUT');
  const idle = pick('idle-timeout', 'FERRO_OCI_IDLE_TIMEOUT');
  const headers = pick('headers-timeout', 'FERRO_OCI_HEADERS_TIMEOUT');
  const configFile = pick('config', 'FERRO_OCI_CONFIG');
  return {
    kind: 'serve',
    config: {
      host,
      port,
      // An explicit empty --storage-dir= selects memory even when the env var is set.
      storageDir: storage === undefined || storage.value === '' ? undefined : storage.value,
      logLevel: level ? parseLogLevel(level.value, level.source) : 'info',
      shutdownTimeoutMs: timeout ? parseSeconds(timeout.value, timeout.source) : DEFAULT_SHUTDOWN_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: idle ? parseSeconds(idle.value, idle.source) : DEFAULT_IDLE_TIMEOUT_SECONDS * 1000,
      headersTimeoutMs: headers ? parseSeconds(headers.value, headers.source) : DEFAULT_HEADERS_TIMEOUT_SECONDS * 1000,
      ...(configFile !== undefined && configFile.value !== '' ? { configFile: configFile.value } : {}),
    },
  };
}

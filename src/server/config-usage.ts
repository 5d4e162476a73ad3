/**
 * The --help texts of the binary and its subcommands. The options are
 * written from the settings table (config-settings.ts) and the schema's
 * descriptions: every flag with its variable, file key and default.
 */
import { settingsHelp, SETTINGS, STORAGE_SETTINGS } from './config-settings.js';

export const STORAGE_USAGE = [
  'Storage: the same settings as the server, from flags, environment variables or the configuration file',
  '(--config FILE or FERRO_OCI_CONFIG, its storage section):',
  ...settingsHelp(STORAGE_SETTINGS),
];

export const CHECK_USAGE = [
  'Usage: ferro-oci-server check [storage options]',
  '',
  "Verifies the registry's stores: blob and manifest bytes against their digests (blobs are streamed,",
  'never held in memory), manifest references, tags, blob links, and leftover upload data. Prints',
  'progress (at most one line a second), a summary and one line per problem.',
  ...STORAGE_USAGE,
  'Exit codes: 0 clean, 1 problems found or the stores could not be read, 2 bad usage.',
  '',
].join('\n');

export const GC_USAGE = [
  'Usage: ferro-oci-server gc [--dry-run] [--grace SECONDS] [--config FILE] [storage options]',
  '',
  'Deletes the blobs that no repository links and no manifest references, unused for the grace',
  'period (default 3600 s, or gc.graceSeconds of the configuration file), and expired upload',
  'sessions. Safe next to running servers on the same stores. --dry-run only reports.',
  "The configuration file's retention and untagged rules are applied first.",
  ...STORAGE_USAGE,
  'Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

export const USAGE_USAGE = [
  'Usage: ferro-oci-server usage [--top N] [--json] [storage options]',
  '',
  'Prints the storage used per repository, largest first: blobs linked in it (each digest once per',
  'repository; a blob shared by several repositories counts in each), their bytes, manifests.',
  '--top N prints only the N largest.',
  ...STORAGE_USAGE,
  'Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

export const CONFIG_USAGE = [
  'Usage: ferro-oci-server config check FILE [options]',
  '',
  'Validates the configuration file FILE (YAML or JSON) with the environment and the options (as the',
  'server takes them), then prints the effective configuration (file + environment + options +',
  'defaults) as YAML, secrets redacted, and the warnings the server would log at start.',
  'Exit codes: 0 valid, 2 invalid (the message names the key and where its value came from).',
  '',
].join('\n');

/** The --help text: every option with its environment variable and configuration file key. */
export function usage(): string {
  return [
    'Usage: ferro-oci-server [options]',
    '',
    'An OCI Distribution (Docker Registry v2) server. Every setting is a flag, an environment variable',
    'and a key of the configuration file; flags override variables, which override the file, which',
    'overrides the defaults. S3 keys are never flags.',
    ...settingsHelp(SETTINGS),
    '  --help, -h'.padEnd(44) + 'Print this help and exit.',
    '',
    'File only (see README "Securing the registry", "Garbage collection and retention" and "Web UI"):',
    '  auth'.padEnd(44) + 'Access control: mode, htpasswd, realm, token, throttle, groups, admins, rules.',
    '  gc'.padEnd(44) + 'Background collection: intervalSeconds, graceSeconds, untagged rules.',
    '  retention'.padEnd(44) + 'Tag retention rules: repositories, keepLast, keepWithinDays/Seconds, exceptTags.',
    '  immutableTags'.padEnd(44) + 'Tags that cannot move: repositories, tags.',
    '  events'.padEnd(44) + 'Event subscriptions (webhooks) and their delivery (read at start).',
    '  audit'.padEnd(44) + 'The audit log: sink (stdout or a file), database, retentionDays, queueSize (read at start).',
    '  tracing'.padEnd(44) + 'OpenTelemetry traces: endpoint (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT), serviceName, sampleRatio (read at start).',
    '  mirrors'.padEnd(44) + 'Pull-through cache upstreams: name, url, namespace, hosts, default, credentials, TTLs, eviction (read at start).',
    '  ui'.padEnd(44) + 'The web UI under /ui: enabled, publicHost, corsOrigins (read at start).',
    '',
    'Endpoints: /v2/ (registry API), /ui/ (web UI), /live, /ready, /healthz, /metrics (on --metrics-listen when given).',
    'Subcommands check, gc and usage take the storage options above and their variables and file keys:',
    '  ferro-oci-server check        verifies the stores (check --help)',
    '  ferro-oci-server gc           collects garbage (gc --help)',
    '  ferro-oci-server usage        prints the storage used per repository (usage --help)',
    '  ferro-oci-server config check FILE   validates FILE and prints the effective configuration (config --help)',
    "  ferro-oci-server healthcheck [--listen ADDR] asks a running server's /ready, exit 0 when ready (healthcheck --help)",
    'ferro-oci-server --version prints the version.',
    '',
  ].join('\n');
}

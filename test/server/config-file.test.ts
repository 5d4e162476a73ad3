/** The configuration file beside flags and variables: precedence, limits, the published schema and --help. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, usage, type Command, type ServerConfig } from '../../src/server/config.js';
import { CONFIG_SCHEMA, SCHEMA_FILE } from '../../src/server/config-schema.js';
import { schemaNode, SETTINGS } from '../../src/server/config-settings.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

async function configFile(t: { after: (fn: () => Promise<void>) => void }, text: string, name = 'config.yaml'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

function serve(command: Command): ServerConfig {
  assert.equal(command.kind, 'serve');
  return command.config;
}

function refused(argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(() => parseConfig(argv, env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), `${argv.join(' ')} ${JSON.stringify(env)}`);
}

const FILE = `
server:
  listen: 127.0.0.1:7000
  shutdownTimeoutSeconds: 5
log: { level: warn, format: pretty }
storage:
  directory: data                # relative: against the file's directory
  s3: { bucket: blobs, createBucket: true, accessKeyId: AK, secretAccessKey: SK }
limits:
  maxUploadSize: 2GiB
  maxManifestSize: 65536
  maxUploadSessions: 8
  uploadSessionTtlSeconds: 600
  maxPageSize: 50
  defaultPageSize: 20
auth: { mode: none }
`;

test('the file sets every section; variables override it, flags override both', async (t) => {
  const file = await configFile(t, FILE);
  const fromFile = serve(parseConfig(['--config', file], {}));
  assert.equal(fromFile.host, '127.0.0.1');
  assert.equal(fromFile.port, 7000);
  assert.equal(fromFile.shutdownTimeoutMs, 5000);
  assert.equal(fromFile.logLevel, 'warn');
  assert.equal(fromFile.logFormat, 'pretty');
  assert.equal(fromFile.storageDir, join(file, '..', 'data'));
  assert.deepEqual(fromFile.s3, { bucket: 'blobs', region: 'us-east-1', forcePathStyle: false, redirect: false, createBucket: true, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } });
  assert.equal(fromFile.limits.maxBlobSize, 2 * 1024 ** 3);
  assert.equal(fromFile.limits.maxManifestSize, 65_536);
  assert.equal(fromFile.limits.maxUploadSessions, 8);
  assert.equal(fromFile.limits.uploadSessionTtlMs, 600_000);
  assert.equal(fromFile.limits.maxPageSize, 50);
  assert.equal(fromFile.limits.defaultPageSize, 20);
  assert.equal(fromFile.limits.maxUploadSessionsPerUser, DEFAULT_LIMITS.maxUploadSessionsPerUser, 'unset limits keep their defaults');
  assert.equal(fromFile.configFile, file);

  const env = { FERRO_OCI_CONFIG: file, FERRO_OCI_LISTEN: '127.0.0.1:7001', FERRO_OCI_MAX_UPLOAD_SIZE: '1048576', FERRO_OCI_LOG_FORMAT: 'JSON', FERRO_OCI_S3_CREATE_BUCKET: 'false' };
  const fromEnv = serve(parseConfig([], env));
  assert.equal(fromEnv.port, 7001);
  assert.equal(fromEnv.limits.maxBlobSize, 1_048_576);
  assert.equal(fromEnv.logFormat, 'json');
  assert.equal(fromEnv.s3?.createBucket, false);
  assert.equal(fromEnv.limits.maxManifestSize, 65_536, 'what the environment leaves alone comes from the file');

  const fromFlags = serve(parseConfig(['--listen', '127.0.0.1:7002', '--max-upload-size', '1TiB', '--storage-dir=', '--metadata-url', 'postgres://db/x', '--s3-create-bucket', 'true'], env));
  assert.equal(fromFlags.port, 7002);
  assert.equal(fromFlags.limits.maxBlobSize, 1024 ** 4);
  assert.equal(fromFlags.storageDir, undefined, 'an empty flag unsets the file key');
  assert.equal(fromFlags.s3?.createBucket, true);
});

test('defaults: a 1 TiB upload, 4 MiB manifests, JSON logs, no bucket creation; the schema states the library defaults', () => {
  const config = serve(parseConfig([], {}));
  assert.deepEqual(config.limits, DEFAULT_LIMITS);
  assert.equal(config.limits.maxBlobSize, 1024 ** 4);
  assert.equal(config.limits.maxManifestSize, 4 * 1024 ** 2);
  assert.equal(config.logFormat, 'json');
  assert.deepEqual(config.warnings, [], 'no configuration file: nothing to warn about');
  assert.equal(serve(parseConfig(['--s3-bucket', 'b1', '--storage-dir', '/d'], {})).s3?.createBucket, false);
});

test('limits from flags and variables, refused naming the key and the source', () => {
  const config = serve(
    parseConfig(['--max-upload-sessions-per-repository', '3', '--max-tags-per-push', '12', '--max-catalog-scan', '99'], {
      FERRO_OCI_MAX_UPLOAD_SESSIONS_PER_USER: '2',
      FERRO_OCI_UPLOAD_SESSION_TTL: '30',
      FERRO_OCI_MAX_MANIFEST_SIZE: '1 MiB',
      FERRO_OCI_DEFAULT_PAGE_SIZE: '7',
    }),
  );
  assert.equal(config.limits.maxUploadSessionsPerRepository, 3);
  assert.equal(config.limits.maxTagsPerPush, 12);
  assert.equal(config.limits.maxCatalogScan, 99);
  assert.equal(config.limits.maxUploadSessionsPerUser, 2);
  assert.equal(config.limits.uploadSessionTtlMs, 30_000);
  assert.equal(config.limits.maxManifestSize, 1024 ** 2);
  assert.equal(config.limits.defaultPageSize, 7);
  assert.equal(config.limits.maxPageSize, DEFAULT_LIMITS.maxPageSize);
  refused(['--max-upload-size', '0'], {}, /^limits\.maxUploadSize: must be a size in bytes from 1 to \d+ .*\(from --max-upload-size\)$/);
  refused([], { FERRO_OCI_MAX_UPLOAD_SIZE: '4 gigs' }, /^limits\.maxUploadSize: must be a size in bytes .*\(from FERRO_OCI_MAX_UPLOAD_SIZE\)$/);
  refused([], { FERRO_OCI_MAX_UPLOAD_SESSIONS: '-1' }, /^limits\.maxUploadSessions: must be an integer from 1 to 100000000 \(from FERRO_OCI_MAX_UPLOAD_SESSIONS\)$/);
  refused(['--max-page-size', '10', '--default-page-size', '11'], {}, /^limits\.defaultPageSize: must be at most limits\.maxPageSize \(10\) \(from --default-page-size\)$/);
  refused(['--log-format', 'xml'], {}, /^log\.format: must be one of json, pretty \(from --log-format\)$/);
  refused([], { FERRO_OCI_S3_BUCKET: 'b1', FERRO_OCI_STORAGE_DIR: '/d', FERRO_OCI_S3_CREATE_BUCKET: 'perhaps' }, /^storage\.s3\.createBucket: must be true or false \(from FERRO_OCI_S3_CREATE_BUCKET\)$/);
});

test('file errors name the key and the file; a variable at fault is named instead', async (t) => {
  const file = await configFile(t, 'limits:\n  maxManifestSize: 0\n');
  refused(['--config', file], {}, new RegExp(`^limits\\.maxManifestSize: must be a size in bytes .*\\(from ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)$`));
  refused(['--config', file], { FERRO_OCI_MAX_MANIFEST_SIZE: 'x' }, /^limits\.maxManifestSize: .*\(from FERRO_OCI_MAX_MANIFEST_SIZE\)$/);
  const typo = await configFile(t, 'limits:\n  maxUploadBytes: 5\n');
  refused([], { FERRO_OCI_CONFIG: typo }, /^limits\.maxUploadBytes: unknown setting; expected one of maxUploadSize, .* \(from .*config\.yaml\)$/);
  refused(['--config', join(typo, '..', 'missing.yaml')], {}, /^cannot read configuration file .*missing\.yaml/);
  const secret = await configFile(t, 'storage:\n  directory: /d\n  metadataUrl: "mysql://u:hunter2@db/x"\n');
  assert.throws(() => parseConfig(['--config', secret], {}), (err: unknown) => err instanceof ConfigError && /^storage\.metadataUrl: unsupported scheme/.test(err.message) && !err.message.includes('hunter2'));
});

test('subcommands read the storage section of the file, and gc its upkeep sections', async (t) => {
  const file = await configFile(t, 'storage:\n  directory: /srv/registry\ngc:\n  graceSeconds: 60\nretention:\n  - {repositories: ["ci/**"], keepLast: 3}\n');
  assert.deepEqual(parseConfig(['check', '--config', file], {}), { kind: 'check', storage: { storageDir: '/srv/registry' } });
  assert.deepEqual(parseConfig(['usage'], { FERRO_OCI_CONFIG: file, FERRO_OCI_STORAGE_DIR: '/other' }), { kind: 'usage', storage: { storageDir: '/other' }, json: false });
  const gc = parseConfig(['gc', '--config', file, '--dry-run'], {});
  assert.deepEqual(gc, {
    kind: 'gc',
    config: { storage: { storageDir: '/srv/registry' }, dryRun: true, upkeep: { gc: { graceMs: 60_000 }, storagePolicy: { retention: [{ repositories: ['ci/**'], keepLast: 3 }] } } },
  });
  // A subcommand takes only the storage variables: a bad server variable does not stop it.
  assert.equal(parseConfig(['check', '--config', file], { FERRO_OCI_LISTEN: 'nonsense' }).kind, 'check');
});

test('the warnings of a file without an auth section', async (t) => {
  const empty = await configFile(t, '');
  assert.match(serve(parseConfig(['--config', empty], {})).warnings.join('\n'), /has no auth section: the registry is open/);
  const noAuth = await configFile(t, 'limits: {maxUploadSessions: 4}\n');
  assert.equal(serve(parseConfig(['--config', noAuth], {})).warnings.length, 1);
  const open = await configFile(t, 'auth: {mode: none}\n');
  assert.deepEqual(serve(parseConfig(['--config', open], {})).warnings, [], 'auth: {mode: none} says it is meant');
});

test('config check FILE takes the file and the environment, and refuses other forms', async (t) => {
  const file = await configFile(t, FILE);
  const command = parseConfig(['config', 'check', file], { FERRO_OCI_MAX_UPLOAD_SESSIONS: '9' });
  assert.equal(command.kind, 'config-check');
  if (command.kind !== 'config-check') return;
  assert.equal(command.file, file);
  assert.equal(command.tree.limits.maxUploadSessions, 9);
  assert.equal(command.tree.limits.maxUploadSessionsPerUser, DEFAULT_LIMITS.maxUploadSessionsPerUser, 'defaults are filled in');
  refused(['config'], {}, /config check FILE/);
  refused(['config', 'check'], {}, /config check FILE/);
  refused(['config', 'lint', file], {}, /config check FILE/);
  assert.equal(parseConfig(['config', '--help'], {}).kind, 'help');
});

test('the published schema is the one validated, and its defaults are the code defaults', async () => {
  assert.deepEqual(JSON.parse(await readFile(SCHEMA_FILE, 'utf8')), CONFIG_SCHEMA);
  const pkg = JSON.parse(await readFile(join(SCHEMA_FILE, '..', '..', 'package.json'), 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('schema'), 'package.json files ships schema/');
  const defaults = { maxUploadSize: 'maxBlobSize', uploadSessionTtlSeconds: 'uploadSessionTtlMs' } as Record<string, string>;
  const limits = (CONFIG_SCHEMA.properties as Record<string, { properties: Record<string, { default?: number }> }>).limits!.properties;
  assert.equal(limits.defaultPageSize!.default, undefined, 'defaultPageSize follows maxPageSize');
  assert.equal(DEFAULT_LIMITS.defaultPageSize, DEFAULT_LIMITS.maxPageSize);
  for (const [key, node] of Object.entries(limits)) {
    if (key === 'defaultPageSize') continue;
    const code = DEFAULT_LIMITS[(defaults[key] ?? key) as keyof typeof DEFAULT_LIMITS];
    assert.equal(key === 'uploadSessionTtlSeconds' ? node.default! * 1000 : node.default, code, `limits.${key} default`);
  }
  // Every key a flag or variable sets is in the schema, and every leaf of those sections has a flag or variable.
  const leaves = (node: Record<string, unknown>, at: string): string[] =>
    Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>).flatMap(([k, sub]) => (sub.properties ? leaves(sub, `${at}${k}.`) : [`${at}${k}`]));
  const flagged = (CONFIG_SCHEMA.properties as Record<string, Record<string, unknown>>);
  const expected = ['server', 'log', 'metrics', 'storage', 'limits'].flatMap((section) => leaves(flagged[section]!, `${section}.`)).sort();
  assert.deepEqual(SETTINGS.map((s) => s.key).sort(), expected);
  for (const s of SETTINGS) assert.ok(schemaNode(s.key)?.description, `${s.key} has a description`);
});

test('--help lists every setting with its flag, variable and file key, and the file-only sections', () => {
  const help = usage();
  for (const s of SETTINGS) {
    if (s.flag) assert.ok(help.includes(`--${s.flag} `), `--${s.flag}`);
    assert.ok(help.includes(s.env), s.env);
    assert.ok(help.includes(`file: ${s.key}`), s.key);
  }
  for (const text of ['--config FILE', 'FERRO_OCI_CONFIG', 'auth', 'gc', 'retention', 'immutableTags', 'config check FILE', '--log-format FORMAT', '--s3-create-bucket BOOL']) assert.ok(help.includes(text), text);
  for (const section of ['events', 'tracing', 'audit', 'mirrors', 'ui']) assert.match(help, new RegExp(`^  ${section} `, 'm'), `file-only section ${section}`);
});

test("the README's example configuration file is valid", async (t) => {
  const readme = await readFile(join(SCHEMA_FILE, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, 'the Configuration section has a YAML example');
  const file = await configFile(t, example);
  await writeFile(join(file, '..', 'htpasswd'), '');
  const command = parseConfig(['config', 'check', file], {});
  assert.equal(command.kind, 'config-check');
  if (command.kind !== 'config-check') return;
  assert.equal(command.config.limits.maxBlobSize, 1024 ** 4);
  assert.equal(command.config.s3?.bucket, 'registry');
  assert.equal(command.config.auth?.mode, 'basic');
});

test('the ui section: on by default, its host and origins checked, false turns the UI off', async (t) => {
  assert.deepEqual(serve(parseConfig([], {})).ui, { ui: {} });
  const on = await configFile(t, 'ui: { publicHost: "registry.example.com:5000", corsOrigins: ["https://ui.example.com"] }\n');
  assert.deepEqual(serve(parseConfig(['--config', on], {})).ui, { ui: { publicHost: 'registry.example.com:5000' }, cors: { origins: ['https://ui.example.com'] } });
  const off = await configFile(t, 'ui: { enabled: false }\n');
  assert.deepEqual(serve(parseConfig(['--config', off], {})).ui, { ui: false });
  const badHost = await configFile(t, 'ui: { publicHost: "https://registry.example.com/" }\n');
  refused(['--config', badHost], {}, /^ui\.publicHost: must be a host name/);
  const badOrigin = await configFile(t, 'ui: { corsOrigins: ["ui.example.com/path"] }\n');
  refused(['--config', badOrigin], {}, /^ui\.corsOrigins\[0\]/);
  const unknown = await configFile(t, 'ui: { theme: dark }\n');
  refused(['--config', unknown], {}, /^ui\.theme/);
});

test('the audit section: defaults, a file path from the file\'s directory, and errors naming the key', async (t) => {
  const file = await configFile(t, 'audit:\n  sink: logs/audit.jsonl\n  database: true\n');
  const dir = file.slice(0, file.lastIndexOf('/'));
  assert.deepEqual(serve(parseConfig(['--config', file], {})).audit, { sink: { file: join(dir, 'logs/audit.jsonl') }, database: true, retentionMs: 90 * 86_400_000, queueSize: 10_000 });
  const stdout = await configFile(t, 'audit: { sink: stdout, retentionDays: 7, queueSize: 5 }\n');
  assert.deepEqual(serve(parseConfig(['--config', stdout], {})).audit, { sink: 'stdout', database: false, retentionMs: 7 * 86_400_000, queueSize: 5 });
  for (const [text, pattern] of [
    ['audit: { sink: stdout, bogus: 1 }', /audit\.bogus: unknown setting; expected one of sink, database, retentionDays, queueSize/],
    ['audit: { database: yes-please }', /audit\.database: must be true or false/],
    ['audit: { database: true, retentionDays: 0 }', /audit\.retentionDays: must be a number of days above 0/],
    ['audit: { database: false }', /audit: names no sink/],
  ] as const) {
    const bad = await configFile(t, `${text}\n`);
    refused(['--config', bad], {}, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${pattern.source}`));
  }
});

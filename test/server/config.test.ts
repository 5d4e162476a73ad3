import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, parseListen, redactUrl, type Command, type ServerConfig, type StorageConfig } from '../../src/server/config.js';

function serve(command: Command): ServerConfig {
  assert.equal(command.kind, 'serve');
  return command.config;
}

/** The listener, log, timeout and storage settings of a serve command (the other keys have tests of their own). */
function core(command: Command): Partial<ServerConfig> {
  const { limits: _l, upkeep: _u, ui: _ui, warnings: _w, logFormat: _f, ...rest } = serve(command);
  return rest;
}

function rejects(argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(argv, env),
    (err: unknown) => err instanceof ConfigError && err.exitCode === 2 && pattern.test(err.message),
  );
}

test('defaults', () => {
  assert.deepEqual(core(parseConfig([], {})), {
    host: '0.0.0.0',
    port: 8080,
    storageDir: undefined,
    logLevel: 'info',
    shutdownTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    headersTimeoutMs: 60_000,
  });
});

test('environment variables', () => {
  const config = core(
    parseConfig([], {
      FERRO_OCI_LISTEN: '127.0.0.1:5000',
      FERRO_OCI_STORAGE_DIR: '/var/lib/ferro',
      FERRO_OCI_LOG_LEVEL: 'DEBUG',
      FERRO_OCI_SHUTDOWN_TIMEOUT: '2.5',
      FERRO_OCI_IDLE_TIMEOUT: '0.5',
      FERRO_OCI_HEADERS_TIMEOUT: '0',
    }),
  );
  assert.deepEqual(config, {
    host: '127.0.0.1', port: 5000, storageDir: '/var/lib/ferro', logLevel: 'debug', shutdownTimeoutMs: 2500, idleTimeoutMs: 500, headersTimeoutMs: 0,
  });
});

test('empty environment variables count as unset', () => {
  assert.deepEqual(serve(parseConfig([], { FERRO_OCI_LISTEN: '', FERRO_OCI_STORAGE_DIR: '', FERRO_OCI_LOG_LEVEL: '' })), serve(parseConfig([], {})));
});

test('flags override the environment', () => {
  const env = { FERRO_OCI_LISTEN: '127.0.0.1:5000', FERRO_OCI_STORAGE_DIR: '/env', FERRO_OCI_LOG_LEVEL: 'warn', FERRO_OCI_SHUTDOWN_TIMEOUT: '9', FERRO_OCI_IDLE_TIMEOUT: '9' };
  const argv = ['--listen', '[::1]:6000', '--storage-dir=/flag', '--log-level', 'trace', '--shutdown-timeout', '0', '--idle-timeout', '120', '--headers-timeout', '5'];
  const config = core(parseConfig(argv, env));
  assert.deepEqual(config, { host: '::1', port: 6000, storageDir: '/flag', logLevel: 'trace', shutdownTimeoutMs: 0, idleTimeoutMs: 120_000, headersTimeoutMs: 5000 });
  assert.equal(serve(parseConfig(['--storage-dir='], env)).storageDir, undefined, 'an explicit empty flag selects memory');
});

test('trusted proxies, the metrics listener and public repository metrics', () => {
  const config = serve(parseConfig(['--trusted-proxies', '10.0.0.0/8, 192.0.2.1,::1', '--metrics-listen', '127.0.0.1:9100'], { FERRO_OCI_PUBLIC_REPOSITORY_METRICS: 'true' }));
  assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '192.0.2.1', '::1']);
  assert.deepEqual(config.metricsListen, { host: '127.0.0.1', port: 9100 });
  assert.equal(config.publicRepositoryMetrics, true);
  assert.deepEqual(serve(parseConfig([], { FERRO_OCI_TRUSTED_PROXIES: 'fd00::/8' })).trustedProxies, ['fd00::/8']);
  rejects(['--trusted-proxies', '10.0.0.0/8,proxy.example'], {}, /^server\.trustedProxies: trusted proxy "proxy\.example" is not an IP address or CIDR \(from --trusted-proxies\)/);
  rejects([], { FERRO_OCI_TRUSTED_PROXIES: '10.0.0.0/33' }, /FERRO_OCI_TRUSTED_PROXIES/);
  rejects(['--metrics-listen', 'nope'], {}, /--metrics-listen/);
  rejects(['--public-repository-metrics', 'maybe'], {}, /--public-repository-metrics/);
});

test('listen address forms', () => {
  assert.deepEqual(parseListen('example.com:80', 'x'), { host: 'example.com', port: 80 });
  assert.deepEqual(parseListen(':9000', 'x'), { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parseListen('9001', 'x'), { host: '0.0.0.0', port: 9001 });
  assert.deepEqual(parseListen('[::]:0', 'x'), { host: '::', port: 0 });
  assert.deepEqual(parseListen('localhost:65535', 'x'), { host: 'localhost', port: 65535 });
});

test('bad listen addresses and ports name their source', () => {
  rejects(['--listen', '127.0.0.1:65536'], {}, /^server\.listen: .*0 to 65535 \(from --listen\)$/);
  rejects(['--listen', '127.0.0.1:http'], {}, /--listen/);
  rejects(['--listen', '127.0.0.1:'], {}, /--listen/);
  rejects(['--listen', '127.0.0.1:-1'], {}, /--listen/);
  rejects([], { FERRO_OCI_LISTEN: 'localhost' }, /^server\.listen: "localhost": expected host:port.*\(from FERRO_OCI_LISTEN\)$/);
  rejects([], { FERRO_OCI_LISTEN: '::1:80' }, /brackets/);
  rejects([], { FERRO_OCI_LISTEN: '[not-v6]:80' }, /IPv6/);
  rejects([], { FERRO_OCI_LISTEN: '[::1]80' }, /FERRO_OCI_LISTEN/);
});

test('bad log level and shutdown timeout', () => {
  rejects(['--log-level', 'loud'], {}, /^log\.level: must be one of fatal, error, warn, info, debug, trace, silent \(from --log-level\)$/);
  rejects([], { FERRO_OCI_SHUTDOWN_TIMEOUT: '-1' }, /^server\.shutdownTimeoutSeconds: must be a number of seconds from 0 to 86400 \(from FERRO_OCI_SHUTDOWN_TIMEOUT\)$/);
  rejects([], { FERRO_OCI_SHUTDOWN_TIMEOUT: '10s' }, /FERRO_OCI_SHUTDOWN_TIMEOUT/);
  rejects(['--shutdown-timeout', 'NaN'], {}, /--shutdown-timeout/);
  rejects([], { FERRO_OCI_IDLE_TIMEOUT: '1m' }, /FERRO_OCI_IDLE_TIMEOUT/);
  rejects(['--headers-timeout', '-5'], {}, /--headers-timeout/);
});

test('the check subcommand takes a storage directory from its flag or the environment', () => {
  assert.deepEqual(parseConfig(['check', '--storage-dir', '/flag'], { FERRO_OCI_STORAGE_DIR: '/env' }), { kind: 'check', storage: { storageDir: '/flag' } });
  assert.deepEqual(parseConfig(['check'], { FERRO_OCI_STORAGE_DIR: '/env' }), { kind: 'check', storage: { storageDir: '/env' } });
  rejects(['check'], {}, /storage directory/);
  rejects(['check', '--storage-dir='], {}, /storage directory/);
  rejects(['check', '--listen', ':80', '--storage-dir', '/x'], {}, /listen/);
  assert.equal(parseConfig(['check', '--help'], {}).kind, 'help');
});

test('check, gc and usage take the storage settings of serve: PostgreSQL and S3 from flags or the environment', () => {
  const env = {
    FERRO_OCI_METADATA_URL: 'postgres://reg:pw@db/registry',
    FERRO_OCI_S3_BUCKET: 'oci-blobs',
    FERRO_OCI_S3_ENDPOINT: 'http://127.0.0.1:7480',
    FERRO_OCI_S3_FORCE_PATH_STYLE: 'true',
    FERRO_OCI_S3_ACCESS_KEY: 'AK',
    FERRO_OCI_S3_SECRET_KEY: 'SK',
  };
  const served = serve(parseConfig([], env));
  const storage = { storageDir: undefined, metadataUrl: served.metadataUrl, s3: served.s3 };
  assert.deepEqual(parseConfig(['check'], env), { kind: 'check', storage });
  assert.deepEqual(parseConfig(['usage', '--json'], env), { kind: 'usage', storage, json: true });
  const gc = parseConfig(['gc', '--grace', '0'], env);
  assert.deepEqual(gc, { kind: 'gc', config: { storage, dryRun: false, graceMs: 0, upkeep: {} } });
  const flags = ['--metadata-url', 'postgres://reg:pw@db/registry', '--metadata-schema', 'reg', '--s3-bucket', 'blobs', '--s3-prefix', 'p/', '--s3-force-path-style', 'true'];
  for (const sub of ['check', 'gc', 'usage']) {
    const command = parseConfig([sub, ...flags], {});
    assert.equal(command.kind, sub);
    const parsed = command.kind === 'gc' ? command.config.storage : (command as { storage: StorageConfig }).storage;
    assert.equal(parsed.metadataUrl, 'postgres://reg:pw@db/registry');
    assert.equal(parsed.metadataSchema, 'reg');
    assert.equal(parsed.s3?.bucket, 'blobs');
    assert.equal(parsed.s3?.prefix, 'p/');
    // The same combinations as serve are refused.
    rejects([sub, '--s3-bucket', 'blobs'], {}, /S3 blobs need durable metadata/);
    rejects([sub, '--metadata-url', 'postgres://db/x'], {}, /PostgreSQL metadata needs durable blobs/);
    rejects([sub], {}, /--metadata-url URL and --s3-bucket BUCKET/);
  }
});

test('unknown flags, missing values and positionals are errors', () => {
  rejects(['--port', '80'], {}, /port/);
  rejects(['--listen'], {}, /listen/);
  rejects(['serve'], {}, /serve/);
});

test('--help wins over everything and lists every option with its variable', () => {
  for (const argv of [['--help'], ['-h'], ['--listen', 'bad', '--help']]) {
    const command = parseConfig(argv, { FERRO_OCI_LISTEN: 'bad' });
    assert.equal(command.kind, 'help');
    if (command.kind !== 'help') return;
    for (const text of ['--listen', 'FERRO_OCI_LISTEN', '--storage-dir', 'FERRO_OCI_STORAGE_DIR', '--log-level', 'FERRO_OCI_LOG_LEVEL', '--shutdown-timeout', 'FERRO_OCI_SHUTDOWN_TIMEOUT', '--idle-timeout', 'FERRO_OCI_IDLE_TIMEOUT', '--headers-timeout', 'FERRO_OCI_HEADERS_TIMEOUT', 'check', '--help']) {
      assert.ok(command.usage.includes(text), `usage mentions ${text}`);
    }
  }
});

test('PostgreSQL metadata and S3 blobs from the environment', () => {
  const config = serve(
    parseConfig([], {
      FERRO_OCI_METADATA_URL: 'postgres://reg:s3cret@db.internal:5432/registry',
      FERRO_OCI_METADATA_SCHEMA: 'registry',
      FERRO_OCI_S3_BUCKET: 'oci-blobs',
      FERRO_OCI_S3_ENDPOINT: 'http://127.0.0.1:7480',
      FERRO_OCI_S3_REGION: 'eu-west-1',
      FERRO_OCI_S3_PREFIX: 'registry/',
      FERRO_OCI_S3_FORCE_PATH_STYLE: 'true',
      FERRO_OCI_S3_ACCESS_KEY: 'AK',
      FERRO_OCI_S3_SECRET_KEY: 'SK',
      FERRO_OCI_S3_REDIRECT: 'TRUE',
    }),
  );
  assert.equal(config.storageDir, undefined);
  assert.equal(config.metadataUrl, 'postgres://reg:s3cret@db.internal:5432/registry');
  assert.equal(config.metadataSchema, 'registry');
  assert.deepEqual(config.s3, {
    bucket: 'oci-blobs',
    region: 'eu-west-1',
    endpoint: 'http://127.0.0.1:7480',
    prefix: 'registry/',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    redirect: true,
    createBucket: false,
  });
});

test('S3 defaults: AWS_REGION else us-east-1, virtual-host style, SDK credential chain, no redirect', () => {
  const base = { FERRO_OCI_S3_BUCKET: 'b1', FERRO_OCI_STORAGE_DIR: '/var/lib/ferro' };
  assert.deepEqual(serve(parseConfig([], base)).s3, { bucket: 'b1', region: 'us-east-1', forcePathStyle: false, redirect: false, createBucket: false });
  assert.equal(serve(parseConfig([], { ...base, AWS_REGION: 'ap-south-1' })).s3?.region, 'ap-south-1');
  // Empty variables count as unset.
  assert.equal(serve(parseConfig([], { ...base, FERRO_OCI_S3_ACCESS_KEY: '', FERRO_OCI_S3_SECRET_KEY: '' })).s3?.credentials, undefined);
});

test('mixed backends: S3 + SQLite, filesystem + PostgreSQL, S3 + PostgreSQL', () => {
  const s3Sqlite = serve(parseConfig(['--s3-bucket', 'b1', '--storage-dir', '/d'], {}));
  assert.equal(s3Sqlite.storageDir, '/d');
  assert.equal(s3Sqlite.s3?.bucket, 'b1');
  assert.equal(s3Sqlite.metadataUrl, undefined);
  const fsPg = serve(parseConfig(['--metadata-url', 'postgresql://u@h/db', '--storage-dir', '/d'], {}));
  assert.equal(fsPg.metadataUrl, 'postgresql://u@h/db');
  assert.equal(fsPg.s3, undefined);
  const both = serve(parseConfig(['--metadata-url', 'postgres://u@h/db', '--s3-bucket', 'b1', '--s3-force-path-style', 'false', '--s3-redirect', '1'], {}));
  assert.equal(both.s3?.forcePathStyle, false);
  assert.equal(both.s3?.redirect, true);
  assert.equal(both.storageDir, undefined);
});

test('storage flags override the environment', () => {
  const config = serve(
    parseConfig(['--metadata-url', 'postgres://flag@h/db', '--s3-bucket', 'flag-bucket', '--s3-prefix', 'p/'], {
      FERRO_OCI_METADATA_URL: 'postgres://env@h/db',
      FERRO_OCI_S3_BUCKET: 'env-bucket',
      FERRO_OCI_S3_PREFIX: 'e/',
    }),
  );
  assert.equal(config.metadataUrl, 'postgres://flag@h/db');
  assert.equal(config.s3?.bucket, 'flag-bucket');
  assert.equal(config.s3?.prefix, 'p/');
});

test('bad storage settings are errors naming the setting, never echoing a URL that may hold a password', () => {
  rejects([], { FERRO_OCI_METADATA_URL: 'mysql://u:hunter2@h/db', FERRO_OCI_STORAGE_DIR: '/d' }, /^storage\.metadataUrl: unsupported scheme "mysql:".*\(from FERRO_OCI_METADATA_URL\)$/);
  assert.throws(
    () => parseConfig(['--metadata-url', 'not a url hunter2', '--storage-dir', '/d'], {}),
    (err: unknown) => err instanceof ConfigError && /--metadata-url/.test(err.message) && !err.message.includes('hunter2'),
  );
  rejects([], { FERRO_OCI_METADATA_URL: 'postgres://u@h/db' }, /PostgreSQL metadata needs durable blobs/);
  rejects([], { FERRO_OCI_S3_BUCKET: 'b1' }, /S3 blobs need durable metadata/);
  rejects(['--s3-endpoint', 'http://x'], {}, /^storage\.s3\.bucket: is required \(from --s3-endpoint\)$/);
  rejects([], { FERRO_OCI_S3_REDIRECT: 'true' }, /^storage\.s3\.bucket: is required \(from FERRO_OCI_S3_REDIRECT\)$/);
  rejects([], { FERRO_OCI_S3_ACCESS_KEY: 'AK', FERRO_OCI_S3_SECRET_KEY: 'SK' }, /^storage\.s3\.bucket: is required \(from FERRO_OCI_S3_/);
  rejects([], { FERRO_OCI_S3_BUCKET: 'b1', FERRO_OCI_STORAGE_DIR: '/d', FERRO_OCI_S3_ACCESS_KEY: 'AK' }, /both .*FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY/);
  rejects(['--s3-bucket', 'b1', '--storage-dir', '/d', '--s3-force-path-style', 'maybe'], {}, /^storage\.s3\.forcePathStyle: must be true or false \(from --s3-force-path-style\)$/);
  rejects(['--s3-bucket', 'b1', '--storage-dir', '/d', '--s3-endpoint', 'ftp://x'], {}, /^storage\.s3\.endpoint: must be an http:\/\/ or https:\/\/ URL \(from --s3-endpoint\)$/);
  rejects(['--s3-bucket', 'no/slash', '--storage-dir', '/d'], {}, /^storage\.s3\.bucket: must be a bucket name \(from --s3-bucket\)$/);
  rejects(['--metadata-schema', 'registry', '--storage-dir', '/d'], {}, /^storage\.metadataSchema: needs storage\.metadataUrl .*\(from --metadata-schema\)$/);
  // Secrets are not flags.
  rejects(['--s3-secret-key', 'x'], {}, /s3-secret-key/);
});

test('redactUrl hides the password and the query', () => {
  assert.equal(redactUrl('postgres://reg:s3cret@db:5432/registry?sslpassword=x'), 'postgres://reg:***@db:5432/registry');
  assert.equal(redactUrl('postgres://reg@db/registry'), 'postgres://reg@db/registry');
  assert.ok(!redactUrl('garbage s3cret').includes('s3cret'));
});

test('--help lists the storage backends', () => {
  const command = parseConfig(['--help'], {});
  assert.equal(command.kind, 'help');
  if (command.kind !== 'help') return;
  for (const text of ['--metadata-url', 'FERRO_OCI_METADATA_URL', '--metadata-schema', '--s3-bucket', 'FERRO_OCI_S3_BUCKET', '--s3-endpoint', 'FERRO_OCI_S3_ENDPOINT', '--s3-region', 'FERRO_OCI_S3_REGION', '--s3-prefix', 'FERRO_OCI_S3_PREFIX', '--s3-force-path-style', 'FERRO_OCI_S3_FORCE_PATH_STYLE', '--s3-redirect', 'FERRO_OCI_S3_REDIRECT', 'FERRO_OCI_S3_ACCESS_KEY', 'FERRO_OCI_S3_SECRET_KEY']) {
    assert.ok(command.usage.includes(text), `usage mentions ${text}`);
  }
});

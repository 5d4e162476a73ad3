import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, parseListen, type Command, type ServerConfig } from '../../src/server/config.js';

function serve(command: Command): ServerConfig {
  assert.equal(command.kind, 'serve');
  return command.config;
}

function rejects(argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(argv, env),
    (err: unknown) => err instanceof ConfigError && err.exitCode === 2 && pattern.test(err.message),
  );
}

test('defaults', () => {
  assert.deepEqual(serve(parseConfig([], {})), {
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
  const config = serve(
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
  const config = serve(parseConfig(argv, env));
  assert.deepEqual(config, { host: '::1', port: 6000, storageDir: '/flag', logLevel: 'trace', shutdownTimeoutMs: 0, idleTimeoutMs: 120_000, headersTimeoutMs: 5000 });
  assert.equal(serve(parseConfig(['--storage-dir='], env)).storageDir, undefined, 'an explicit empty flag selects memory');
});

test('listen address forms', () => {
  assert.deepEqual(parseListen('example.com:80', 'x'), { host: 'example.com', port: 80 });
  assert.deepEqual(parseListen(':9000', 'x'), { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(parseListen('9001', 'x'), { host: '0.0.0.0', port: 9001 });
  assert.deepEqual(parseListen('[::]:0', 'x'), { host: '::', port: 0 });
  assert.deepEqual(parseListen('localhost:65535', 'x'), { host: 'localhost', port: 65535 });
});

test('bad listen addresses and ports name their source', () => {
  rejects(['--listen', '127.0.0.1:65536'], {}, /--listen.*0 to 65535/);
  rejects(['--listen', '127.0.0.1:http'], {}, /--listen/);
  rejects(['--listen', '127.0.0.1:'], {}, /--listen/);
  rejects(['--listen', '127.0.0.1:-1'], {}, /--listen/);
  rejects([], { FERRO_OCI_LISTEN: 'localhost' }, /FERRO_OCI_LISTEN/);
  rejects([], { FERRO_OCI_LISTEN: '::1:80' }, /brackets/);
  rejects([], { FERRO_OCI_LISTEN: '[not-v6]:80' }, /IPv6/);
  rejects([], { FERRO_OCI_LISTEN: '[::1]80' }, /FERRO_OCI_LISTEN/);
});

test('bad log level and shutdown timeout', () => {
  rejects(['--log-level', 'loud'], {}, /--log-level.*fatal, error, warn, info, debug, trace, silent/);
  rejects([], { FERRO_OCI_SHUTDOWN_TIMEOUT: '-1' }, /FERRO_OCI_SHUTDOWN_TIMEOUT/);
  rejects([], { FERRO_OCI_SHUTDOWN_TIMEOUT: '10s' }, /FERRO_OCI_SHUTDOWN_TIMEOUT/);
  rejects(['--shutdown-timeout', 'NaN'], {}, /--shutdown-timeout/);
  rejects([], { FERRO_OCI_IDLE_TIMEOUT: '1m' }, /FERRO_OCI_IDLE_TIMEOUT/);
  rejects(['--headers-timeout', '-5'], {}, /--headers-timeout/);
});

test('the check subcommand takes a storage directory from its flag or the environment', () => {
  assert.deepEqual(parseConfig(['check', '--storage-dir', '/flag'], { FERRO_OCI_STORAGE_DIR: '/env' }), { kind: 'check', storageDir: '/flag' });
  assert.deepEqual(parseConfig(['check'], { FERRO_OCI_STORAGE_DIR: '/env' }), { kind: 'check', storageDir: '/env' });
  rejects(['check'], {}, /storage directory/);
  rejects(['check', '--storage-dir='], {}, /storage directory/);
  rejects(['check', '--listen', ':80', '--storage-dir', '/x'], {}, /listen/);
  assert.equal(parseConfig(['check', '--help'], {}).kind, 'help');
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

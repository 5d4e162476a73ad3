/** The tracing settings: off by default, the file's endpoint over the OTEL_EXPORTER_OTLP_* variables, and mistakes named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type ServerConfig } from '../../src/server/config.js';

/** The server configuration of a configuration file holding `text` (and no auth warning), with `env`. */
function configOf(text: string | undefined, env: NodeJS.ProcessEnv = {}): ServerConfig {
  const fileEnv = text === undefined ? {} : { FERRO_OCI_CONFIG: '/etc/ferro/config.yaml' };
  const command = parseConfig([], { ...fileEnv, ...env }, () => `auth: { mode: none }\n${text ?? ''}`);
  assert.equal(command.kind, 'serve');
  return command.config;
}

test('tracing is off without an endpoint, whatever else is set', () => {
  assert.equal(configOf(undefined).tracing, undefined);
  assert.equal(configOf('').tracing, undefined);
  const config = configOf('tracing: { serviceName: reg }');
  assert.equal(config.tracing, undefined);
  assert.ok(config.warnings.some((w) => w.includes('tracing section names no endpoint')), config.warnings.join('\n'));
});

test("the file's endpoint, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces", () => {
  assert.deepEqual(configOf('tracing: { endpoint: "http://c:4318/v1/traces" }').tracing, { endpoint: 'http://c:4318/v1/traces', serviceName: 'ferro-oci-server', sampleRatio: 1 });
  const both = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318/' };
  assert.equal(configOf('tracing: { endpoint: "https://file/v1/traces", sampleRatio: 0.25 }', both).tracing?.endpoint, 'https://file/v1/traces');
  assert.equal(configOf(undefined, both).tracing?.endpoint, 'http://t:4318/custom');
  assert.equal(configOf(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318/' }).tracing?.endpoint, 'http://b:4318/v1/traces');
  assert.deepEqual(configOf('tracing: { serviceName: reg, sampleRatio: 0.5 }', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318' }).tracing, { endpoint: 'http://b:4318/v1/traces', serviceName: 'reg', sampleRatio: 0.5 });
  assert.equal(configOf('tracing: { endpoint: "http://c:4318/v1/traces" }', { OTEL_SDK_DISABLED: 'true' }).tracing, undefined);
});

test('a bad endpoint, ratio or key stops the start naming it', () => {
  const refused = (text: string | undefined, env: NodeJS.ProcessEnv, pattern: RegExp) =>
    assert.throws(() => configOf(text, env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), `${text} ${JSON.stringify(env)}`);
  refused('tracing: { endpoint: "collector:4318" }', {}, /^tracing\.endpoint: .*config\.yaml/);
  refused('tracing: { endpoint: "http://c/v1/traces", sampleRatio: 2 }', {}, /^tracing\.sampleRatio: /);
  refused('tracing: { endpoint: "http://c/v1/traces", headers: {} }', {}, /^tracing\.headers: unknown setting/);
  refused(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }, /^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http or https URL/);
});

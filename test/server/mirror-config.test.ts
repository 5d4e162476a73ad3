/** The configuration file's `mirrors` section: defaults, and errors that name the key. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/server/config.js';
import { UPSTREAM_DEFAULTS } from '../../src/services/mirror/settings.js';

/** The mirrors of a configuration file holding `yaml` at `path`, through the configuration module. */
function parse(yaml: string, path = '/etc/ferro/config.yaml') {
  const command = parseConfig(['--config', path], {}, () => yaml);
  assert.equal(command.kind, 'serve');
  return command.config.mirrors;
}

describe('mirrors configuration', () => {
  it('takes the namespace from the URL host and hosts from the namespace, with the default timings', () => {
    const [u] = parse('mirrors:\n  - { name: hub, url: "https://registry-1.docker.io/", default: true }\n')!;
    assert.deepEqual(u, { name: 'hub', url: 'https://registry-1.docker.io', namespace: 'registry-1.docker.io', hosts: ['registry-1.docker.io'], default: true, ...UPSTREAM_DEFAULTS });
  });

  it('reads seconds, credentials and a password file relative to the configuration file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-mirror-config-'));
    try {
      await writeFile(join(dir, 'pw'), 's3cret\n');
      const yaml = 'mirrors:\n  - { name: ghcr, url: "https://ghcr.io", username: bot, passwordFile: pw, tagTtlSeconds: 60, staleSeconds: 0, timeoutSeconds: 2.5 }\n';
      const [u] = parse(yaml, join(dir, 'config.yaml'))!;
      assert.deepEqual(u!.credentials, { username: 'bot', password: 's3cret' });
      assert.equal(u!.namespace, 'ghcr.io');
      assert.equal(u!.tagTtlMs, 60_000);
      assert.equal(u!.staleMs, 0);
      assert.equal(u!.timeoutMs, 2500);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the eviction settings: evictAfterSeconds, and maxBytes as a number or a size string', () => {
    const [a, b, c] = parse('mirrors:\n  - { name: a, url: "http://a.test", evictAfterSeconds: 3600, maxBytes: 1000 }\n  - { name: b, url: "http://b.test", maxBytes: 50GiB }\n  - { name: c, url: "http://c.test" }\n')!;
    assert.equal(a!.evictAfterMs, 3_600_000);
    assert.equal(a!.maxBytes, 1000);
    assert.equal(b!.maxBytes, 50 * 1024 ** 3);
    assert.equal(c!.evictAfterMs, 7 * 86_400_000);
    assert.equal(c!.maxBytes, undefined, 'no cap by default');
  });

  const errors: Array<[string, string, RegExp]> = [
    ['a byte cap that is no size', 'mirrors:\n  - { name: a, url: "http://x.test", maxBytes: lots }\n', /mirrors\[0\]\.maxBytes: must be a byte count/],
    ['a negative eviction time', 'mirrors:\n  - { name: a, url: "http://x.test", evictAfterSeconds: -1 }\n', /mirrors\[0\]\.evictAfterSeconds: must be a number/],
    ['an unknown key, named', 'mirrors:\n  - { name: a, url: "http://x.test", ttl: 5 }\n', /mirrors\[0\]\.ttl: unknown setting/],
    ['a missing url', 'mirrors:\n  - { name: a }\n', /mirrors\[0\]\.url: is required/],
    ['a URL with credentials', 'mirrors:\n  - { name: a, url: "http://u:p@x.test" }\n', /mirrors\[0\]\.url: must not carry credentials/],
    ['a host that is no name component', 'mirrors:\n  - { name: a, url: "http://[::1]:5000" }\n', /mirrors\[0\]\.namespace: is required/],
    ['a namespace with a slash', 'mirrors:\n  - { name: a, url: "http://x.test", namespace: a/b }\n', /mirrors\[0\]\.namespace: must be one repository-name component/],
    ['a username without password', 'mirrors:\n  - { name: a, url: "http://x.test", username: u }\n', /username and password/],
    ['a negative TTL', 'mirrors:\n  - { name: a, url: "http://x.test", tagTtlSeconds: -1 }\n', /mirrors\[0\]\.tagTtlSeconds: must be a number/],
    ['two defaults', 'mirrors:\n  - { name: a, url: "http://a.test", default: true }\n  - { name: b, url: "http://b.test", default: true }\n', /only one upstream can be the default/],
    ['one namespace twice', 'mirrors:\n  - { name: a, url: "http://a.test", namespace: n }\n  - { name: b, url: "http://b.test", namespace: n }\n', /two upstreams use namespace n/],
    ['not a list', 'mirrors: { name: a }\n', /mirrors: must be a list/],
  ];
  for (const [what, yaml, message] of errors) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parse(yaml), (err: Error) => err instanceof ConfigError && message.test(err.message) && err.message.includes('/etc/ferro/config.yaml'));
    });
  }
});

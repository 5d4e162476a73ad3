/** Loading auth from configuration: the key file, htpasswd files and their costs, config validation. Timing of unknown users: timing.test.ts. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { ConfigError, parseAuthConfig, parseConfigFile } from '../../src/server/config.js';
import { HtpasswdError, parseHtpasswd, UserStore } from '../../src/auth/htpasswd.js';
import { loadAuth } from '../../src/auth/load.js';
import { loadOrCreateSigningKey } from '../../src/auth/keys.js';
import { basic, bearer, call, htpasswdText, startWithPlugin } from './helpers.js';

describe('auth setup', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-setup-'));
    await writeFile(join(dir, 'htpasswd'), htpasswdText());
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const tokenConfig = (keyFile: string) =>
    parseAuthConfig(
      { mode: 'token', htpasswd: 'htpasswd', token: { service: 'reg.local', keyFile }, rules: [{ repositories: ['team-a/**'], users: ['alice'], actions: ['pull', 'push'] }] },
      dir,
    );

  it('the signing key is generated on first start with mode 0600 and reused on restart: tokens survive it', async () => {
    const keyFile = join(dir, 'keys', 'token.pem');
    const first = await loadAuth(tokenConfig('keys/token.pem'));
    assert.ok(first.notices.some((n) => n.msg === 'token signing key generated'));
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'keys'))).mode & 0o077, 0, 'the key directory is private too');
    const pem = await readFile(keyFile, 'utf8');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    let reg = await startWithPlugin(first.plugin);
    const res = await call(reg, 'GET', '/token?service=reg.local&scope=repository:team-a/app:pull', { authorization: basic('alice') });
    const token = (res.json() as { token: string }).token;
    assert.equal((await call(reg, 'GET', '/v2/', { authorization: bearer(token) })).status, 200);
    await reg.close();

    const second = await loadAuth(tokenConfig('keys/token.pem'));
    assert.ok(!second.notices.some((n) => n.msg === 'token signing key generated'));
    assert.equal(await readFile(keyFile, 'utf8'), pem, 'the key file is not rewritten');
    reg = await startWithPlugin(second.plugin);
    try {
      assert.equal((await call(reg, 'GET', '/v2/', { authorization: bearer(token) })).status, 200, 'a token from before the restart');
    } finally {
      await reg.close();
    }
  });

  it('refresh tokens survive a restart, but not a password change', async () => {
    const keyFile = 'refresh-key.pem';
    const refreshOf = async (url: string, user: string) => {
      const res = await call({ url }, 'GET', '/token?offline_token=true', { authorization: basic(user) });
      return (res.json() as { refresh_token: string }).refresh_token;
    };
    const exchange = (url: string, refresh: string) =>
      call({ url }, 'POST', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh }).toString());
    let reg = await startWithPlugin((await loadAuth(tokenConfig(keyFile))).plugin);
    const alice = await refreshOf(reg.url, 'alice');
    const bob = await refreshOf(reg.url, 'bob');
    await reg.close();
    // alice's line changes; bob's stays byte for byte
    const lines = (await readFile(join(dir, 'htpasswd'), 'utf8')).split('\n');
    const changed = lines.map((l) => (l.startsWith('alice:') ? htpasswdText({ alice: 'a-new-password' }) : l)).join('\n');
    await writeFile(join(dir, 'htpasswd'), changed);
    reg = await startWithPlugin((await loadAuth(tokenConfig(keyFile))).plugin);
    try {
      assert.equal((await exchange(reg.url, bob)).status, 200);
      assert.equal((await exchange(reg.url, alice)).status, 401);
    } finally {
      await reg.close();
      await writeFile(join(dir, 'htpasswd'), htpasswdText());
    }
  });

  it('a key file readable by others is used with a warning; a bad key file is a clear error', async () => {
    const loose = join(dir, 'loose.pem');
    await loadOrCreateSigningKey(loose);
    await chmod(loose, 0o644);
    assert.ok((await loadAuth(tokenConfig('loose.pem'))).notices.some((n) => n.level === 'warn' && /chmod 600/.test(n.msg)));
    await writeFile(join(dir, 'junk.pem'), 'not a key');
    await assert.rejects(loadAuth(tokenConfig('junk.pem')), /token key file .*junk\.pem is not a PEM private key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(join(dir, 'rsa.pem'), rsa);
    await assert.rejects(loadAuth(tokenConfig('rsa.pem')), /must hold an EC P-256 private key/);
  });

  it('htpasswd: bcrypt $2y$/$2a$/$2b$ accepted; other hash types refused naming the line and user', async () => {
    const users = parseHtpasswd(`# comment\n\n${htpasswdText({ a: 'x', b: 'y', c: 'z' })}\n`);
    assert.deepEqual([...users.keys()], ['a', 'b', 'c']);
    assert.deepEqual([...users.values()].map((h) => h.slice(0, 4)), ['$2y$', '$2a$', '$2b$']);
    const store = new UserStore(users);
    assert.equal(await store.verify('a', 'x'), true);
    assert.equal(await store.verify('b', 'y'), true);
    assert.equal(await store.verify('a', 'y'), false);
    assert.equal(await store.verify('nobody', 'x'), false);
    const bad: Array<[string, RegExp]> = [
      ['alice:$apr1$abc$def', /line 1: user "alice" has an MD5 \(\$apr1\$\) password hash; only bcrypt .* htpasswd -B/],
      ['bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /user "bob" has a SHA-1 \(\{SHA\}\)/],
      ['# x\ncarol:plaintext', /line 2: user "carol" has a crypt or plain-text/],
      ['dave:$6$salt$hash', /an unsupported password hash/],
      ['no-colon', /expected user:hash/],
      [`e:${bcrypt.hashSync('x', 4)}\ne:${bcrypt.hashSync('y', 4)}`, /appears twice/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseHtpasswd(text, 'users.htpasswd'), (err: unknown) => err instanceof HtpasswdError && re.test(err.message), text);
    await writeFile(join(dir, 'md5.htpasswd'), 'alice:$apr1$abc$def\n');
    await assert.rejects(
      loadAuth(parseAuthConfig({ mode: 'basic', htpasswd: 'md5.htpasswd' }, dir)),
      /md5\.htpasswd line 1: user "alice" has an MD5/,
    );
  });

  it('mixed or weak bcrypt costs in the htpasswd file are warned about at startup', async () => {
    await writeFile(join(dir, 'mixed.htpasswd'), `a:${bcrypt.hashSync('a', 5)}\nb:${bcrypt.hashSync('b', 10)}\n`);
    const mixed = await loadAuth(parseAuthConfig({ mode: 'basic', htpasswd: 'mixed.htpasswd' }, dir));
    const warnings = mixed.notices.filter((n) => n.level === 'warn').map((n) => n.msg);
    assert.ok(warnings.some((m) => /mixes bcrypt costs 5, 10/.test(m)), warnings.join('; '));
    assert.ok(warnings.some((m) => /bcrypt cost 5 is weak/.test(m)), warnings.join('; '));
    await writeFile(join(dir, 'even.htpasswd'), `a:${bcrypt.hashSync('a', 10)}\nb:${bcrypt.hashSync('b', 10)}\n`);
    const even = await loadAuth(parseAuthConfig({ mode: 'basic', htpasswd: 'even.htpasswd' }, dir));
    assert.deepEqual(even.notices.filter((n) => n.level === 'warn'), []);
  });

  it('configuration: YAML or JSON; errors name the setting', () => {
    const yaml = parseConfigFile(
      'auth:\n  mode: basic\n  htpasswd: ./users\n  rules:\n    - repositories: ["public/**"]\n      anonymousPull: true\n',
      '/etc/ferro/config.yaml',
    );
    assert.equal(yaml.auth?.htpasswd, '/etc/ferro/users');
    assert.deepEqual(yaml.auth?.policy.rules, [{ repositories: ['public/**'], anonymousPull: true }]);
    const json = parseConfigFile(JSON.stringify({ auth: { mode: 'none' } }), '/x/c.json');
    assert.equal(json.auth?.mode, 'none');
    assert.deepEqual(parseConfigFile('', '/x/empty.yaml'), {});
    const bad: Array<[string, RegExp]> = [
      ['listen: 1', /configuration\.listen: unknown setting/],
      ['auth:\n  mode: ldap', /auth\.mode: must be one of none, basic, token/],
      ['auth:\n  mode: basic', /auth\.htpasswd: is required in basic mode/],
      ['auth:\n  mode: token\n  htpasswd: h\n  token: {keyFile: k}', /auth\.token\.service: is required/],
      ['auth:\n  mode: token\n  htpasswd: h\n  token: {service: s}', /auth\.token\.keyFile: is required/],
      ['auth:\n  mode: token\n  token: {service: s, external: {jwksUrl: "http://x"}}', /auth\.token\.realm: is required with an external issuer/],
      ['auth:\n  mode: token\n  token: {service: s, realm: r, external: {jwksUrl: "http://x", publicKeyFile: p}}', /exactly one of/],
      ['auth:\n  mode: token\n  htpasswd: h\n  token: {service: "a\\"b", keyFile: k}', /auth\.token\.service: must be printable ASCII/],
      ['auth:\n  rules:\n    - repositories: ["team/(.*)"]\n      users: [a]\n      actions: [pull]', /auth\.rules\[0\]\.repositories: invalid repository pattern/],
      ['auth:\n  rules:\n    - repositories: ["a/**"]\n      users: [a]\n      actions: [pull, admin]', /auth\.rules\[0\]\.actions\[1\]: must be one of pull, push, delete/],
      ['auth:\n  rules:\n    - repositories: ["a/**"]', /grants nothing/],
      ['auth:\n  rules:\n    - repositories: ["a/**"]\n      users: [a]', /actions: must be given/],
      ['auth:\n  rules:\n    - repositories: ["a/**"]\n      user: [a]', /auth\.rules\[0\]\.user: unknown setting/],
      ['auth:\n  throttle: {maxFailures: 0}', /auth\.throttle\.maxFailures: must be an integer/],
      ['auth: [1, 2]', /auth: must be a mapping/],
      ['auth:\n  mode: basic\n  mode: token', /not valid YAML or JSON/],
      ['{"auth": ', /not valid YAML or JSON/],
    ];
    for (const [text, re] of bad) {
      assert.throws(() => parseConfigFile(text, '/x/config.yaml'), (err: unknown) => err instanceof ConfigError && re.test(err.message) && err.message.includes('/x/config.yaml'), text);
    }
  });
});

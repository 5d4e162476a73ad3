/** The server binary with a configuration file (--config / FERRO_OCI_CONFIG): token and basic auth, and startup errors. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnServer, startServer } from '../../support/server-process.js';
import { basic, bearer, call, htpasswdText, USERS } from './helpers.js';

describe('server binary with a configuration file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-bin-auth-'));
    await writeFile(join(dir, 'htpasswd'), htpasswdText());
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('token mode from --config: challenge, token endpoint, key generated 0600, no secrets in the logs', async (t) => {
    await writeFile(
      join(dir, 'token.yaml'),
      [
        'auth:',
        '  mode: token',
        '  htpasswd: htpasswd',
        '  token: { service: ferro.test, issuer: ferro, keyFile: keys/token.pem, expiresIn: 60 }',
        '  rules:',
        '    - { repositories: ["team-a/**"], users: [alice], actions: [pull, push] }',
      ].join('\n'),
    );
    const server = await startServer({ args: ['--config', join(dir, 'token.yaml')] });
    t.after(() => server.stop());
    assert.equal((await stat(join(dir, 'keys', 'token.pem'))).mode & 0o777, 0o600);
    const challenge = await call(server, 'GET', '/v2/');
    assert.equal(challenge.status, 401);
    assert.equal(challenge.headers['www-authenticate'], `Bearer realm="${server.url}/token",service="ferro.test"`);
    const res = await call(server, 'GET', '/token?service=ferro.test&scope=repository:team-a/app:pull,push', { authorization: basic('alice') });
    assert.equal(res.status, 200, res.body.toString());
    const token = (res.json() as { token: string }).token;
    assert.equal((await call(server, 'GET', '/v2/', { authorization: bearer(token) })).status, 200);
    assert.equal((await call(server, 'POST', '/v2/team-a/app/blobs/uploads/', { authorization: bearer(token) })).status, 202);
    assert.equal((await call(server, 'GET', '/v2/team-b/app/tags/list', { authorization: bearer(token) })).status, 401);
    assert.equal((await call(server, 'GET', '/live')).status, 200, 'operational endpoints stay open');
    await call(server, 'GET', '/token', { authorization: basic('bob', 'typo-secret') });
    const logs = server.logs.join('\n');
    for (const secret of [USERS.alice!, token, 'typo-secret', basic('alice').slice(6)]) assert.ok(!logs.includes(secret), `secret in logs: ${secret.slice(0, 10)}`);
    assert.ok(server.jsonLogs().some((l) => l.msg === 'token signing key generated'));
    assert.ok(server.jsonLogs().some((l) => l.msg === 'configuration file read' && l.auth === 'token'));
  });

  it('basic mode from FERRO_OCI_CONFIG (JSON)', async (t) => {
    await writeFile(
      join(dir, 'basic.json'),
      JSON.stringify({ auth: { mode: 'basic', realm: 'ferro', htpasswd: join(dir, 'htpasswd'), rules: [{ repositories: ['public/**'], anonymousPull: true }] } }),
    );
    const server = await startServer({ env: { FERRO_OCI_CONFIG: join(dir, 'basic.json') } });
    t.after(() => server.stop());
    const res = await call(server, 'GET', '/v2/');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Basic realm="ferro", charset="UTF-8"');
    assert.equal((await call(server, 'GET', '/v2/', { authorization: basic('alice') })).status, 200);
    assert.equal((await call(server, 'GET', '/v2/public/x/tags/list')).status, 404, 'anonymous pull reaches the registry');
    assert.equal((await call(server, 'GET', '/token')).status, 401, 'no route: unmatched paths need a login');
    assert.equal((await call(server, 'GET', '/token', { authorization: basic('alice') })).status, 404, 'no token endpoint in basic mode');
  });

  it('bad configuration is exit code 2 with a message naming the problem', async () => {
    await writeFile(join(dir, 'md5.htpasswd'), 'alice:$apr1$3J1x1lq0$abcdefghijklmnopqrstu.\n');
    const cases: Array<[string, RegExp]> = [
      ['auth:\n  mode: basic\n  htpasswd: md5.htpasswd\n', /md5\.htpasswd line 1: user "alice" has an MD5 \(\$apr1\$\) password hash; only bcrypt/],
      ['auth:\n  mode: basic\n  htpasswd: absent\n', /cannot read htpasswd file .*absent/],
      ['auth:\n  mode: basic\n  htpassword: x\n', /auth\.htpassword: unknown setting/],
      ['auth:\n  mode: token\n  htpasswd: htpasswd\n  token: { service: s, keyFile: htpasswd }\n', /token key file .*htpasswd is not a PEM private key/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const file = join(dir, `bad${i}.yaml`);
      await writeFile(file, text);
      const server = spawnServer({ args: ['--config', file] });
      const status = await server.exited;
      assert.equal(status.code, 2, server.logs.join('\n'));
      assert.match(server.logs.join('\n'), re);
    }
    const missing = spawnServer({ args: ['--config', join(dir, 'nope.yaml')] });
    assert.equal((await missing.exited).code, 2);
    assert.match(missing.logs.join('\n'), /cannot read configuration file .*nope\.yaml/);
  });
});

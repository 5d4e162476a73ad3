/** An external token issuer, trusted through its public key (PEM file) or its JWKS (served here by a local HTTP server). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK } from 'jose';
import { parseAuthConfig } from '../../src/server/config.js';
import { loadAuth } from '../../src/auth/load.js';
import { bearer, call, expectError, signToken, startWithPlugin } from './helpers.js';

const access = (name: string, ...actions: string[]) => ({ sub: 'ci-bot', access: [{ type: 'repository', name, actions }] });
const EXTERNAL = { issuer: 'https://auth.example.com', service: 'registry.example.com' };

describe('external issuer', () => {
  let dir: string;
  let jwksServer: Server;
  let jwksUrl: string;
  let jwksHits = 0;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-ext-'));
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    jwksServer = createServer((req, res) => {
      jwksHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const address = jwksServer.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    jwksUrl = `http://127.0.0.1:${address.port}/.well-known/jwks.json`;
  });
  after(async () => {
    await new Promise((r) => jwksServer.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (external: Record<string, string>) => {
    const config = parseAuthConfig(
      { mode: 'token', token: { ...EXTERNAL, realm: 'https://auth.example.com/token', external }, rules: [{ repositories: ['ci/**'], users: ['ci-bot'], actions: ['pull'] }] },
      dir,
    );
    const { plugin } = await loadAuth(config);
    return startWithPlugin(plugin);
  };
  const sign = (key: KeyObject, claims: Record<string, unknown>, options: { alg?: string; kid?: string; iss?: string; aud?: string } = {}) =>
    signToken(key, claims, { iss: EXTERNAL.issuer, aud: EXTERNAL.service, ...options });

  it('public key PEM: its tokens are accepted for what they grant; others are refused; no token endpoint here', async () => {
    await writeFile(join(dir, 'issuer.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
    const reg = await start({ publicKeyFile: 'issuer.pem' });
    try {
      const challenge = await call(reg, 'GET', '/v2/ci/app/tags/list');
      expectError(challenge, 401, 'UNAUTHORIZED');
      assert.equal(challenge.headers['www-authenticate'], 'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:ci/app:pull"');
      const good = await sign(ec.privateKey, access('ci/app', 'pull', 'push'));
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(good) }), 404, 'NAME_UNKNOWN');
      assert.equal((await call(reg, 'POST', '/v2/ci/app/blobs/uploads/', { authorization: bearer(good) })).status, 202);
      assert.equal((await call(reg, 'GET', '/v2/', { authorization: bearer(good) })).status, 200);
      expectError(await call(reg, 'GET', '/v2/ci/other/tags/list', { authorization: bearer(good) }), 401, 'UNAUTHORIZED');
      for (const [what, token] of [
        ['another key', await sign(other.privateKey, access('ci/app', 'pull'))],
        ['wrong issuer', await sign(ec.privateKey, access('ci/app', 'pull'), { iss: 'https://evil.example.com' })],
        ['wrong audience', await sign(ec.privateKey, access('ci/app', 'pull'), { aud: 'registry.test' })],
      ] as const) {
        expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(token) }), 401, 'UNAUTHORIZED', what);
      }
      // no route here: refused to anonymous callers (unmatched paths fail closed), 404 with a valid token
      assert.equal((await call(reg, 'GET', '/token')).status, 401);
      assert.equal((await call(reg, 'GET', '/token', { authorization: bearer(good) })).status, 404);
    } finally {
      await reg.close();
    }
  });

  it('an X.509 certificate PEM (as docker distribution\'s rootcertbundle) works too', async (t) => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'cert-key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=issuer', '-days', '1']);
    if (made.error || made.status !== 0) {
      t.skip('openssl is not available');
      return;
    }
    const reg = await start({ publicKeyFile: 'cert.pem' });
    try {
      const token = await sign(createPrivateKey(await readFile(key)), access('ci/app', 'pull'));
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(token) }), 404, 'NAME_UNKNOWN');
    } finally {
      await reg.close();
    }
  });

  it('a PEM that is no usable key, or a missing file, is a clear startup error', async () => {
    await writeFile(join(dir, 'junk.pem'), '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n');
    const config = parseAuthConfig({ mode: 'token', token: { ...EXTERNAL, realm: 'https://a/token', external: { publicKeyFile: 'junk.pem' } } }, dir);
    await assert.rejects(loadAuth(config), /junk\.pem is not a usable public key/);
    const missing = parseAuthConfig({ mode: 'token', token: { ...EXTERNAL, realm: 'https://a/token', external: { publicKeyFile: 'absent.pem' } } }, dir);
    await assert.rejects(loadAuth(missing), /cannot read token issuer public key .*absent\.pem/);
  });

  it('JWKS URL: tokens signed with a published key (by kid) are accepted; unknown kid, other keys refused', async () => {
    const reg = await start({ jwksUrl });
    try {
      const good = await sign(rsa.privateKey, access('ci/app', 'pull'), { alg: 'RS256', kid: 'rsa-1' });
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(good) }), 404, 'NAME_UNKNOWN');
      assert.ok(jwksHits >= 1);
      const unknownKid = await sign(rsa.privateKey, access('ci/app', 'pull'), { alg: 'RS256', kid: 'rsa-2' });
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(unknownKid) }), 401, 'UNAUTHORIZED', 'unknown kid');
      const otherKey = await sign(other.privateKey, access('ci/app', 'pull'), { kid: 'rsa-1' });
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(otherKey) }), 401, 'UNAUTHORIZED', 'other key');
      const wrongRepo = await sign(rsa.privateKey, access('ci/other', 'pull'), { alg: 'RS256', kid: 'rsa-1' });
      expectError(await call(reg, 'GET', '/v2/ci/app/tags/list', { authorization: bearer(wrongRepo) }), 401, 'UNAUTHORIZED', 'other repo');
    } finally {
      await reg.close();
    }
  });
});

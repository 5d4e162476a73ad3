/** Hostile and misused tokens at /v2: each is refused with 401 and the right challenge error. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bearer, call, claimsOf, expectError, ISSUER, pushImage, SERVICE, signToken, startAuthRegistry, tokenFor, type AuthRegistry } from './helpers.js';

const REPO = 'team-a/app';
const access = (name: string, ...actions: string[]) => ({ access: [{ type: 'repository', name, actions }], sub: 'alice' });

describe('tokens at /v2', () => {
  let reg: AuthRegistry;
  let manifest: string;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'token' });
    const admin = await tokenFor(reg, 'admin', `repository:${REPO}:*`, 'repository:team-b/lib:*');
    await pushImage(reg, REPO, 'v1', bearer(admin));
    await pushImage(reg, 'team-b/lib', 'v1', bearer(admin));
    manifest = `/v2/${REPO}/manifests/v1`;
  });
  after(() => reg.close());

  const refused = async (token: string, what: string, path = manifest, method = 'GET') => {
    const res = await call(reg, method, path, { authorization: bearer(token) });
    expectError(res, 401, 'UNAUTHORIZED', what);
    return String(res.headers['www-authenticate']);
  };

  it('a token signed by the registry key with pull on the repository is accepted', async () => {
    assert.equal((await call(reg, 'GET', manifest, { authorization: bearer(await signToken(reg.privateKey, access(REPO, 'pull'))) })).status, 200);
    const issued = await tokenFor(reg, 'alice', `repository:${REPO}:pull`);
    assert.equal((await call(reg, 'GET', manifest, { authorization: bearer(issued) })).status, 200);
  });

  it('expired (beyond the 30 s leeway), not yet valid, or without exp: refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.match(await refused(await signToken(reg.privateKey, access(REPO, 'pull'), { exp: now - 120 }), 'expired'), /error="invalid_token"/);
    // within the leeway it is still accepted
    const recent = await signToken(reg.privateKey, access(REPO, 'pull'), { exp: now - 5 });
    assert.equal((await call(reg, 'GET', manifest, { authorization: bearer(recent) })).status, 200);
    const { SignJWT } = await import('jose');
    const noExp = await new SignJWT(access(REPO, 'pull')).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience(SERVICE).sign(reg.privateKey);
    await refused(noExp, 'no exp');
    const future = await new SignJWT(access(REPO, 'pull')).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience(SERVICE).setNotBefore(now + 600).setExpirationTime(now + 900).sign(reg.privateKey);
    await refused(future, 'nbf in the future');
  });

  it('tampered: a changed payload or signature is refused', async () => {
    const token = await signToken(reg.privateKey, access(REPO, 'pull'));
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = { ...claimsOf(token), access: [{ type: 'repository', name: REPO, actions: ['pull', 'push', 'delete'] }] };
    await refused(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, 'payload changed');
    const sig = Buffer.from(s, 'base64url');
    sig[10] = sig[10]! ^ 0x01;
    await refused(`${h}.${p}.${sig.toString('base64url')}`, 'signature changed');
    await refused(`${h}.${p}.`, 'signature removed');
  });

  it('wrong audience, wrong issuer, another key: refused', async () => {
    await refused(await signToken(reg.privateKey, access(REPO, 'pull'), { aud: 'other.service' }), 'audience');
    await refused(await signToken(reg.privateKey, access(REPO, 'pull'), { iss: 'someone-else' }), 'issuer');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await refused(await signToken(other, access(REPO, 'pull')), 'other key');
  });

  it('alg none and HMAC with the public key (algorithm confusion): refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const body = Buffer.from(JSON.stringify({ ...access(REPO, 'pull'), iss: ISSUER, aud: SERVICE, exp: now + 60 })).toString('base64url');
    await refused(`${header}.${body}.`, 'alg none');
    await refused(`${header}.${body}`, 'alg none, two parts');
    const { createHmac, createPublicKey } = await import('node:crypto');
    const spki = createPublicKey(reg.privateKey).export({ type: 'spki', format: 'pem' });
    const hsHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const mac = createHmac('sha256', spki).update(`${hsHeader}.${body}`).digest('base64url');
    await refused(`${hsHeader}.${body}.${mac}`, 'HS256 with the public key');
  });

  it('a token for repository A used on B: 401 insufficient_scope naming B', async () => {
    const token = await tokenFor(reg, 'admin', `repository:team-b/lib:pull`);
    const challenge = await refused(token, 'A on B');
    assert.match(challenge, new RegExp(`scope="repository:${REPO}:pull",error="insufficient_scope"$`));
    // names that only look alike
    for (const name of ['team-a/app/', 'team-a', 'team-a/app/x', 'Team-a/app', 'team-a/*']) {
      await refused(await signToken(reg.privateKey, access(name, '*')), `claim for ${name}`);
    }
  });

  it('a pull token used to push or delete: 401 insufficient_scope naming the needed scope', async () => {
    const token = await tokenFor(reg, 'admin', `repository:${REPO}:pull`);
    assert.match(await refused(token, 'push', `/v2/${REPO}/blobs/uploads/`, 'POST'), new RegExp(`scope="repository:${REPO}:pull,push",error="insufficient_scope"`));
    assert.match(await refused(token, 'put manifest', manifest, 'PUT'), /insufficient_scope/);
    const digest = `sha256:${'0'.repeat(64)}`;
    assert.match(await refused(token, 'delete', `/v2/${REPO}/manifests/${digest}`, 'DELETE'), new RegExp(`scope="repository:${REPO}:delete",error="insufficient_scope"`));
  });

  it('a token grants no more than the user holds, whatever is asked', async () => {
    const token = await tokenFor(reg, 'carol', `repository:${REPO}:pull,push,delete`, 'repository:team-b/lib:*');
    assert.deepEqual(claimsOf(token).access, [{ type: 'repository', name: REPO, actions: ['pull'] }]);
    assert.equal(claimsOf(token).sub, 'carol');
    await refused(token, 'carol pushes', `/v2/${REPO}/blobs/uploads/`, 'POST');
  });

  it('a refresh token is not an access token; an anonymous token does not log in', async () => {
    const res = await call(reg, 'GET', `/token?service=${SERVICE}&offline_token=true&scope=repository:${REPO}:pull`, { authorization: `Basic ${Buffer.from('alice:alice-pass').toString('base64')}` });
    const refresh = (res.json() as { refresh_token: string }).refresh_token;
    assert.ok(refresh);
    await refused(refresh, 'refresh as access');
    await refused(refresh, 'refresh at base', '/v2/');
    const anonymous = await tokenFor(reg, undefined, 'repository:public/x:pull');
    await refused(anonymous, 'anonymous at base', '/v2/');
  });
});

/** The built-in token endpoint: GET (Docker token spec) and POST (OAuth2), credentials. Throttling: throttle.test.ts. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, bearer, call, claimsOf, expectError, SERVICE, startAuthRegistry, type AuthRegistry } from './helpers.js';

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

describe('token endpoint', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'token', throttle: { maxFailures: 5, windowMs: 60_000 } });
  });
  after(() => reg.close());
  let ip = 0;
  /** A fresh client IP per test, so that throttling in one test does not leak into another. */
  const fresh = () => ({ 'x-forwarded-for': `10.0.0.${++ip}` });

  it('GET with Basic credentials: the Docker token shape, a short-lived ES256 JWT for the granted scopes', async () => {
    const res = await call(reg, 'GET', `/token?service=${SERVICE}&scope=repository:team-a/app:pull,push&scope=registry:catalog:*&account=alice`, {
      authorization: basic('alice'),
      ...fresh(),
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json() as TokenBody;
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 120);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5000);
    assert.equal(body.refresh_token, undefined);
    const header = JSON.parse(Buffer.from(body.token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(header.alg, 'ES256');
    assert.ok(typeof header.kid === 'string');
    const claims = claimsOf(body.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, SERVICE);
    assert.equal((claims.exp as number) - (claims.iat as number), 120);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    // the space-separated form of scope works too
    const spaced = await call(reg, 'GET', `/token?scope=${encodeURIComponent('repository:team-a/x:pull repository:team-b/y:pull')}`, { authorization: basic('alice'), ...fresh() });
    assert.deepEqual(claimsOf((spaced.json() as TokenBody).token).access, [{ type: 'repository', name: 'team-a/x', actions: ['pull'] }]);
  });

  it('GET without credentials: an anonymous token with only anonymous grants', async () => {
    const res = await call(reg, 'GET', `/token?service=${SERVICE}&scope=repository:public/base:pull,push&scope=repository:team-a/app:pull&scope=registry:catalog:*`, fresh());
    assert.equal(res.status, 200);
    const claims = claimsOf((res.json() as TokenBody).token);
    assert.equal(claims.sub, undefined);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('GET with bad credentials: 401 with a Basic challenge, whether the user exists or not', async () => {
    for (const authorization of [basic('alice', 'nope'), basic('nobody', 'x'), 'Basic', 'Basic %%%', bearer('abc'), basic('alice', '')]) {
      const res = await call(reg, 'GET', `/token?service=${SERVICE}&scope=repository:team-a/app:pull`, { authorization, ...fresh() });
      expectError(res, 401, 'UNAUTHORIZED', authorization);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="ferro-test", charset="UTF-8"');
    }
  });

  it('GET: another service is 400; an account that is not the user is 400; malformed scopes grant nothing', async () => {
    expectError(await call(reg, 'GET', '/token?service=evil.example', { authorization: basic('alice'), ...fresh() }), 400, 'UNSUPPORTED');
    expectError(await call(reg, 'GET', '/token?account=bob', { authorization: basic('alice'), ...fresh() }), 400, 'UNSUPPORTED');
    const q = ['repository:team-a/../team-b/x:pull', 'repository:team-a/app', 'repository::pull', 'repository:TEAM-A/app:pull', 'repository:team-a/app:PULL', 'garbage', 'repository:team-a%2Fapp:pull']
      .map((s) => `scope=${encodeURIComponent(s)}`)
      .join('&');
    const res = await call(reg, 'GET', `/token?${q}`, { authorization: basic('admin'), ...fresh() });
    assert.deepEqual(claimsOf((res.json() as TokenBody).token).access, []);
  });

  it('offline_token=true returns a refresh token; POST grant_type=refresh_token exchanges it', async () => {
    const res = await call(reg, 'GET', `/token?service=${SERVICE}&offline_token=true&client_id=docker`, { authorization: basic('bob'), ...fresh() });
    const refresh = (res.json() as TokenBody).refresh_token!;
    assert.ok(refresh);
    const f = form({ grant_type: 'refresh_token', refresh_token: refresh, service: SERVICE, scope: 'repository:team-b/lib:pull,push repository:team-a/app:pull', client_id: 'containerd' });
    const exchanged = await call(reg, 'POST', '/token', { ...f.headers, ...fresh() }, f.body);
    assert.equal(exchanged.status, 200, exchanged.body.toString());
    const body = exchanged.json() as TokenBody;
    assert.equal(body.token, body.access_token);
    assert.equal(body.scope, 'repository:team-b/lib:pull,push');
    assert.equal(claimsOf(body.access_token).sub, 'bob');
    const bad = form({ grant_type: 'refresh_token', refresh_token: `${refresh.slice(0, -4)}AAAA` });
    expectError(await call(reg, 'POST', '/token', { ...bad.headers, ...fresh() }, bad.body), 401, 'UNAUTHORIZED');
    // an access token is not a refresh token
    const notRefresh = form({ grant_type: 'refresh_token', refresh_token: body.access_token });
    expectError(await call(reg, 'POST', '/token', { ...notRefresh.headers, ...fresh() }, notRefresh.body), 401, 'UNAUTHORIZED');
  });

  it('POST grant_type=password: a token (and a refresh token with access_type=offline); bad password 401; bad grant 400', async () => {
    const ok = form({ grant_type: 'password', username: 'alice', password: 'alice-pass', service: SERVICE, scope: 'repository:team-a/app:push', access_type: 'offline', client_id: 'x' });
    const res = await call(reg, 'POST', '/token', { ...ok.headers, ...fresh() }, ok.body);
    assert.equal(res.status, 200, res.body.toString());
    const body = res.json() as TokenBody;
    assert.deepEqual(claimsOf(body.access_token).access, [{ type: 'repository', name: 'team-a/app', actions: ['push'] }]);
    assert.ok(body.refresh_token);
    const wrong = form({ grant_type: 'password', username: 'alice', password: 'nope' });
    expectError(await call(reg, 'POST', '/token', { ...wrong.headers, ...fresh() }, wrong.body), 401, 'UNAUTHORIZED');
    const unknown = form({ grant_type: 'client_credentials' });
    expectError(await call(reg, 'POST', '/token', { ...unknown.headers, ...fresh() }, unknown.body), 400, 'UNSUPPORTED');
    const missing = form({ grant_type: 'password', username: 'alice' });
    expectError(await call(reg, 'POST', '/token', { ...missing.headers, ...fresh() }, missing.body), 400, 'UNSUPPORTED');
  });
});

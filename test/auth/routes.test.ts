/**
 * The security table: every /v2 route and method, without credentials and
 * with wrong ones, in token mode (Bearer challenges naming the needed scope)
 * and basic mode (Basic challenges); then the same routes with sufficient
 * credentials, so that the table is not stricter than it should be.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, bearer, call, expectError, pushBlob, pushImage, SERVICE, startAuthRegistry, tokenFor, type AuthRegistry } from './helpers.js';

const R = 'team-a/app';
const D = `sha256:${'a'.repeat(64)}`;
const U = '00000000-0000-4000-8000-000000000000';

/** method, path, the scope a challenge must name ('' for none). */
const TABLE: ReadonlyArray<readonly [string, string, string]> = [
  ['GET', '/v2/', ''],
  ['HEAD', '/v2/', ''],
  ['GET', '/v2', ''],
  ['GET', '/v2/_catalog', 'registry:catalog:*'],
  ['GET', '/v2/_catalog?n=10', 'registry:catalog:*'],
  ['GET', `/v2/${R}/tags/list`, `repository:${R}:pull`],
  ['GET', `/v2/${R}/manifests/latest`, `repository:${R}:pull`],
  ['HEAD', `/v2/${R}/manifests/latest`, `repository:${R}:pull`],
  ['PUT', `/v2/${R}/manifests/latest`, `repository:${R}:pull,push`],
  ['DELETE', `/v2/${R}/manifests/${D}`, `repository:${R}:delete`],
  ['GET', `/v2/${R}/referrers/${D}`, `repository:${R}:pull`],
  ['GET', `/v2/${R}/blobs/${D}`, `repository:${R}:pull`],
  ['HEAD', `/v2/${R}/blobs/${D}`, `repository:${R}:pull`],
  ['DELETE', `/v2/${R}/blobs/${D}`, `repository:${R}:delete`],
  ['POST', `/v2/${R}/blobs/uploads/`, `repository:${R}:pull,push`],
  ['POST', `/v2/${R}/blobs/uploads/?digest=${D}`, `repository:${R}:pull,push`],
  ['POST', `/v2/${R}/blobs/uploads/?mount=${D}&from=team-b/lib`, `repository:${R}:pull,push repository:team-b/lib:pull`],
  ['GET', `/v2/${R}/blobs/uploads/${U}`, `repository:${R}:pull`],
  ['PATCH', `/v2/${R}/blobs/uploads/${U}`, `repository:${R}:pull,push`],
  ['PUT', `/v2/${R}/blobs/uploads/${U}?digest=${D}`, `repository:${R}:pull,push`],
  ['DELETE', `/v2/${R}/blobs/uploads/${U}`, `repository:${R}:pull,push`],
  ['OPTIONS', `/v2/${R}/tags/list`, ''],
  ['GET', '/v2/no/such/endpoint', ''],
  ['GET', '/v2/a/../b/manifests/latest', ''],
];

describe('token mode: every route refuses anonymous and wrong credentials', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'token' });
  });
  after(() => reg.close());

  it('without credentials: 401 UNAUTHORIZED with a Bearer challenge naming the scope', async () => {
    const realm = `${reg.url}/token`;
    for (const [method, path, scope] of TABLE) {
      const res = await call(reg, method, path);
      expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
      const expected = `Bearer realm="${realm}",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`;
      assert.equal(res.headers['www-authenticate'], expected, `${method} ${path}`);
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    }
  });

  it('with a malformed or unsigned Bearer token, or Basic credentials: 401', async () => {
    for (const [method, path] of TABLE) {
      for (const authorization of [bearer('not-a-jwt'), bearer('a.b.c'), 'Bearer', basic('alice'), basic('alice', 'wrong'), 'Negotiate abc']) {
        const res = await call(reg, method, path, { authorization });
        expectError(res, 401, 'UNAUTHORIZED', `${method} ${path} ${authorization}`);
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="[^"]+",service="registry\.test"/);
        if (authorization.startsWith('Bearer')) assert.match(String(res.headers['www-authenticate']), /error="invalid_token"$/);
      }
    }
  });

  it('with a token for another repository: 401 insufficient_scope', async () => {
    const token = await tokenFor(reg, 'bob', 'repository:team-b/lib:pull,push,delete');
    for (const [method, path, scope] of TABLE) {
      if (!scope.startsWith('repository:')) continue;
      const res = await call(reg, method, path, { authorization: bearer(token) });
      expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
      assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"$/, `${method} ${path}`);
    }
  });

  it('with sufficient tokens every route gets past auth (admin)', async () => {
    const admin = await tokenFor(reg, 'admin', `repository:${R}:*`, 'repository:team-b/lib:pull', 'registry:catalog:*');
    const started = await call(reg, 'POST', `/v2/${R}/blobs/uploads/`, { authorization: bearer(admin) });
    assert.equal(started.status, 202);
    const id = String(started.headers['docker-upload-uuid']);
    for (const [method, rawPath] of TABLE) {
      const path = rawPath.replace(U, id);
      const res = await call(reg, method, path, { authorization: bearer(admin) });
      assert.ok(res.status !== 401 && res.status !== 403, `${method} ${path}: ${res.status} ${res.body.toString()}`);
    }
  });
});

describe('basic mode: every route refuses anonymous and wrong credentials', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic' });
  });
  after(() => reg.close());

  it('without credentials, with a wrong password, an unknown user or a Bearer token: 401 with a Basic challenge', async () => {
    for (const [method, path] of TABLE) {
      for (const headers of [{} as Record<string, string>, { authorization: basic('alice', 'wrong') }, { authorization: basic('mallory', 'x') }, { authorization: bearer('x.y.z') }, { authorization: 'Basic !!!' }]) {
        const res = await call(reg, method, path, headers);
        expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
        assert.equal(res.headers['www-authenticate'], 'Basic realm="ferro-test", charset="UTF-8"');
      }
    }
  });

  it('a user without the permission: 403 DENIED; the admin gets past auth everywhere', async () => {
    for (const [method, path, scope] of TABLE) {
      const res = await call(reg, method, path, { authorization: basic('bob') });
      if (scope.startsWith('repository:')) expectError(res, 403, 'DENIED', `${method} ${path}`);
      else assert.ok(res.status !== 401 && res.status !== 403, `${method} ${path}: ${res.status}`);
    }
    const started = await call(reg, 'POST', `/v2/${R}/blobs/uploads/`, { authorization: basic('admin') });
    const id = String(started.headers['docker-upload-uuid']);
    for (const [method, rawPath] of TABLE) {
      const res = await call(reg, method, rawPath.replace(U, id), { authorization: basic('admin') });
      assert.ok(res.status !== 401 && res.status !== 403, `${method} ${rawPath}: ${res.status}`);
    }
  });

  it('per-repository actions: alice pushes and pulls team-a, may not delete; bob may not read team-a', async () => {
    const { digest, layer } = await pushImage(reg, 'team-a/web', 'v1', basic('alice'));
    assert.equal((await call(reg, 'GET', `/v2/team-a/web/manifests/v1`, { authorization: basic('alice') })).status, 200);
    assert.equal((await call(reg, 'GET', `/v2/team-a/web/blobs/${layer}`, { authorization: basic('alice') })).status, 200);
    expectError(await call(reg, 'DELETE', `/v2/team-a/web/manifests/${digest}`, { authorization: basic('alice') }), 403, 'DENIED');
    expectError(await call(reg, 'GET', `/v2/team-a/web/manifests/v1`, { authorization: basic('bob') }), 403, 'DENIED');
    expectError(await call(reg, 'GET', `/v2/team-a/web/manifests/v1`), 401, 'UNAUTHORIZED');
    assert.equal((await call(reg, 'DELETE', `/v2/team-a/web/manifests/${digest}`, { authorization: basic('admin') })).status, 202);
    await pushBlob(reg, 'team-b/x', Buffer.from('bob'), basic('bob'));
  });
});

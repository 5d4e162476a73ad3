/**
 * The security table: every endpoint of the server (/v2 routes and methods,
 * the web UI's JSON API, the admin trigger, dead events and the audit log,
 * the token endpoint, the web UI's page, probes and metrics) × every refusal
 * path (no credentials, bad credentials, not enough permission, not an admin,
 * throttled), in token mode (Bearer challenges naming the needed scope) and
 * basic mode (Basic challenges); every endpoint again through encoded,
 * absolute-form, double-slash, dot-segment and case-variant request targets;
 * then with sufficient credentials, so that the table is not stricter than it
 * should be. Extend ENDPOINTS whenever an endpoint is added.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, bearer, call, expectError, pushBlob, pushImage, SERVICE, startAuthRegistry, tokenFor, type AuthRegistry, type HttpResponse } from './helpers.js';

const R = 'team-a/app';
const D = `sha256:${'a'.repeat(64)}`;
const U = '00000000-0000-4000-8000-000000000000';

/** browse: anyone, credentials checked when given (the UI's listing, filtered); browse-repository: the UI's per-repository routes (403 to a signed-in caller, token mode too). */
type Need = 'open' | 'token-endpoint' | 'login' | 'catalog' | 'admin' | 'repository' | 'browse' | 'browse-repository';

/** method, path, what it needs, the scope a Bearer challenge must name ('' for none). */
const V2: ReadonlyArray<readonly [string, string, Need, string]> = [
  ['GET', '/v2/', 'login', ''],
  ['HEAD', '/v2/', 'login', ''],
  ['GET', '/v2', 'login', ''],
  ['GET', '/v2/_catalog', 'catalog', 'registry:catalog:*'],
  ['GET', '/v2/_catalog?n=10', 'catalog', 'registry:catalog:*'],
  ['GET', `/v2/${R}/tags/list`, 'repository', `repository:${R}:pull`],
  ['GET', `/v2/${R}/manifests/latest`, 'repository', `repository:${R}:pull`],
  ['HEAD', `/v2/${R}/manifests/latest`, 'repository', `repository:${R}:pull`],
  ['PUT', `/v2/${R}/manifests/latest`, 'repository', `repository:${R}:pull,push`],
  ['PUT', `/v2/${R}/manifests/latest?tag=a&tag=b`, 'repository', `repository:${R}:pull,push`],
  ['DELETE', `/v2/${R}/manifests/${D}`, 'repository', `repository:${R}:delete`],
  ['GET', `/v2/${R}/referrers/${D}`, 'repository', `repository:${R}:pull`],
  ['GET', `/v2/${R}/blobs/${D}`, 'repository', `repository:${R}:pull`],
  ['HEAD', `/v2/${R}/blobs/${D}`, 'repository', `repository:${R}:pull`],
  ['DELETE', `/v2/${R}/blobs/${D}`, 'repository', `repository:${R}:delete`],
  ['POST', `/v2/${R}/blobs/uploads/`, 'repository', `repository:${R}:pull,push`],
  ['POST', `/v2/${R}/blobs/uploads/?digest=${D}`, 'repository', `repository:${R}:pull,push`],
  ['POST', `/v2/${R}/blobs/uploads/?mount=${D}&from=team-b/lib`, 'repository', `repository:${R}:pull,push repository:team-b/lib:pull`],
  ['POST', `/v2/${R}/blobs/uploads/?mount=${D}&from=Bad%22Name`, 'repository', `repository:${R}:pull,push`],
  ['GET', `/v2/${R}/blobs/uploads/${U}`, 'repository', `repository:${R}:pull`],
  ['PATCH', `/v2/${R}/blobs/uploads/${U}`, 'repository', `repository:${R}:pull,push`],
  ['PUT', `/v2/${R}/blobs/uploads/${U}?digest=${D}`, 'repository', `repository:${R}:pull,push`],
  ['DELETE', `/v2/${R}/blobs/uploads/${U}`, 'repository', `repository:${R}:pull,push`],
  ['OPTIONS', `/v2/${R}/tags/list`, 'login', ''],
  ['GET', '/v2/no/such/endpoint', 'login', ''],
  ['GET', '/v2/a/../b/manifests/latest', 'login', ''],
];

/** The web UI's JSON API (a /v2 extension, http/routes-ui.ts). */
const UI_API: ReadonlyArray<readonly [string, string, Need, string]> = [
  ['GET', '/v2/_ferro/ui/session', 'browse', ''],
  ['GET', '/v2/_ferro/ui/repositories?sort=size', 'browse', ''],
  ['GET', `/v2/_ferro/ui/repository?name=${R}`, 'browse-repository', `repository:${R}:pull`],
  ['GET', `/v2/_ferro/ui/image?name=${R}&ref=latest`, 'browse-repository', `repository:${R}:pull`],
  ['GET', `/v2/_ferro/ui/delete?name=${R}&ref=latest`, 'browse-repository', `repository:${R}:delete`],
  ['DELETE', `/v2/_ferro/ui/delete?name=${R}&ref=latest`, 'browse-repository', `repository:${R}:delete`],
  ['GET', '/v2/_ferro/ui/image?name=Bad%22Name&ref=latest', 'browse-repository', ''],
  ['GET', '/v2/_ferro/ui/gc', 'admin', ''],
];

/** Every endpoint outside /v2. */
const OTHERS: ReadonlyArray<readonly [string, string, Need, string]> = [
  ['POST', '/admin/gc', 'admin', ''],
  ['POST', '/admin/gc?dryRun=true', 'admin', ''],
  ['GET', '/admin/events/dead', 'admin', ''],
  ['POST', '/admin/events/replay', 'admin', ''],
  ['GET', '/admin/audit', 'admin', ''],
  ['GET', '/admin/audit?limit=5', 'admin', ''],
  ['GET', '/ui/', 'open', ''],
  ['GET', '/live', 'open', ''],
  ['HEAD', '/live', 'open', ''],
  ['GET', '/ready', 'open', ''],
  ['GET', '/healthz', 'open', ''],
  ['GET', '/metrics', 'open', ''],
  ['GET', `/token?service=${SERVICE}`, 'token-endpoint', ''],
  ['POST', '/token', 'token-endpoint', ''],
  ['GET', '/no/such/endpoint', 'login', ''],
  ['DELETE', '/admin/gc', 'login', ''],
];

/** Request targets the router may or may not match to the same route: never a way around its declaration. */
function variants(path: string, origin: string): string[] {
  const q = path.indexOf('?');
  const [p, query] = q === -1 ? [path, ''] : [path.slice(0, q), path.slice(q)];
  const first = p.split('/')[1]!;
  const rest = p.slice(1 + first.length);
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  const out = [
    `/${hex(first[0]!)}${first.slice(1)}${rest}${query}`,
    `/${[...first].map(hex).join('')}${rest}${query}`,
    `${origin}${path}`,
    `/${path}`,
    `${p.replace(/\/([^/]*)$/, '//$1')}${query}`,
    `/x/..${path}`,
    `/.${path}`,
    `/${first.toUpperCase()}${rest}${query}`,
    `/${first[0]!.toUpperCase()}${first.slice(1)}${rest}${query}`,
  ];
  return [...new Set(out)].filter((v) => v !== path);
}

for (const mode of ['token', 'basic'] as const) {
  const endpoints = [...V2, ...UI_API, ...OTHERS].filter(([, path, need]) => mode === 'token' || need !== 'token-endpoint' || !path.startsWith('/token'));
  describe(`security table [${mode}]`, () => {
    let reg: AuthRegistry;
    let ip = 0;
    /** Each request from a fresh client address: failures in one row never throttle another. */
    const send = (method: string, path: string, headers: Record<string, string> = {}): Promise<HttpResponse> =>
      call(reg, method, path, { 'x-forwarded-for': `10.${mode === 'token' ? 1 : 2}.${(++ip >> 8) & 255}.${ip & 255}`, ...headers });
    const as = async (user: string, ...scopes: string[]) => (mode === 'basic' ? basic(user) : bearer(await tokenFor(reg, user, ...scopes)));
    before(async () => {
      reg = await startAuthRegistry({ mode, server: true, throttle: { maxFailures: 3, maxAddressFailures: 1000 } });
    });
    after(() => reg.close());

    /** The challenge of a 401 in this mode for `scope`. */
    const challengeFor = (scope: string) =>
      mode === 'basic' ? 'Basic realm="ferro-test", charset="UTF-8"' : `Bearer realm="${reg.url}/token",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}`;

    it('without credentials: 401 with the challenge everywhere but the open endpoints', async () => {
      for (const [method, path, need, scope] of endpoints) {
        const res = await send(method, path);
        if (need === 'open' || need === 'token-endpoint' || need === 'browse') {
          assert.ok(![401, 403, 429].includes(res.status), `${method} ${path}: ${res.status} ${res.body.toString()}`);
          continue;
        }
        expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
        assert.equal(res.headers['www-authenticate'], challengeFor(scope), `${method} ${path}`);
        if (path.startsWith('/v2') && !path.startsWith('/v2/_ferro/')) assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
      }
    });

    it('with bad credentials: 401 everywhere but the open endpoints', async () => {
      const bad = mode === 'basic'
        ? [basic('alice', 'wrong'), basic('mallory', 'x'), bearer('x.y.z'), 'Basic !!!', 'Negotiate abc']
        : [bearer('not-a-jwt'), bearer('a.b.c'), 'Bearer', basic('alice'), basic('alice', 'wrong'), 'Negotiate abc'];
      for (const [method, path, need] of endpoints) {
        if (need === 'open' || need === 'token-endpoint') continue;
        for (const authorization of bad) {
          const res = await send(method, path, { authorization });
          expectError(res, 401, 'UNAUTHORIZED', `${method} ${path} ${authorization}`);
          assert.match(String(res.headers['www-authenticate']), mode === 'basic' ? /^Basic realm="ferro-test"/ : /^Bearer realm="[^"]+",service="registry\.test"/);
          if (mode === 'token' && authorization.startsWith('Bearer')) assert.match(String(res.headers['www-authenticate']), /error="invalid_token"$/);
        }
      }
    });

    it('without the permission: 403 DENIED (basic) or 401 insufficient_scope (token); admin routes 403 to non-admins', async () => {
      const bob = await as('bob', 'repository:team-b/lib:pull,push,delete');
      for (const [method, path, need] of endpoints) {
        const res = await send(method, path, { authorization: need === 'token-endpoint' ? basic('bob') : bob });
        if (need === 'admin' || need === 'browse-repository') expectError(res, 403, 'DENIED', `${method} ${path}`);
        else if (need === 'catalog' && mode === 'token') {
          expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
          assert.match(String(res.headers['www-authenticate']), /scope="registry:catalog:\*",error="insufficient_scope"$/);
        } else if (need !== 'repository') assert.ok(res.status !== 401 && res.status !== 403, `${method} ${path}: ${res.status}`);
        else if (mode === 'basic') expectError(res, 403, 'DENIED', `${method} ${path}`);
        else {
          expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}`);
          assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"$/, `${method} ${path}`);
        }
      }
    });

    it('throttled: 429 with Retry-After wherever credentials are checked, even the right ones', async () => {
      const from = { 'x-forwarded-for': `192.0.2.${mode === 'token' ? 1 : 2}` };
      for (let i = 0; i < 3; i++) await call(reg, 'GET', mode === 'token' ? '/token' : '/v2/', { authorization: basic('admin', `guess${i}`), ...from });
      for (const [method, path, need] of endpoints) {
        const res = await call(reg, method, path, { authorization: basic('admin'), ...from });
        if (need === 'open') assert.ok(res.status === 200, `${method} ${path}: ${res.status}`);
        else if (mode === 'token' && need !== 'token-endpoint') expectError(res, 401, 'UNAUTHORIZED', `${method} ${path}: Basic credentials on a token registry`);
        else {
          if (mode === 'token' && method === 'POST') continue; // the OAuth2 form carries the credentials, see throttle.test.ts
          expectError(res, 429, 'TOOMANYREQUESTS', `${method} ${path}`);
          assert.ok(Number(res.headers['retry-after']) >= 1, `${method} ${path}`);
        }
      }
    });

    // Issue 11 item 1: /%61dmin/gc and POST http://host/admin/gc ran a collection without credentials.
    it('encoded, absolute-form, double-slash, dot-segment and case-variant targets never get around a declaration', async () => {
      const bob = await as('bob', 'repository:team-b/lib:pull,push,delete');
      for (const [method, path, need] of endpoints) {
        if (need === 'open' || need === 'token-endpoint' || need === 'browse') continue;
        const canonical = (await send(method, path, { authorization: bob })).status;
        for (const target of variants(path, reg.url)) {
          const anonymous = await send(method, target);
          expectError(anonymous, 401, 'UNAUTHORIZED', `anonymous ${method} ${target}`);
          // bob gets what the canonical target answers him, or nothing (no route / invalid name)
          const res = await send(method, target, { authorization: bob });
          assert.ok(res.status === canonical || res.status === 404 || res.status === 400, `bob ${method} ${target}: ${res.status} (canonical ${canonical}) ${res.body.toString().slice(0, 200)}`);
          if (need === 'admin' || need === 'repository' || need === 'browse-repository') assert.ok(res.status >= 400, `bob ${method} ${target}: ${res.status}`);
        }
      }
      // the router does match these to the admin route: the admin gets the report, nobody else gets past
      const admin = await as('admin');
      for (const target of ['/%61dmin/gc?dryRun=true', '/%61%64%6d%69%6e/gc?dryRun=true', `${reg.url}/admin/gc?dryRun=true`]) {
        expectError(await send('POST', target), 401, 'UNAUTHORIZED', target);
        expectError(await send('POST', target, { authorization: bob }), 403, 'DENIED', target);
        const ok = await send('POST', target, { authorization: admin });
        assert.equal(ok.status, 200, `${target}: ${ok.body.toString()}`);
        assert.equal((ok.json() as { dryRun: boolean }).dryRun, true);
      }
    });

    it('the open endpoints answer through their variants the router matches, and nothing else is opened by them', async () => {
      for (const [method, path, need] of endpoints) {
        if (need !== 'open' && need !== 'browse') continue;
        for (const target of variants(path, reg.url)) {
          const res = await send(method, target);
          assert.ok(res.status === 200 || res.status === 401 || res.status === 404, `${method} ${target}: ${res.status}`); // 404: no route (e.g. /ui//)
        }
      }
    });

    it('with sufficient credentials every endpoint gets past auth (admin)', async () => {
      const admin = await as('admin', `repository:${R}:*`, 'repository:team-b/lib:pull', 'registry:catalog:*');
      const started = await send('POST', `/v2/${R}/blobs/uploads/`, { authorization: admin });
      assert.equal(started.status, 202);
      const id = String(started.headers['docker-upload-uuid']);
      for (const [method, rawPath, need] of endpoints) {
        const path = rawPath.replace(U, id);
        const res = await send(method, path, { authorization: need === 'token-endpoint' ? basic('admin') : admin });
        assert.ok(res.status !== 401 && res.status !== 403 && res.status !== 429, `${method} ${path}: ${res.status} ${res.body.toString()}`);
      }
    });

    it('per-repository actions: alice pushes and pulls team-a, may not delete; bob may not read team-a', async () => {
      const alice = await as('alice', 'repository:team-a/web:pull,push,delete');
      const { digest, layer } = await pushImage(reg, 'team-a/web', 'v1', alice);
      assert.equal((await send('GET', `/v2/team-a/web/manifests/v1`, { authorization: alice })).status, 200);
      assert.equal((await send('GET', `/v2/team-a/web/blobs/${layer}`, { authorization: alice })).status, 200);
      const refused = await send('DELETE', `/v2/team-a/web/manifests/${digest}`, { authorization: alice });
      if (mode === 'basic') expectError(refused, 403, 'DENIED');
      else expectError(refused, 401, 'UNAUTHORIZED');
      expectError(await send('GET', `/v2/team-a/web/manifests/v1`), 401, 'UNAUTHORIZED');
      const admin = await as('admin', 'repository:team-a/web:delete');
      assert.equal((await send('DELETE', `/v2/team-a/web/manifests/${digest}`, { authorization: admin })).status, 202);
      await pushBlob(reg, 'team-b/x', Buffer.from('bob'), await as('bob', 'repository:team-b/x:push'));
    });
  });
}

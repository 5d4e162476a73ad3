/**
 * Permissions over HTTP: anonymous pull on a pattern, the filtered catalog,
 * admin, cross-repository mount without pull on the source, and names that
 * try to escape a pattern.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, bearer, call, expectError, pushBlob, pushImage, startAuthRegistry, tokenFor, type AuthRegistry } from './helpers.js';

for (const mode of ['token', 'basic'] as const) {
  describe(`permissions [${mode}]`, () => {
    let reg: AuthRegistry;
    /** Authorization for `user` on `scopes` in this mode. */
    const as = async (user: string, ...scopes: string[]) => (mode === 'basic' ? basic(user) : bearer(await tokenFor(reg, user, ...scopes)));
    let secretLayer: string;
    let publicLayer: string;
    before(async () => {
      reg = await startAuthRegistry({ mode, limits: { maxPageSize: 3, maxCatalogScan: 1000 } });
      const admin = await as('admin', 'repository:public/base:*', 'repository:secret/x:*', 'repository:team-a/app:*', 'repository:team-b/lib:*');
      publicLayer = (await pushImage(reg, 'public/base', 'v1', admin)).layer;
      secretLayer = (await pushImage(reg, 'secret/x', 'v1', admin)).layer;
      await pushImage(reg, 'team-a/app', 'v1', admin);
      await pushImage(reg, 'team-b/lib', 'v1', admin);
      for (const r of ['team-a/r1', 'team-a/r2', 'team-a/r3', 'team-a/r4', 'team-a/r5', 'team-b/r1', 'team-b/r2', 'zzz/r']) {
        const auth = await as('admin', `repository:${r}:push`);
        await pushBlob(reg, r, Buffer.from(r), auth);
      }
    });
    after(() => reg.close());

    it('anonymous pull on public/**: manifests, blobs and tags without credentials; nothing else', async () => {
      assert.equal((await call(reg, 'GET', '/v2/public/base/manifests/v1')).status, 200);
      assert.equal((await call(reg, 'HEAD', `/v2/public/base/blobs/${publicLayer}`)).status, 200);
      assert.deepEqual((await call(reg, 'GET', '/v2/public/base/tags/list')).json(), { name: 'public/base', tags: ['v1'] });
      expectError(await call(reg, 'POST', '/v2/public/base/blobs/uploads/'), 401, 'UNAUTHORIZED');
      expectError(await call(reg, 'GET', '/v2/secret/x/manifests/v1'), 401, 'UNAUTHORIZED');
      expectError(await call(reg, 'GET', '/v2/'), 401, 'UNAUTHORIZED');
      expectError(await call(reg, 'GET', '/v2/_catalog'), 401, 'UNAUTHORIZED');
    });

    it('the catalog lists only what the caller may pull, in full pages with a correct Link', async () => {
      const auth = await as('alice', 'registry:catalog:*');
      const seen: string[] = [];
      let path: string | undefined = '/v2/_catalog?n=2';
      const links: string[] = [];
      while (path) {
        const res = await call(reg, 'GET', path, { authorization: auth });
        assert.equal(res.status, 200, res.body.toString());
        const page = (res.json() as { repositories: string[] }).repositories;
        seen.push(...page);
        const link = res.headers.link as string | undefined;
        if (link) {
          assert.equal(page.length, 2, `a page with a Link is full: ${JSON.stringify(page)}`);
          links.push(link);
        }
        path = link ? /^<([^>]+)>/.exec(link)![1] : undefined;
      }
      assert.deepEqual(seen, ['public/base', 'team-a/app', 'team-a/r1', 'team-a/r2', 'team-a/r3', 'team-a/r4', 'team-a/r5']);
      assert.ok(links.every((l) => !/secret|team-b|zzz/.test(l)), links.join(' '));
      // without n: cut at maxPageSize (3), still only visible names
      const first = await call(reg, 'GET', '/v2/_catalog', { authorization: auth });
      assert.deepEqual((first.json() as { repositories: string[] }).repositories, ['public/base', 'team-a/app', 'team-a/r1']);
      assert.equal(first.headers.link, '</v2/_catalog?n=3&last=team-a%2Fr1>; rel="next"');
      // the last page has no Link
      const last = await call(reg, 'GET', '/v2/_catalog?n=3&last=team-a%2Fr3', { authorization: auth });
      assert.deepEqual((last.json() as { repositories: string[] }).repositories, ['team-a/r4', 'team-a/r5']);
      assert.equal(last.headers.link, undefined);
    });

    it('admin sees and may do everything', async () => {
      const auth = await as('admin', 'registry:catalog:*');
      const res = await call(reg, 'GET', '/v2/_catalog?n=100', { authorization: auth });
      assert.equal((res.json() as { repositories: string[] }).repositories.length, 3);
      const all: string[] = [];
      let path: string | undefined = '/v2/_catalog';
      while (path) {
        const page = await call(reg, 'GET', path, { authorization: auth });
        all.push(...(page.json() as { repositories: string[] }).repositories);
        path = page.headers.link ? /^<([^>]+)>/.exec(page.headers.link as string)![1] : undefined;
      }
      assert.equal(all.length, 12);
      const del = await as('admin', 'repository:zzz/r:delete');
      assert.equal((await call(reg, 'DELETE', `/v2/zzz/r/blobs/sha256:${'0'.repeat(64)}`, { authorization: del })).status, 404);
    });

    it('mount from a repository without pull on it: a plain upload session (202), nothing linked', async () => {
      const auth = await as('alice', 'repository:team-a/app:pull,push', 'repository:secret/x:pull');
      const res = await call(reg, 'POST', `/v2/team-a/app/blobs/uploads/?mount=${secretLayer}&from=secret/x`, { authorization: auth });
      assert.equal(res.status, 202, res.body.toString());
      assert.match(String(res.headers.location), /^\/v2\/team-a\/app\/blobs\/uploads\//);
      expectError(await call(reg, 'HEAD', `/v2/team-a/app/blobs/${secretLayer}`, { authorization: auth }), 404, 'BLOB_UNKNOWN');
      // with pull on the source (public/**) the mount happens
      const ok = await as('alice', 'repository:team-a/app:pull,push', 'repository:public/base:pull');
      const mounted = await call(reg, 'POST', `/v2/team-a/app/blobs/uploads/?mount=${publicLayer}&from=public/base`, { authorization: ok });
      assert.equal(mounted.status, 201, mounted.body.toString());
    });

    // Issue 11 item 5: the old code checked the mount source against the user's rules, not the token's grants.
    it('a mount needs pull on the source in the credentials themselves: a token without it opens a plain session', async () => {
      const admin = await as('admin', 'repository:team-a/secret-sauce:*');
      const { layer } = await pushImage(reg, 'team-a/secret-sauce', 'v1', admin);
      // alice's rules grant pull on team-a/**, but this token grants team-a/web only
      const narrow = await as('alice', 'repository:team-a/web:pull,push');
      const res = await call(reg, 'POST', `/v2/team-a/web/blobs/uploads/?mount=${layer}&from=team-a/secret-sauce`, { authorization: narrow });
      if (mode === 'token') {
        assert.equal(res.status, 202, res.body.toString());
        expectError(await call(reg, 'HEAD', `/v2/team-a/web/blobs/${layer}`, { authorization: narrow }), 404, 'BLOB_UNKNOWN');
      } else {
        assert.equal(res.status, 201, 'basic mode: the rules are the credentials');
      }
      const wide = await as('alice', 'repository:team-a/web2:pull,push', 'repository:team-a/secret-sauce:pull');
      assert.equal((await call(reg, 'POST', `/v2/team-a/web2/blobs/uploads/?mount=${layer}&from=team-a/secret-sauce`, { authorization: wide })).status, 201);
    });

    it('names that try to escape a pattern never reach another repository', async () => {
      const auth = await as('alice', 'repository:team-a/app:pull');
      const attempts = [
        '/v2/team-a/../secret/x/manifests/v1',
        '/v2/team-a/app/../../secret/x/manifests/v1',
        '/v2/team-a/%2e%2e/secret/x/manifests/v1',
        '/v2/team-a%2F..%2Fsecret/x/manifests/v1',
        '/v2/team-a%2fapp/manifests/v1',
        '/v2/team-a/./app/manifests/v1',
        '/v2//team-a/app/manifests/v1',
        '/v2/team-a//app/manifests/v1',
        '/v2/team-a/app%00/manifests/v1',
        '/v2/TEAM-A/app/manifests/v1',
      ];
      for (const path of attempts) {
        const res = await call(reg, 'GET', path, { authorization: auth });
        assert.ok([400, 404].includes(res.status), `${path}: ${res.status} ${res.body.toString()}`);
        assert.ok(!res.body.toString().includes('schemaVersion'), path);
        expectError(await call(reg, 'GET', path), 401, 'UNAUTHORIZED', `${path} anonymous`);
      }
      // a malformed percent-encoding is refused by Fastify before any route or hook (400, no data)
      assert.equal((await call(reg, 'GET', '/v2/team-a/app%/manifests/v1')).status, 400);
      // a percent-encoded letter decodes to the same name for the check and the registry alike
      const encodedSecret = await call(reg, 'GET', '/v2/%73ecret/x/manifests/v1', { authorization: auth });
      assert.ok([401, 403].includes(encodedSecret.status), String(encodedSecret.status));
      assert.equal((await call(reg, 'GET', '/v2/te%61m-a/app/manifests/v1', { authorization: auth })).status, 200);
      const doubly = await call(reg, 'GET', '/v2/team-a%252fapp/manifests/v1', { authorization: auth });
      assert.ok([400, 403, 401].includes(doubly.status), `decoded once only: ${doubly.status}`);
    });
  });
}

describe('catalog scan cap', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic', limits: { maxPageSize: 100, maxCatalogScan: 4 } });
    for (const r of ['team-a/a', 'team-b/1', 'team-b/2', 'team-b/3', 'team-b/4', 'team-b/5', 'team-c/x', 'team-d/y']) {
      await pushBlob(reg, r, Buffer.from(r), basic('admin'));
    }
  });
  after(() => reg.close());

  it('a page that scanned the cap ends early after its last visible name; a longer hidden run ends the listing', async () => {
    const first = await call(reg, 'GET', '/v2/_catalog?n=10', { authorization: basic('alice') });
    assert.deepEqual((first.json() as { repositories: string[] }).repositories, ['team-a/a']);
    assert.equal(first.headers.link, '</v2/_catalog?n=10&last=team-a%2Fa>; rel="next"');
    const next = await call(reg, 'GET', '/v2/_catalog?n=10&last=team-a%2Fa', { authorization: basic('alice') });
    assert.deepEqual((next.json() as { repositories: string[] }).repositories, []);
    assert.equal(next.headers.link, undefined);
  });
});

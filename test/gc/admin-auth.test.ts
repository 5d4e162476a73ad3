/** POST /admin/gc with access control: only admins of the policy, in basic and token mode. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, bearer, call, expectError, startAuthRegistry, tokenFor, type AuthRegistry } from '../auth/helpers.js';

for (const mode of ['basic', 'token'] as const) {
  describe(`POST /admin/gc with auth [${mode}]`, () => {
    let reg: AuthRegistry;
    before(async () => {
      reg = await startAuthRegistry({ mode });
    });
    after(() => reg.close());
    const as = async (user: string) => (mode === 'basic' ? basic(user) : bearer(await tokenFor(reg, user)));

    it('answers 401 with a challenge without credentials, 403 DENIED to non-admins, the report to admins', async () => {
      const anonymous = await call(reg, 'POST', '/admin/gc');
      expectError(anonymous, 401, 'UNAUTHORIZED');
      assert.match(String(anonymous.headers['www-authenticate']), mode === 'basic' ? /^Basic realm=/ : /^Bearer realm=/);
      expectError(await call(reg, 'POST', '/admin/gc', { authorization: basic('alice', 'wrong') }), 401, 'UNAUTHORIZED');
      expectError(await call(reg, 'POST', '/admin/gc', { authorization: await as('bob') }), 403, 'DENIED');
      const res = await call(reg, 'POST', '/admin/gc?dryRun=true', { authorization: await as('admin') });
      assert.equal(res.status, 200, res.body.toString());
      const report = JSON.parse(res.body.toString()) as Record<string, unknown>;
      assert.equal(report.dryRun, true);
      assert.equal(report.scanned, 0);
    });

    // Issue 11 item 1: the old hook decided on the raw URL string, the router on the decoded path: these ran a collection anonymously.
    it('percent-encoded and absolute-form targets reach the admin route only through its declaration', async () => {
      for (const target of ['/%61dmin/gc', '/%61%64%6d%69%6e/gc', '/%61dmin/gc?dryRun=false', `${reg.url}/admin/gc`, `${reg.url.replace('http:', 'HTTP:')}/admin/gc`]) {
        const anonymous = await call(reg, 'POST', target);
        expectError(anonymous, 401, 'UNAUTHORIZED', target);
        assert.match(String(anonymous.headers['www-authenticate']), mode === 'basic' ? /^Basic realm=/ : /^Bearer realm=/);
        expectError(await call(reg, 'POST', target, { authorization: await as('bob') }), 403, 'DENIED', target);
      }
    });
  });
}

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
  });
}

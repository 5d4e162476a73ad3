/** Secrets never reach the logs: a capture of every line at trace level while credentials and tokens flow. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { authLogOptions, redactUrl } from '../../src/auth/redact.js';
import { basic, bearer, call, SERVICE, startAuthRegistry, USERS, type AuthRegistry } from './helpers.js';

describe('logging', () => {
  const lines: string[] = [];
  let reg: AuthRegistry;
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    const logger = pino({ level: 'trace', ...authLogOptions }, sink);
    reg = await startAuthRegistry({
      mode: 'token',
      fastify: { loggerInstance: logger } as never,
      // An over-eager debugging hook that logs whole requests: redact must still hold.
      setup: (app) =>
        app.addHook('onResponse', async (request) => {
          request.log.debug({ headers: request.headers, query: request.query, body: request.body }, 'request detail');
        }),
    });
  });
  after(() => reg.close());

  it('passwords, Basic credentials, tokens and refresh tokens are absent; [redacted] stands in', async () => {
    const secrets = Object.values(USERS);
    const got = await call(reg, 'GET', `/token?service=${SERVICE}&offline_token=true&scope=repository:team-a/app:pull`, { authorization: basic('alice') });
    const { token, refresh_token: refresh } = got.json() as { token: string; refresh_token: string };
    secrets.push(token, refresh, basic('alice').slice(6));
    await call(reg, 'GET', '/v2/team-a/app/tags/list', { authorization: bearer(token) });
    await call(reg, 'GET', '/v2/', { authorization: basic('alice', 'wrong-password-1') });
    await call(reg, 'GET', '/token', { authorization: basic('bob', 'wrong-password-2') });
    secrets.push('wrong-password-1', 'wrong-password-2');
    const form = new URLSearchParams({ grant_type: 'password', username: 'carol', password: USERS.carol!, access_type: 'offline' });
    await call(reg, 'POST', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
    const refreshForm = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh });
    await call(reg, 'POST', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, refreshForm.toString());
    // clients that put secrets in the query string
    await call(reg, 'GET', `/token?password=query-secret-3&refresh_token=query-secret-4&access_token=${token}`);
    secrets.push('query-secret-3', 'query-secret-4');

    const text = lines.join('\n');
    assert.ok(lines.some((l) => l.includes('"incoming request"')), 'request logging is on');
    assert.ok(lines.some((l) => l.includes('request detail')), 'the debugging hook logged');
    for (const secret of secrets) assert.ok(!text.includes(secret), `a secret reached the logs: ${secret.slice(0, 12)}…`);
    assert.ok(text.includes('"authorization":"[redacted]"'));
    assert.ok(text.includes('"password":"[redacted]"'));
    assert.ok(text.includes('"refresh_token":"[redacted]"'));
    assert.ok(text.includes('password=[redacted]'), 'the logged URL is masked');
  });

  it('redactUrl masks only secret parameters', () => {
    assert.equal(redactUrl('/token?service=a&scope=b&password=c&Token=d&x'), '/token?service=a&scope=b&password=[redacted]&Token=[redacted]&x');
    assert.equal(redactUrl('/v2/'), '/v2/');
    assert.equal(redactUrl('/t?pass%77ord=x'), '/t?pass%77ord=[redacted]');
  });
});

/**
 * Failed-login throttling over HTTP (auth/throttle.ts): per user and client
 * address, per address; counted before the password is compared; the client
 * address from X-Forwarded-For only through a trusted proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { basic, call, expectError, startAuthRegistry, type AuthRegistry } from './helpers.js';

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('login throttling [token]', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'token', throttle: { maxFailures: 5, maxAddressFailures: 20, windowMs: 60_000 } });
  });
  after(() => reg.close());
  let ip = 0;
  /** A fresh client address per use, so that throttling in one test does not leak into another. */
  const fresh = () => ({ 'x-forwarded-for': `10.0.0.${++ip}` });

  it('per user and address: the 6th attempt within a minute is 429 with Retry-After, even with the right password; other users and addresses are not affected', async () => {
    const from = fresh();
    for (let i = 0; i < 5; i++) expectError(await call(reg, 'GET', '/token', { authorization: basic('alice', `bad${i}`), ...from }), 401, 'UNAUTHORIZED');
    const res = await call(reg, 'GET', '/token', { authorization: basic('alice'), ...from });
    expectError(res, 429, 'TOOMANYREQUESTS');
    const retry = Number(res.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, String(res.headers['retry-after']));
    const f = form({ grant_type: 'password', username: 'alice', password: 'alice-pass' });
    expectError(await call(reg, 'POST', '/token', { ...f.headers, ...from }, f.body), 429, 'TOOMANYREQUESTS');
    assert.equal((await call(reg, 'GET', '/token', { authorization: basic('bob'), ...from })).status, 200, 'another user from the same address');
    assert.equal((await call(reg, 'GET', '/token', { authorization: basic('alice'), ...fresh() })).status, 200, 'the same user from another address');
  });

  it('per address: maxAddressFailures failures under any names make that address wait', async () => {
    const from = fresh();
    for (let i = 0; i < 20; i++) expectError(await call(reg, 'GET', '/token', { authorization: basic(`user${i}`, 'x'), ...from }), 401, 'UNAUTHORIZED');
    expectError(await call(reg, 'GET', '/token', { authorization: basic('bob'), ...from }), 429, 'TOOMANYREQUESTS');
    assert.equal((await call(reg, 'GET', '/token', { authorization: basic('bob'), ...fresh() })).status, 200);
  });

  // Issue 11 item 3: the old throttle counted per user name alone, so five guesses from anywhere locked the user out everywhere.
  it('guesses from other addresses never lock a user out of their own address', async () => {
    for (let i = 0; i < 5; i++) {
      expectError(await call(reg, 'GET', '/token', { authorization: basic('carol', `guess${i}`), ...fresh() }), 401, 'UNAUTHORIZED');
    }
    const own = fresh();
    assert.equal((await call(reg, 'GET', '/token', { authorization: basic('carol'), ...own })).status, 200, 'carol from her own address');
    for (let i = 5; i < 10; i++) {
      expectError(await call(reg, 'GET', '/token', { authorization: basic('carol', `guess${i}`), ...fresh() }), 401, 'UNAUTHORIZED', 'still compared: no lock');
    }
    assert.equal((await call(reg, 'GET', '/token', { authorization: basic('carol'), ...own })).status, 200, 'carol from her own address');
  });
});

describe('login throttling [basic]', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic', throttle: { maxFailures: 5, windowMs: 60_000 } });
  });
  after(() => reg.close());

  it('5 bad passwords on /v2 then 429 with Retry-After for that user from that address', async () => {
    const from = { 'x-forwarded-for': '192.0.2.7' };
    for (let i = 0; i < 5; i++) expectError(await call(reg, 'GET', '/v2/', { authorization: basic('alice', 'bad'), ...from }), 401, 'UNAUTHORIZED');
    const res = await call(reg, 'GET', '/v2/', { authorization: basic('alice'), ...from });
    expectError(res, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal((await call(reg, 'GET', '/v2/', { authorization: basic('bob'), ...from })).status, 200);
    assert.equal((await call(reg, 'GET', '/v2/', { authorization: basic('alice'), 'x-forwarded-for': '192.0.2.8' })).status, 200);
  });
});

describe('client address behind proxies', () => {
  it('X-Forwarded-For counts only from a trusted proxy: a direct client cannot pick a fresh address per guess', async () => {
    const untrusted = await startAuthRegistry({ mode: 'basic', throttle: { maxFailures: 3 }, trustedProxies: [] });
    try {
      for (let i = 0; i < 3; i++) {
        expectError(await call(untrusted, 'GET', '/v2/', { authorization: basic('alice', 'bad'), 'x-forwarded-for': `198.51.100.${i}` }), 401, 'UNAUTHORIZED');
      }
      expectError(await call(untrusted, 'GET', '/v2/', { authorization: basic('alice'), 'x-forwarded-for': '198.51.100.99' }), 429, 'TOOMANYREQUESTS');
    } finally {
      await untrusted.close();
    }
    const trusted = await startAuthRegistry({ mode: 'basic', throttle: { maxFailures: 3 }, trustedProxies: ['127.0.0.0/8'] });
    try {
      for (let i = 0; i < 3; i++) {
        expectError(await call(trusted, 'GET', '/v2/', { authorization: basic('alice', 'bad'), 'x-forwarded-for': '198.51.100.1' }), 401, 'UNAUTHORIZED');
      }
      expectError(await call(trusted, 'GET', '/v2/', { authorization: basic('alice'), 'x-forwarded-for': '198.51.100.1' }), 429, 'TOOMANYREQUESTS');
      assert.equal((await call(trusted, 'GET', '/v2/', { authorization: basic('alice'), 'x-forwarded-for': '198.51.100.2' })).status, 200, 'another client behind the proxy');
      // a spoofed hop in front of the real client's address: the proxy appended the real one, which counts
      expectError(await call(trusted, 'GET', '/v2/', { authorization: basic('alice'), 'x-forwarded-for': '203.0.113.5, 198.51.100.1' }), 429, 'TOOMANYREQUESTS');
    } finally {
      await trusted.close();
    }
  });
});

// Issue 11 item 2: the old code read the failure count before the asynchronous bcrypt compare and recorded
// the failure after it, so a parallel burst got a comparison each (and the right password a token).
for (const mode of ['token', 'basic'] as const) {
  describe(`a parallel burst from one address [${mode}]`, () => {
    let reg: AuthRegistry;
    before(async () => {
      // a real cost, so that comparisons overlap as they do in production
      reg = await startAuthRegistry({ mode, throttle: { maxFailures: 5, windowMs: 60_000 }, users: { text: `dave:${bcrypt.hashSync('dave-pass', 10)}` } });
    });
    after(() => reg.close());

    it('gets at most maxFailures password comparisons; the rest 429 at once', async () => {
      const from = { 'x-forwarded-for': '192.0.2.50' };
      const path = mode === 'token' ? '/token' : '/v2/';
      const wrong = Array.from({ length: 20 }, (_, i) => call(reg, 'GET', path, { authorization: basic('dave', `burst${i}`), ...from }));
      const right = call(reg, 'GET', path, { authorization: basic('dave', 'dave-pass'), ...from });
      const statuses = (await Promise.all([...wrong, right])).map((r) => r.status);
      const compared = statuses.filter((s) => s !== 429).length;
      assert.ok(compared <= 5, `at most 5 comparisons, got ${compared}: ${statuses.join(' ')}`);
      assert.ok(statuses.slice(0, 20).every((s) => s === 401 || s === 429), statuses.join(' '));
      assert.ok(statuses[20] === 429 || statuses[20] === 200, String(statuses[20]));
    });
  });
}

/**
 * The default token realm (token.realm unset) never comes from a Host header
 * (issue 11 item 6: the old code answered `Host: attacker.example` with
 * realm="http://attacker.example/token", so clients sent their passwords
 * there). It is the local address the request arrived on, or what a trusted
 * proxy forwarded in X-Forwarded-Proto/-Host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, startAuthRegistry } from './helpers.js';

const realmOf = (header: unknown) => /realm="([^"]*)"/.exec(String(header))?.[1];

describe('default token realm', () => {
  it('a Host header does not steer the realm, with or without a trusted proxy in between', async () => {
    for (const trustedProxies of [[], ['127.0.0.1']]) {
      const reg = await startAuthRegistry({ mode: 'token', trustedProxies });
      try {
        for (const host of ['attacker.example', 'attacker.example:443', '127.0.0.1.attacker.example']) {
          const res = await call(reg, 'GET', '/v2/', { host });
          assert.equal(res.status, 401);
          assert.equal(realmOf(res.headers['www-authenticate']), `${reg.url}/token`, `Host: ${host}`);
        }
      } finally {
        await reg.close();
      }
    }
  });

  it('X-Forwarded-Proto/-Host count only from a trusted proxy', async () => {
    const forwarded = { 'x-forwarded-host': 'registry.example.com', 'x-forwarded-proto': 'https' };
    const untrusted = await startAuthRegistry({ mode: 'token', trustedProxies: [] });
    try {
      const res = await call(untrusted, 'GET', '/v2/', forwarded);
      assert.equal(realmOf(res.headers['www-authenticate']), `${untrusted.url}/token`);
    } finally {
      await untrusted.close();
    }
    const trusted = await startAuthRegistry({ mode: 'token', trustedProxies: ['127.0.0.0/8'] });
    try {
      const res = await call(trusted, 'GET', '/v2/', forwarded);
      assert.equal(realmOf(res.headers['www-authenticate']), 'https://registry.example.com/token');
      const http = await call(trusted, 'GET', '/v2/', { 'x-forwarded-host': 'registry.example.com:5000' });
      assert.equal(realmOf(http.headers['www-authenticate']), 'http://registry.example.com:5000/token');
      const quoted = await call(trusted, 'GET', '/v2/', { 'x-forwarded-host': 'a"b' });
      assert.equal(realmOf(quoted.headers['www-authenticate']), `${trusted.url}/token`, 'an unusable forwarded host is not used');
    } finally {
      await trusted.close();
    }
  });

  it('a configured realm is used as is', async () => {
    const reg = await startAuthRegistry({ mode: 'token', realm: 'https://auth.example.com/token' });
    try {
      const res = await call(reg, 'GET', '/v2/', { host: 'attacker.example', 'x-forwarded-host': 'evil.example' });
      assert.equal(realmOf(res.headers['www-authenticate']), 'https://auth.example.com/token');
    } finally {
      await reg.close();
    }
  });
});

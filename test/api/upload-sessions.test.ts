/**
 * Upload sessions are scoped to their repository (issue 11 item 8: the old
 * code checked "busy" before looking the session up, so a session in use
 * answered 416 through another repository's path and an unknown one 404),
 * and capped per repository and per user beneath the global cap (item 7).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { expectError } from '../../support/http.js';
import { OciClient } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { basic, call, startAuthRegistry } from '../auth/helpers.js';

for (const kind of STORAGE_KINDS) {
  describe(`upload session scope [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    before(async () => {
      reg = await startRegistry(kind);
      client = new OciClient(reg.url);
    });
    after(() => reg.close());

    it('a session busy in its repository is unknown (404) through another repository, like an unknown id', async () => {
      const started = await client.fetch('/v2/private/x/blobs/uploads/', { method: 'POST' });
      assert.equal(started.status, 202);
      const id = started.headers.get('docker-upload-uuid')!;
      // a PATCH that streams and does not end keeps the session busy
      const { port } = new URL(reg.url);
      const patch = request({ host: '127.0.0.1', port, method: 'PATCH', path: `/v2/private/x/blobs/uploads/${id}`, headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, agent: false });
      const done = new Promise<number>((resolve, reject) => {
        patch.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        patch.on('error', reject);
      });
      patch.write(Buffer.alloc(1024, 1));
      try {
        // wait until the registry holds the session busy
        for (let i = 0; ; i++) {
          const busy = await client.fetch(`/v2/private/x/blobs/uploads/${id}`, { method: 'DELETE' });
          if (busy.status === 416) break;
          assert.ok(i < 100, `the session never became busy: ${busy.status}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        for (const [method, query] of [['PATCH', ''], ['PUT', `?digest=sha256:${'0'.repeat(64)}`], ['DELETE', ''], ['GET', '']] as const) {
          const res = await client.fetch(`/v2/public/y/blobs/uploads/${id}${query}`, { method, ...(method === 'GET' ? {} : { body: '' }) });
          await expectError(res, 404, 'BLOB_UPLOAD_UNKNOWN');
          const unknown = await client.fetch(`/v2/public/y/blobs/uploads/00000000-0000-4000-8000-000000000000${query}`, { method, ...(method === 'GET' ? {} : { body: '' }) });
          await expectError(unknown, 404, 'BLOB_UPLOAD_UNKNOWN');
        }
      } finally {
        patch.end();
      }
      assert.equal(await done, 202);
    });
  });
}

// Issue 11 item 7: the old code had only the global cap, so one user's 1024 sessions made everyone's uploads 429.
describe('upload session caps per repository and per user', () => {
  it('one repository or one user at its cap gets 429; other repositories and users still upload', async (t) => {
    const reg = await startAuthRegistry({ mode: 'basic', limits: { maxUploadSessions: 20, maxUploadSessionsPerRepository: 5, maxUploadSessionsPerUser: 8 } });
    t.after(() => reg.close());
    const post = (repo: string, user: string) => call(reg, 'POST', `/v2/${repo}/blobs/uploads/`, { authorization: basic(user) });
    for (let i = 0; i < 5; i++) assert.equal((await post('team-a/one', 'alice')).status, 202);
    const repoFull = await post('team-a/one', 'alice');
    await expectError(repoFull, 429, 'TOOMANYREQUESTS');
    assert.match(repoFull.body.toString(), /in repository team-a\/one \(limit 5\)/);
    assert.ok(Number(repoFull.headers['retry-after']) > 0);
    const locations: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post('team-a/two', 'alice');
      assert.equal(res.status, 202);
      locations.push(String(res.headers.location));
    }
    const userFull = await post('team-a/three', 'alice');
    await expectError(userFull, 429, 'TOOMANYREQUESTS');
    assert.match(userFull.body.toString(), /for user alice \(limit 8\)/);
    assert.equal((await post('team-b/x', 'bob')).status, 202, 'another user is not blocked');
    // cancelling a session frees a place
    assert.equal((await call(reg, 'DELETE', locations[0]!, { authorization: basic('alice') })).status, 204);
    assert.equal((await post('team-a/three', 'alice')).status, 202);
  });
});

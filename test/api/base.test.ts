// spec "Determining Support" (end-1), error envelope, route table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';

for (const kind of STORAGE_KINDS) {
  describe(`base API [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    before(async () => {
      reg = await startRegistry(kind);
      client = new OciClient(reg.url);
    });
    after(() => reg.close());

    it('GET /v2/ answers 200 {} with the API version header', async () => {
      for (const path of ['/v2/', '/v2']) {
        const res = await client.fetch(path);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
        assert.deepEqual(await res.json(), {});
      }
    });

    it('every /v2 answer, errors included, carries Docker-Distribution-API-Version', async () => {
      const res = await client.fetch('/v2/nope/manifests/latest');
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      await expectError(res, 404, 'NAME_UNKNOWN');
    });

    it('an unknown /v2 path is 404 with an error envelope', async () => {
      await expectError(await client.fetch('/v2/foo/bar'), 404, 'UNSUPPORTED');
      await expectError(await client.fetch('/v2/foo/blobs/'), 404, 'UNSUPPORTED');
    });

    it('a method a route does not have is 405 UNSUPPORTED with Allow', async () => {
      const res = await client.fetch('/v2/foo/tags/list', { method: 'POST' });
      assert.equal(res.headers.get('allow'), 'GET');
      await expectError(res, 405, 'UNSUPPORTED');
      await expectError(await client.fetch('/v2/foo/manifests/latest', { method: 'PATCH' }), 405, 'UNSUPPORTED');
      await expectError(await client.fetch('/v2/_catalog', { method: 'DELETE' }), 405, 'UNSUPPORTED');
    });

    it('invalid repository names are 400 NAME_INVALID', async () => {
      const bad = ['UPPER/case', 'a//b', 'a/-b', 'a%2Fb', 'x'.repeat(256), 'a..b', 'a%00b'];
      for (const name of bad) {
        await expectError(await client.fetch(`/v2/${name}/tags/list`), 400, 'NAME_INVALID');
      }
    });

    it('a name of exactly 255 characters is accepted', async () => {
      const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
      assert.equal(name.length, 255);
      await client.pushBlob(name, Buffer.from('x'));
      assert.equal((await client.fetch(`/v2/${name}/tags/list`)).status, 200);
    });
  });
}

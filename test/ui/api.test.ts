/**
 * The web UI's JSON API (/v2/_ferro/ui) over real HTTP, in the three auth
 * modes: what each caller sees and may delete is what the registry API lets
 * them pull and delete; details of an index, an image and its referrers;
 * deletes with their preview; the UI turned off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRegistryServer } from '../../src/server/app.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { OciClient } from '../../support/oci-client.js';
import { clientSink, pushPlatformImage, pushSampleSet, SBOM_TYPE, SIGNATURE_TYPE, type SampleSet } from '../../support/ui-images.js';
import { basic, SERVICE, startAuthRegistry, type AuthRegistry } from '../auth/helpers.js';

const UI = '/v2/_ferro/ui';

async function get(base: string, path: string, auth?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(base + path, { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const names = (body: { items: Array<{ name: string }> }) => body.items.map((r) => r.name);

describe('UI API with basic auth', () => {
  let reg: AuthRegistry;
  let samples: SampleSet;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic', server: true, storagePolicy: { immutableTags: [{ repositories: ['team-b/**'], tags: ['1.0'] }] } });
    const admin = clientSink(new OciClient(reg.url, { authorization: basic('admin') }));
    samples = await pushSampleSet(admin, 'team-b/app', 'public/charts');
    await pushPlatformImage(admin, 'team-a/app', 'amd64');
  });
  after(() => reg.close());

  test('each caller lists only the repositories they may pull, with tag counts and sizes', async () => {
    const anonymous = await get(reg.url, `${UI}/repositories`);
    assert.equal(anonymous.status, 200);
    assert.deepEqual(names(anonymous.body), ['public/charts']);
    assert.deepEqual(anonymous.body.session, { auth: 'basic' });
    assert.deepEqual(names((await get(reg.url, `${UI}/repositories`, basic('alice'))).body), ['public/charts', 'team-a/app']);
    const bob = (await get(reg.url, `${UI}/repositories`, basic('bob'))).body;
    assert.deepEqual(names(bob), ['public/charts', 'team-b/app']);
    assert.equal(bob.session.user, 'bob');
    const app = bob.items.find((r: { name: string }) => r.name === 'team-b/app');
    assert.equal(app.tags, 2);
    assert.ok(app.bytes >= samples.platforms.amd64.size - samples.platforms.amd64.manifestSize, `size ${app.bytes}`);
    assert.equal(typeof app.pushedAt, 'number');
    const all = (await get(reg.url, `${UI}/repositories?sort=size&search=APP`, basic('admin'))).body;
    assert.deepEqual(names(all), ['team-b/app', 'team-a/app']);
    assert.equal(all.total, 2);
  });

  test('a repository the caller may not pull: 401 with the challenge /v2 gives when anonymous, 403 when signed in', async () => {
    const anonymous = await get(reg.url, `${UI}/repository?name=team-a/app`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="ferro-test", charset="UTF-8"');
    assert.equal((await get(reg.url, `${UI}/image?name=team-b/app&ref=1.0`, basic('carol'))).status, 403);
    const wrong = await get(reg.url, `${UI}/repositories`, basic('alice', 'not-her-password'));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Basic realm="ferro-test", charset="UTF-8"');
  });

  test('delete rights: offered and allowed only with delete on the repository', async () => {
    assert.equal((await get(reg.url, `${UI}/repository?name=team-a/app`, basic('carol'))).body.canDelete, false);
    assert.equal((await get(reg.url, `${UI}/delete?name=team-a/app&ref=sha256:${'0'.repeat(64)}`, basic('alice'))).status, 403);
    const res = await fetch(`${reg.url}${UI}/delete?name=team-a/app&ref=x`, { method: 'DELETE', headers: { authorization: basic('carol') } });
    assert.equal(res.status, 403);
    assert.equal((await get(reg.url, `${UI}/repository?name=team-b/app`, basic('bob'))).body.canDelete, true);
  });

  test('an index: platforms, annotations, tags and referrers grouped by artifact type', async () => {
    const { status, body } = await get(reg.url, `${UI}/image?name=team-b/app&ref=1.0`, basic('bob'));
    assert.equal(status, 200);
    assert.equal(body.kind, 'index');
    assert.equal(body.digest, samples.index.digest);
    assert.deepEqual(body.platforms, ['linux/amd64', 'linux/arm64']);
    assert.equal(body.size, samples.index.size + samples.platforms.amd64.size + samples.platforms.arm64.size);
    assert.deepEqual(body.tags, ['1.0', 'latest']);
    assert.deepEqual(body.manifests.map((m: { digest: string; platform: string }) => [m.digest, m.platform]), [[samples.platforms.amd64.digest, 'linux/amd64'], [samples.platforms.arm64.digest, 'linux/arm64']]);
    assert.equal(body.annotations['org.opencontainers.image.source'], 'https://example.com/demo');
    assert.deepEqual(body.referrers.map((g: { group: string; artifactType: string; items: Array<{ digest: string }> }) => [g.group, g.artifactType, g.items.map((i) => i.digest)]), [
      ['signature', SIGNATURE_TYPE, [samples.signature]],
      ['sbom', SBOM_TYPE, [samples.sbom]],
    ]);
    assert.deepEqual(JSON.parse(body.raw).manifests.length, 2);
  });

  test('an image: config (created, entrypoint, labels, history) and layers with sizes', async () => {
    const amd64 = samples.platforms.amd64;
    const { body } = await get(reg.url, `${UI}/image?name=team-b/app&ref=${amd64.digest}`, basic('bob'));
    assert.equal(body.kind, 'image');
    assert.equal(body.size, amd64.size);
    assert.equal(body.config.created, '2026-11-30T12:00:00Z');
    assert.deepEqual(body.config.entrypoint, ['/bin/server']);
    assert.equal(body.config.labels.maintainer, 'ui-tests');
    assert.deepEqual(body.config.history.map((h: { createdBy: string }) => h.createdBy), ['ADD rootfs.tar /', 'COPY server /bin/server']);
    assert.deepEqual(body.layers.map((l: { digest: string; size: number }) => [l.digest, l.size]), amd64.layers.map((l) => [l.digest, l.size]));
    const chart = (await get(reg.url, `${UI}/image?name=public/charts&ref=0.1.0`)).body;
    assert.equal(chart.kind, 'artifact');
    assert.equal(chart.canDelete, false);
  });

  test('tags sorted by push time and untagged manifests on request', async () => {
    const { body } = await get(reg.url, `${UI}/repository?name=team-b/app&sort=name&untagged=true`, basic('bob'));
    assert.deepEqual(body.items.map((t: { tag: string }) => t.tag), ['1.0', 'latest']);
    assert.equal(body.items[0].immutable, true);
    assert.deepEqual(body.items[0].platforms, ['linux/amd64', 'linux/arm64']);
    const untagged = new Set(body.untagged.map((m: { digest: string }) => m.digest));
    for (const d of [samples.platforms.amd64.digest, samples.platforms.arm64.digest, samples.signature, samples.sbom]) assert.ok(untagged.has(d), d);
    assert.equal(body.untagged.find((m: { digest: string }) => m.digest === samples.signature).subject, samples.index.digest);
  });

  test('delete preview and delete: a tag, an immutable tag refused, a manifest with the bytes it alone holds', async () => {
    const preview = (await get(reg.url, `${UI}/delete?name=team-b/app&ref=latest`, basic('bob'))).body;
    assert.deepEqual(preview, { kind: 'tag', digest: samples.index.digest, tags: ['1.0', 'latest'], bytesFreed: 0 });
    const immutable = (await get(reg.url, `${UI}/delete?name=team-b/app&ref=1.0`, basic('bob'))).body;
    assert.equal(immutable.immutableTag, '1.0');
    const refused = await fetch(`${reg.url}${UI}/delete?name=team-b/app&ref=1.0`, { method: 'DELETE', headers: { authorization: basic('bob') } });
    assert.equal(refused.status, 409);
    const arm64 = samples.platforms.arm64;
    const manifest = (await get(reg.url, `${UI}/delete?name=team-b/app&ref=${arm64.digest}`, basic('bob'))).body;
    assert.equal(manifest.kind, 'manifest');
    assert.equal(manifest.bytesFreed, arm64.size - arm64.manifestSize);
    const deleted = await fetch(`${reg.url}${UI}/delete?name=team-b/app&ref=latest`, { method: 'DELETE', headers: { authorization: basic('bob') } });
    assert.equal(deleted.status, 202);
    assert.equal((await fetch(`${reg.url}/v2/team-b/app/manifests/latest`, { headers: { authorization: basic('bob') } })).status, 404);
    assert.equal((await fetch(`${reg.url}/v2/team-b/app/manifests/1.0`, { headers: { authorization: basic('bob') } })).status, 200);
  });

  test('bad parameters are 400 with the OCI error envelope; the gc report is for administrators', async () => {
    for (const query of ['repositories?perPage=0', 'repositories?sort=bogus', 'repositories?page=x', 'repository', 'image?name=team-b/app']) {
      const res = await get(reg.url, `${UI}/${query}`, basic('admin'));
      assert.equal(res.status, 400, query);
      assert.ok(res.body.errors[0].message, query);
    }
    assert.equal((await get(reg.url, `${UI}/gc`, basic('bob'))).status, 403);
    assert.deepEqual((await get(reg.url, `${UI}/gc`, basic('admin'))).body, { last: null });
  });
});

describe('UI API with token auth', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'token', server: true });
    const token = await fetch(`${reg.url}/token?service=${SERVICE}&scope=repository:team-b/app:push,pull`, { headers: { authorization: basic('bob') } });
    const client = new OciClient(reg.url, { authorization: `Bearer ${((await token.json()) as { token: string }).token}` });
    await pushPlatformImage(clientSink(client), 'team-b/app', 'amd64');
  });
  after(() => reg.close());

  test('the session names the token endpoint; a token from it shows the user what their rules allow', async () => {
    assert.deepEqual((await get(reg.url, `${UI}/session`)).body, { auth: 'token', service: SERVICE, tokenPath: '/token' });
    assert.deepEqual(names((await get(reg.url, `${UI}/repositories`)).body), []);
    const form = new URLSearchParams({ grant_type: 'password', username: 'bob', password: 'bob-pass', service: SERVICE, client_id: 'ferro-oci-ui', access_type: 'offline' });
    const answer = (await (await fetch(`${reg.url}/token`, { method: 'POST', body: form })).json()) as { access_token: string; refresh_token: string };
    assert.ok(answer.refresh_token);
    const bearer = `Bearer ${answer.access_token}`;
    const list = (await get(reg.url, `${UI}/repositories`, bearer)).body;
    assert.deepEqual(names(list), ['team-b/app']);
    assert.equal(list.session.user, 'bob');
    assert.equal((await get(reg.url, `${UI}/repository?name=team-b/app`, bearer)).body.canDelete, true);
    assert.equal((await get(reg.url, `${UI}/repository?name=team-a/app`, bearer)).status, 403);
    const bad = await get(reg.url, `${UI}/repositories`, 'Bearer not.a.token');
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('www-authenticate'), `Bearer realm="${reg.url}/token",service="registry.test",error="invalid_token"`);
    const anonymous = await get(reg.url, `${UI}/image?name=team-b/app&ref=1.0`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="${reg.url}/token",service="registry.test",scope="repository:team-b/app:pull"`);
  });
});

test('CORS: preflights from an allowed origin are answered without credentials, other origins get no CORS header', async () => {
  const reg = await startAuthRegistry({ mode: 'basic', server: true, cors: { origins: ['https://ui.example.com'] } });
  try {
    const preflight = (origin: string) =>
      fetch(`${reg.url}${UI}/repository?name=team-a/app`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    const allowed = await preflight('https://ui.example.com');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://ui.example.com');
    assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const other = await preflight('https://evil.example.com');
    assert.notEqual(other.status, 204);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const real = await fetch(`${reg.url}/v2/`, { headers: { origin: 'https://ui.example.com' } });
    assert.equal(real.status, 401);
    assert.equal(real.headers.get('access-control-allow-origin'), 'https://ui.example.com');
    assert.match(real.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/);
  } finally {
    await reg.close();
  }
});

describe('UI API without auth, and turned off', () => {
  test('without auth everything is visible and deletable; ui: false serves neither the page nor the API', async () => {
    for (const ui of [undefined, false] as const) {
      const blobStore = new MemoryBlobStore();
      const metadataStore = new MemoryMetadataStore();
      const app = await createRegistryServer({ blobStore, metadataStore, sweepIntervalMs: 0, ...(ui === false ? { ui } : {}) });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      try {
        await pushPlatformImage(clientSink(new OciClient(base)), 'open/app', 'amd64');
        const page = await fetch(`${base}/ui/`);
        const repo = await get(base, `${UI}/repository?name=open/app`);
        if (ui === false) {
          assert.equal(page.status, 404);
          assert.notEqual(repo.status, 200);
        } else {
          assert.equal(page.status, 200);
          assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
          assert.match(await page.text(), /<script type="module" src="\/ui\/app\.js">/);
          assert.equal(repo.status, 200);
          assert.equal(repo.body.canDelete, true);
          assert.deepEqual((await get(base, `${UI}/session`)).body, { auth: 'none' });
        }
      } finally {
        await app.close();
      }
    }
  });
});

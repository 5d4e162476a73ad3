// What distribution-spec-next (the draft after v1.1.1) and image-spec's move to
// I-JSON change; each suite names the draft's section it checks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkStores } from '../../src/services/check.js';
import { fetchRaw } from '../../support/http.js';
import { expectError, OciClient, randomBlob } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const tagQuery = (tags: readonly string[]) => tags.map((t) => `tag=${encodeURIComponent(t)}`).join('&');

for (const kind of STORAGE_KINDS) {
  describe(`distribution-spec-next [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    before(async () => {
      reg = await startRegistry(kind, { storagePolicy: { immutableTags: [{ repositories: ['frozen/**'], tags: ['v*'] }] } });
      client = new OciClient(reg.url);
    });
    after(() => reg.close());

    const tagsOf = async (repo: string) => ((await (await client.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];
    const digestOfTag = async (repo: string, tag: string) => (await client.fetch(`/v2/${repo}/manifests/${tag}`, { method: 'HEAD' })).headers.get('docker-content-digest');
    /** PUT /v2/<repo>/manifests/<digest>?tag=…, read as sent. */
    const putWithTags = (repo: string, digest: string, bytes: Uint8Array, tags: readonly string[], mediaType = OCI_MANIFEST) =>
      fetchRaw(`${reg.url}/v2/${repo}/manifests/${digest}?${tagQuery(tags)}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes });
    const ociTags = (lines: ReadonlyArray<readonly [string, string]>) => lines.filter(([name]) => name === 'oci-tag').map(([, value]) => value);

    describe('"Pushing Manifests": several tags in one request (end-7b)', () => {
      it('PUT by digest with 10 tag parameters: 201, one OCI-Tag header per tag, and every tag pulls the manifest', async () => {
        const image = await client.pushImage('multi/app', 'seed');
        const tags = ['1.2.3', '1.2', '1', 'latest', 'stable', 'v1', 'v1.2', 'v1.2.3', 'prod', 'x_1'];
        const res = await putWithTags('multi/app', image.digest, image.bytes, tags);
        assert.equal(res.status, 201, res.body.toString());
        assert.deepEqual(ociTags(res.headerLines), tags);
        assert.equal(res.headerLines.find(([n]) => n === 'docker-content-digest')?.[1], image.digest);
        for (const tag of tags) assert.equal(await digestOfTag('multi/app', tag), image.digest, tag);
        assert.deepEqual((await tagsOf('multi/app')).sort(), [...tags, 'seed'].sort());
      });

      it('moves tags that pointed at another manifest; a repeated tag is set and answered once', async () => {
        const first = await client.pushImage('multi/move', 'latest');
        const second = await client.pushImage('multi/move', 'other');
        const res = await putWithTags('multi/move', second.digest, second.bytes, ['latest', 'new', 'latest']);
        assert.equal(res.status, 201, res.body.toString());
        assert.deepEqual(ociTags(res.headerLines), ['latest', 'new']);
        assert.equal(await digestOfTag('multi/move', 'latest'), second.digest);
        assert.equal(await digestOfTag('multi/move', 'new'), second.digest);
        assert.equal((await client.fetch(`/v2/multi/move/manifests/${first.digest}`)).status, 200, 'the manifest the tag left stays');
      });

      it('more tags than the limit (100 by default) is 414, and none is set', async () => {
        const image = await client.pushImage('multi/many', 'seed');
        const tags = Array.from({ length: 101 }, (_, i) => `t${i}`);
        const res = await client.fetch(`/v2/multi/many/manifests/${image.digest}?${tagQuery(tags)}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: image.bytes });
        await expectError(res, 414, 'UNSUPPORTED');
        assert.deepEqual(await tagsOf('multi/many'), ['seed']);
        assert.equal((await putWithTags('multi/many', image.digest, image.bytes, tags.slice(0, 100))).status, 201, '100 tags are accepted');
      });

      it('an invalid tag among them is 400 MANIFEST_INVALID and none is set; tag parameters on a push by tag are 400 UNSUPPORTED', async () => {
        const image = await client.pushImage('multi/bad', 'seed');
        const bad = await client.fetch(`/v2/multi/bad/manifests/${image.digest}?${tagQuery(['good', '-bad'])}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: image.bytes });
        const body = await expectError(bad, 400, 'MANIFEST_INVALID');
        assert.match(body.errors[0]!.message, /invalid tag "-bad"/);
        const byTag = await client.fetch(`/v2/multi/bad/manifests/seed?tag=more`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: image.bytes });
        await expectError(byTag, 400, 'UNSUPPORTED');
        assert.deepEqual(await tagsOf('multi/bad'), ['seed']);
      });

      it('immutable-tag rules hold for each tag: one taken refuses the whole push, the others are not moved', async () => {
        const first = await client.pushImage('frozen/app', 'seed');
        assert.equal((await putWithTags('frozen/app', first.digest, first.bytes, ['v1', 'latest'])).status, 201);
        const second = await client.pushImage('frozen/app', 'seed2');
        const refused = await client.fetch(`/v2/frozen/app/manifests/${second.digest}?${tagQuery(['latest', 'v1'])}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: second.bytes });
        const body = await expectError(refused, 409, 'DENIED');
        assert.match(body.errors[0]!.message, /tag v1 of repository frozen\/app is immutable/);
        assert.equal(await digestOfTag('frozen/app', 'latest'), first.digest, 'latest was not moved');
        const res = await putWithTags('frozen/app', second.digest, second.bytes, ['latest', 'v2', 'v1.0']);
        assert.equal(res.status, 201, res.body.toString());
        assert.deepEqual(ociTags(res.headerLines), ['latest', 'v2', 'v1.0']);
        assert.equal(await digestOfTag('frozen/app', 'v1'), first.digest);
      });
    });

    describe('"Pushing Manifests", "Checking if content exists in the registry": manifests addressed by sha512', () => {
      /** sha512 config and layer blobs, an image manifest and an index over it, both by sha512 digest; the index is not pushed. */
      const pushSha512Image = async (repo: string) => {
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBlob(8).toString('hex') }));
        const layer = randomBlob(700);
        const blobs = [await client.pushBlob(repo, config, 'sha512'), await client.pushBlob(repo, layer, 'sha512')];
        const image = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: { mediaType: CONFIG, digest: blobs[0], size: config.length },
            layers: [{ mediaType: LAYER, digest: blobs[1], size: layer.length }],
          }),
        );
        const imageRes = await client.putManifest(repo, digestOf(image, 'sha512'), image);
        assert.equal(imageRes.status, 201, await imageRes.text());
        const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: digestOf(image, 'sha512'), size: image.length }] }));
        return { blobs, image: digestOf(image, 'sha512'), index, indexDigest: digestOf(index, 'sha512') };
      };
      /** Deletes the index, its child and the blobs by digest; then nothing may reference the deleted content. */
      const deleteAllAndCheck = async (repo: string, pushed: Awaited<ReturnType<typeof pushSha512Image>>) => {
        for (const path of [`manifests/${pushed.indexDigest}`, `manifests/${pushed.image}`, ...pushed.blobs.map((b) => `blobs/${b}`)]) {
          const res = await client.fetch(`/v2/${repo}/${path}`, { method: 'DELETE' });
          assert.equal(res.status, 202, `${path}: ${await res.text()}`);
        }
        const report = await checkStores(reg.blobStore, reg.metadataStore);
        assert.deepEqual(report.problems, [], 'check finds no manifest still referencing the deleted content');
      };

      it('pushed by its sha512 digest with ?tag=: answered by tag and by digest with the sha512 Docker-Content-Digest; no sha256 copy', async () => {
        const pushed = await pushSha512Image('s512/tagged');
        const res = await putWithTags('s512/tagged', pushed.indexDigest, pushed.index, ['multi', 'latest'], OCI_INDEX);
        assert.equal(res.status, 201, res.body.toString());
        assert.deepEqual(ociTags(res.headerLines), ['multi', 'latest']);
        for (const ref of ['multi', 'latest', pushed.indexDigest]) {
          for (const method of ['GET', 'HEAD']) {
            const got = await client.fetch(`/v2/s512/tagged/manifests/${ref}`, { method, headers: { accept: OCI_INDEX } });
            assert.equal(got.status, 200, `${method} ${ref}`);
            assert.equal(got.headers.get('docker-content-digest'), pushed.indexDigest, `${method} ${ref}`);
          }
        }
        assert.equal((await client.fetch(`/v2/s512/tagged/manifests/${digestOf(pushed.index)}`)).status, 404, 'no sha256-addressed copy');
        await deleteAllAndCheck('s512/tagged', pushed);
        assert.deepEqual(await tagsOf('s512/tagged'), []);
      });

      it('a push by tag of bytes held under their sha512 digest tags that manifest (a client without ?tag=): no sha256 copy keeps references', async () => {
        const pushed = await pushSha512Image('s512/fallback');
        assert.equal((await client.putManifest('s512/fallback', pushed.indexDigest, pushed.index, OCI_INDEX)).status, 201);
        const byTag = await client.putManifest('s512/fallback', 'multi', pushed.index, OCI_INDEX);
        assert.equal(byTag.status, 201, await byTag.text());
        assert.equal(byTag.headers.get('docker-content-digest'), pushed.indexDigest);
        assert.equal(byTag.headers.get('location'), `/v2/s512/fallback/manifests/${pushed.indexDigest}`);
        assert.equal(await digestOfTag('s512/fallback', 'multi'), pushed.indexDigest);
        assert.equal((await client.fetch(`/v2/s512/fallback/manifests/${digestOf(pushed.index)}`)).status, 404, 'no sha256-addressed copy');
        await deleteAllAndCheck('s512/fallback', pushed);
      });

      it('a push by tag names its algorithm with ?digest-algorithm= ("Pushing blobs": an unsupported one is 400); sha256 otherwise', async () => {
        const image = await client.pushImage('s512/algo', 'seed');
        const bytes = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { variant: 'sha512' } }));
        const res = await client.fetch('/v2/s512/algo/manifests/v512?digest-algorithm=sha512', { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: bytes });
        assert.equal(res.status, 201, await res.text());
        assert.equal(res.headers.get('docker-content-digest'), digestOf(bytes, 'sha512'));
        assert.equal(await digestOfTag('s512/algo', 'v512'), digestOf(bytes, 'sha512'));
        assert.equal(await digestOfTag('s512/algo', 'seed'), image.digest, 'sha256 without the parameter');
        const md5 = await client.fetch('/v2/s512/algo/manifests/v5?digest-algorithm=md5', { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: bytes });
        await expectError(md5, 400, 'DIGEST_INVALID');
        const mismatch = await client.fetch(`/v2/s512/algo/manifests/${digestOf(bytes)}?digest-algorithm=sha512`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: bytes });
        await expectError(mismatch, 400, 'DIGEST_INVALID');
      });
    });

    describe('image-spec: manifests are I-JSON (RFC 7493)', () => {
      const base = async (repo: string) => {
        const image = await client.pushImage(repo, 'seed');
        return { image, config: JSON.stringify(image.manifest.config), layers: JSON.stringify(image.manifest.layers) };
      };

      it('a duplicate member name, at any depth, is 400 MANIFEST_INVALID naming it, and nothing is stored', async () => {
        const { image, config, layers } = await base('ijson/dup');
        const desc = image.manifest.config;
        const cases = [
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"layers":[]}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${desc.mediaType}","digest":"${desc.digest}","size":${desc.size},"digest":"${digestOf(Buffer.from('other'))}"},"layers":${layers}}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"annotations":{"org.opencontainers.image.ref.name":"a","org.opencontainers.image.ref.name":"b"}}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"annotations":{"k":"a","\\u006b":"b"}}`,
        ];
        for (const [i, text] of cases.entries()) {
          const body = await expectError(await client.putManifest('ijson/dup', `dup${i}`, text), 400, 'MANIFEST_INVALID');
          assert.match(body.errors[0]!.message, /appears twice in one object/, text);
          assert.equal((await client.fetch(`/v2/ijson/dup/manifests/${digestOf(Buffer.from(text))}`)).status, 404);
        }
        assert.deepEqual(await tagsOf('ijson/dup'), ['seed']);
      });

      it('invalid UTF-8, a lone surrogate, a noncharacter or a number beyond a double is 400 MANIFEST_INVALID', async () => {
        const { config, layers } = await base('ijson/text');
        const withAnnotation = (value: string) => `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"annotations":{"k":${value}}}`;
        const cases: Array<[string | Buffer, RegExp]> = [
          [Buffer.concat([Buffer.from(withAnnotation('"')), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]), /UTF-8/],
          [withAnnotation('"\\ud800"'), /unpaired surrogate/],
          [withAnnotation('"\\uffff"'), /noncharacter/],
          [`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"platform":{"n":1e400}}`, /range of a double/],
        ];
        for (const [text, why] of cases) {
          const body = await expectError(await client.putManifest('ijson/text', 'bad', text), 400, 'MANIFEST_INVALID');
          assert.match(body.errors[0]!.message, why);
        }
        assert.equal((await client.putManifest('ijson/text', 'emoji', withAnnotation('"\\ud83d\\ude00"'))).status, 201, 'a surrogate pair is fine');
      });

      it('a descriptor with a negative size is refused: config, layer, index entry, subject', async () => {
        const { image, config, layers } = await base('ijson/size');
        const negative = (d: { mediaType: string; digest: string }) => JSON.stringify({ ...d, size: -1 });
        const cases = [
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${negative(image.manifest.config)},"layers":${layers}}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":[${negative(image.manifest.layers[0]!)}]}`,
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${config},"layers":${layers},"subject":${negative({ mediaType: OCI_MANIFEST, digest: image.digest })}}`,
        ];
        for (const text of cases) {
          const body = await expectError(await client.putManifest('ijson/size', 'neg', text), 400, 'MANIFEST_INVALID');
          assert.match(body.errors[0]!.message, /size must be a non-negative integer/);
        }
        const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: -image.bytes.length }] });
        await expectError(await client.putManifest('ijson/size', 'neg', index, OCI_INDEX), 400, 'MANIFEST_INVALID');
        assert.deepEqual(await tagsOf('ijson/size'), ['seed']);
      });
    });

    describe('"Registry Proxying": the ns query parameter', () => {
      it('a pull with ?ns=<source host> is served as without it, and without OCI-Namespace (this registry does not scope by ns)', async () => {
        const image = await client.pushImage('proxy/app', 'v1');
        for (const ns of ['docker.io', 'registry.example.org:5000', 'localhost', '[::1]:5000']) {
          const q = `ns=${encodeURIComponent(ns)}`;
          for (const path of [`/v2/proxy/app/manifests/v1?${q}`, `/v2/proxy/app/manifests/${image.digest}?${q}`, `/v2/proxy/app/blobs/${image.configDigest}?${q}`, `/v2/proxy/app/tags/list?${q}`]) {
            const res = await client.fetch(path);
            assert.equal(res.status, 200, `${path}: ${await res.text()}`);
            assert.equal(res.headers.get('oci-namespace'), null, path);
          }
        }
      });

      it('an ns that is no registry host is 400 NAME_INVALID saying so', async () => {
        await client.pushImage('proxy/bad', 'v1');
        for (const ns of ['not a host', 'docker.io/library', '-x.example', 'host:port', '']) {
          const res = await client.fetch(`/v2/proxy/bad/manifests/v1?ns=${encodeURIComponent(ns)}`);
          const body = await expectError(res, 400, 'NAME_INVALID');
          assert.match(body.errors[0]!.message, /is not a registry host/);
        }
      });
    });

    describe('"Pulling manifests", "Pulling blobs", "Checking if content exists in the registry": Docker-Content-Digest MUST be on every GET and HEAD', () => {
      it('manifests by tag and digest, blobs whole, ranged and by sha512, each with Docker-Content-Digest; HEAD with Content-Length', async () => {
        const image = await client.pushImage('dcd/app', 'v1');
        const layer = image.layers[0]!;
        const blob512 = randomBlob(300);
        const d512 = await client.pushBlob('dcd/app', blob512, 'sha512');
        const cases: Array<[string, string, Record<string, string>, string, number]> = [
          ['/v2/dcd/app/manifests/v1', 'GET', {}, image.digest, image.bytes.length],
          ['/v2/dcd/app/manifests/v1', 'HEAD', {}, image.digest, image.bytes.length],
          [`/v2/dcd/app/manifests/${image.digest}`, 'GET', {}, image.digest, image.bytes.length],
          [`/v2/dcd/app/manifests/${image.digest}`, 'HEAD', {}, image.digest, image.bytes.length],
          [`/v2/dcd/app/blobs/${layer.digest}`, 'GET', {}, layer.digest, layer.bytes.length],
          [`/v2/dcd/app/blobs/${layer.digest}`, 'HEAD', {}, layer.digest, layer.bytes.length],
          [`/v2/dcd/app/blobs/${layer.digest}`, 'GET', { range: 'bytes=0-9' }, layer.digest, 10],
          [`/v2/dcd/app/blobs/${d512}`, 'GET', {}, d512, blob512.length],
          [`/v2/dcd/app/blobs/${d512}`, 'HEAD', {}, d512, blob512.length],
        ];
        for (const [path, method, headers, digest, length] of cases) {
          const res = await client.fetch(path, { method, headers });
          assert.ok(res.status === 200 || res.status === 206, `${method} ${path}: ${res.status}`);
          assert.equal(res.headers.get('docker-content-digest'), digest, `${method} ${path} ${JSON.stringify(headers)}`);
          assert.equal(res.headers.get('content-length'), String(length), `${method} ${path}`);
          await res.arrayBuffer();
        }
      });
    });

    describe('"Pushing a blob in chunks": the digest-algorithm parameter (end-4c)', () => {
      it('POST ?digest-algorithm=sha512 opens a session that takes a sha512 digest; an unsupported algorithm is 400 DIGEST_INVALID', async () => {
        const start = await client.fetch('/v2/algo/blob/blobs/uploads/?digest-algorithm=sha512', { method: 'POST' });
        assert.equal(start.status, 202, await start.text());
        const bytes = randomBlob(1000);
        const location = start.headers.get('location')!;
        const put = await client.fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${digestOf(bytes, 'sha512')}`, { method: 'PUT', body: bytes });
        assert.equal(put.status, 201, await put.text());
        assert.equal(put.headers.get('docker-content-digest'), digestOf(bytes, 'sha512'));
        await expectError(await client.fetch('/v2/algo/blob/blobs/uploads/?digest-algorithm=sha1', { method: 'POST' }), 400, 'DIGEST_INVALID');
      });

      it('"Pushing blobs": a client digest that is invalid or of an unsupported algorithm is 400 DIGEST_INVALID, and nothing is stored', async () => {
        const bytes = randomBlob(100);
        for (const digest of [`md5:${'0'.repeat(32)}`, 'sha256:xyz', `sha256:${'A'.repeat(64)}`]) {
          await expectError(await client.fetch(`/v2/algo/bad/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes }), 400, 'DIGEST_INVALID');
          const start = await client.fetch('/v2/algo/bad/blobs/uploads/', { method: 'POST' });
          await expectError(await client.fetch(`${start.headers.get('location')}?digest=${digest}`, { method: 'PUT', body: bytes }), 400, 'DIGEST_INVALID');
        }
        assert.equal((await client.fetch(`/v2/algo/bad/blobs/${digestOf(bytes)}`, { method: 'HEAD' })).status, 404);
      });
    });
  });
}

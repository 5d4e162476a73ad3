// spec "Pulling manifests", "Pushing Manifests", "Deleting tags", "Deleting Manifests" (end-3, end-7, end-9).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

for (const kind of STORAGE_KINDS) {
  describe(`manifests [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    before(async () => {
      reg = await startRegistry(kind, { limits: { maxManifestSize: 64 * 1024 } });
      client = new OciClient(reg.url);
    });
    after(() => reg.close());

    it('PUT by tag: 201 with Location and Docker-Content-Digest; GET and HEAD serve the exact bytes', async () => {
      const image = await client.pushImage('m/a', 'v1');
      const getByTag = await client.fetch('/v2/m/a/manifests/v1');
      assert.equal(getByTag.status, 200);
      assert.equal(getByTag.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(getByTag.headers.get('docker-content-digest'), image.digest);
      assert.equal(getByTag.headers.get('content-length'), String(image.bytes.length));
      assert.deepEqual(Buffer.from(await getByTag.arrayBuffer()), image.bytes);
      const byDigest = await client.fetch(`/v2/m/a/manifests/${image.digest}`);
      assert.deepEqual(Buffer.from(await byDigest.arrayBuffer()), image.bytes);
      const head = await client.fetch('/v2/m/a/manifests/v1', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(image.bytes.length));
      assert.equal(head.headers.get('docker-content-digest'), image.digest);
      assert.equal((await head.arrayBuffer()).byteLength, 0);
    });

    it('stores the exact bytes pushed, whitespace and key order included', async () => {
      const image = await client.pushImage('m/exact', 'base');
      const odd = `{\n  "schemaVersion" : 2,\n"layers":${JSON.stringify(image.manifest.layers)},  "config": ${JSON.stringify(image.manifest.config)}, "mediaType":"${OCI_MANIFEST}"\n}\n`;
      const res = await client.putManifest('m/exact', 'odd', odd);
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('docker-content-digest'), digestOf(Buffer.from(odd)));
      assert.equal(await (await client.fetch('/v2/m/exact/manifests/odd')).text(), odd);
    });

    it('PUT by digest checks the digest; sha512 references are supported', async () => {
      const image = await client.pushImage('m/bydigest', 'x');
      assert.equal((await client.putManifest('m/bydigest', image.digest, image.bytes)).status, 201);
      const d512 = digestOf(image.bytes, 'sha512');
      const res = await client.putManifest('m/bydigest', d512, image.bytes);
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('docker-content-digest'), d512);
      assert.deepEqual(Buffer.from(await (await client.fetch(`/v2/m/bydigest/manifests/${d512}`)).arrayBuffer()), image.bytes);
      await expectError(await client.putManifest('m/bydigest', digestOf(Buffer.from('other')), image.bytes), 400, 'DIGEST_INVALID');
    });

    it('a missing config or layer is 400 MANIFEST_BLOB_UNKNOWN naming it; a wrong size too', async () => {
      const image = await client.pushImage('m/refs', 'ok');
      const missing = { ...image.manifest, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(Buffer.from('absent')), size: 6 }] };
      const body = await expectError(await client.putManifest('m/refs', 'bad', missing), 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.match(body.errors[0]!.message, new RegExp(digestOf(Buffer.from('absent'))));
      const wrongSize = { ...image.manifest, config: { ...image.manifest.config, size: image.config.length + 1 } };
      await expectError(await client.putManifest('m/refs', 'bad', wrongSize), 400, 'MANIFEST_BLOB_UNKNOWN');
      await expectError(await client.fetch('/v2/m/refs/manifests/bad'), 404, 'MANIFEST_UNKNOWN');
      // blobs are repository-scoped: the same manifest in another repository lacks them
      await expectError(await client.putManifest('m/refs-other', 'x', image.bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('invalid manifests are 400 MANIFEST_INVALID', async () => {
      const image = await client.pushImage('m/invalid', 'ok');
      const cases: Array<[string, string]> = [
        ['not json', OCI_MANIFEST],
        ['[]', OCI_MANIFEST],
        [JSON.stringify({ ...image.manifest, schemaVersion: 1 }), OCI_MANIFEST],
        [JSON.stringify({ ...image.manifest, config: { digest: 'sha256:1', size: 1, mediaType: 'a/b' } }), OCI_MANIFEST],
        [JSON.stringify({ ...image.manifest, layers: 'nope' }), OCI_MANIFEST],
        [JSON.stringify({ ...image.manifest, config: { ...image.manifest.config, size: -1 } }), OCI_MANIFEST],
        [JSON.stringify(image.manifest), OCI_INDEX], // Content-Type disagrees with mediaType
        [JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json' }), 'application/vnd.example+json'],
        ['['.repeat(10_000) + ']'.repeat(10_000), OCI_MANIFEST],
      ];
      for (const [body, type] of cases) {
        await expectError(await client.putManifest('m/invalid', 'bad', body, type), 400, 'MANIFEST_INVALID');
      }
      await expectError(await client.putManifest('m/invalid', '-badtag', image.bytes), 400, 'MANIFEST_INVALID');
    });

    it('a manifest over the size limit is 413', async () => {
      const image = await client.pushImage('m/big', 'ok');
      const big = { ...image.manifest, annotations: { pad: 'x'.repeat(70 * 1024) } };
      await expectError(await client.putManifest('m/big', 'big', big), 413, 'SIZE_INVALID');
    });

    it('accepts an image index whose children exist, and refuses one whose children do not', async () => {
      const a = await client.pushImage('m/index', 'amd64');
      const b = await client.pushImage('m/index', 'arm64');
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: a.digest, size: a.bytes.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: OCI_MANIFEST, digest: b.digest, size: b.bytes.length, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      };
      const res = await client.putManifest('m/index', 'multi', index, OCI_INDEX);
      assert.equal(res.status, 201, await res.text());
      assert.equal((await client.fetch('/v2/m/index/manifests/multi')).headers.get('content-type'), OCI_INDEX);
      const bad = { ...index, manifests: [...index.manifests, { mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from('nope')), size: 4 }] };
      await expectError(await client.putManifest('m/index', 'bad', bad, OCI_INDEX), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('accepts Docker schema2 manifests and manifest lists', async () => {
      const image = await client.pushImage('m/docker', 'oci');
      const docker = {
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: image.configDigest, size: image.config.length },
        layers: image.layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.bytes.length })),
      };
      const dockerBytes = Buffer.from(JSON.stringify(docker));
      assert.equal((await client.putManifest('m/docker', 'v2', dockerBytes, DOCKER_MANIFEST)).status, 201);
      assert.equal((await client.fetch('/v2/m/docker/manifests/v2')).headers.get('content-type'), DOCKER_MANIFEST);
      const list = { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ mediaType: DOCKER_MANIFEST, digest: digestOf(dockerBytes), size: dockerBytes.length, platform: { architecture: 'amd64', os: 'linux' } }] };
      assert.equal((await client.putManifest('m/docker', 'list', list, DOCKER_LIST)).status, 201);
      assert.equal((await client.fetch('/v2/m/docker/manifests/list')).headers.get('content-type'), DOCKER_LIST);
    });

    it('accepts an OCI artifact with an empty config and any artifactType; answers OCI-Subject', async () => {
      const subject = await client.pushImage('m/artifact', 'subject');
      const empty = await client.pushBlob('m/artifact', Buffer.from('{}'));
      const layer = await client.pushBlob('m/artifact', Buffer.from('signature'));
      const artifact = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sig.v1',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [{ mediaType: 'text/plain', digest: layer, size: 9 }],
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length },
      };
      const bytes = Buffer.from(JSON.stringify(artifact));
      const res = await client.putManifest('m/artifact', digestOf(bytes), bytes);
      assert.equal(res.status, 201, await res.text());
      assert.equal(res.headers.get('oci-subject'), subject.digest);
      // a subject need not exist (spec "Push": MUST accept)
      const dangling = { ...artifact, subject: { mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from('not pushed yet')), size: 10 } };
      const res2 = await client.putManifest('m/artifact', 'dangling', dangling);
      assert.equal(res2.status, 201);
      assert.equal(res2.headers.get('oci-subject'), digestOf(Buffer.from('not pushed yet')));
    });

    it('DELETE by tag removes only the tag; by digest the manifest and every tag on it', async () => {
      const image = await client.pushImage('m/del', 't1');
      assert.equal((await client.putManifest('m/del', 't2', image.bytes)).status, 201);
      assert.equal((await client.putManifest('m/del', 't3', image.bytes)).status, 201);
      assert.equal((await client.fetch('/v2/m/del/manifests/t1', { method: 'DELETE' })).status, 202);
      await expectError(await client.fetch('/v2/m/del/manifests/t1'), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await client.fetch('/v2/m/del/manifests/t2')).status, 200);
      assert.equal((await client.fetch(`/v2/m/del/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
      await expectError(await client.fetch(`/v2/m/del/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch('/v2/m/del/manifests/t2'), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch('/v2/m/del/manifests/t3'), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual(await (await client.fetch('/v2/m/del/tags/list')).json(), { name: 'm/del', tags: [] });
      await expectError(await client.fetch(`/v2/m/del/manifests/${image.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    it('moving a tag points it at the new manifest', async () => {
      const one = await client.pushImage('m/move', 'latest');
      const two = await client.pushImage('m/move', 'latest');
      const res = await client.fetch('/v2/m/move/manifests/latest');
      assert.equal(res.headers.get('docker-content-digest'), two.digest);
      assert.equal((await client.fetch(`/v2/m/move/manifests/${one.digest}`)).status, 200, 'the untagged manifest stays by digest');
    });

    it('unknown manifests are 404: MANIFEST_UNKNOWN in a repository, NAME_UNKNOWN without one', async () => {
      await client.pushImage('m/known', 'x');
      await expectError(await client.fetch('/v2/m/known/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch(`/v2/m/known/manifests/${digestOf(Buffer.from('nope'))}`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch('/v2/m/unknown/manifests/x'), 404, 'NAME_UNKNOWN');
      await expectError(await client.fetch('/v2/m/known/manifests/.INVALID_TAG'), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch('/v2/m/known/manifests/.INVALID_TAG', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.fetch('/v2/m/known/manifests/sha256:totallywrong'), 400, 'DIGEST_INVALID');
      const head = await client.fetch('/v2/m/known/manifests/nope', { method: 'HEAD' });
      assert.equal(head.status, 404);
    });
  });
}

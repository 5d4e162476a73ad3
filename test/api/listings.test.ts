// spec "Listing Tags" (end-8a/8b), the catalog, "Listing Referrers" (end-12a/12b).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError, OciClient } from '../../support/oci-client.js';
import { STORAGE_KINDS, startRegistry, type TestRegistry } from '../../support/registry.js';
import { digestOf } from '../../src/oci/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

for (const kind of STORAGE_KINDS) {
  describe(`listings [${kind}]`, () => {
    let reg: TestRegistry;
    let client: OciClient;
    const tags = ['v1', 'latest', 'A', 'b', '1.0', 'v10', 'v2', '_x'];
    before(async () => {
      reg = await startRegistry(kind, { limits: { maxPageSize: 5 } });
      client = new OciClient(reg.url);
      const image = await client.pushImage('l/tags', tags[0]!);
      for (const tag of tags.slice(1)) assert.equal((await client.putManifest('l/tags', tag, image.bytes)).status, 201);
    });
    after(() => reg.close());

    // distribution-spec-next "Listing Tags": lexical or "ASCIIbetical" order; this server uses byte (ASCIIbetical) order.
    it('tags/list returns every tag in lexical order, Link when the page cap cuts it', async () => {
      const res = await client.fetch('/v2/l/tags/tags/list?n=100');
      const body = (await res.json()) as { name: string; tags: string[] };
      assert.equal(body.name, 'l/tags');
      assert.deepEqual(body.tags, [...tags].sort().slice(0, 5));
      assert.equal(res.headers.get('link'), `</v2/l/tags/tags/list?n=5&last=${body.tags[4]}>; rel="next"`);
    });

    it('n and last page through all tags with no gap or repeat', async () => {
      const seen: string[] = [];
      let next: string | null = '/v2/l/tags/tags/list?n=3';
      while (next) {
        const res: Response = await client.fetch(next);
        assert.equal(res.status, 200);
        const page = (await res.json()) as { tags: string[] };
        assert.ok(page.tags.length <= 3);
        seen.push(...page.tags);
        next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
      }
      assert.deepEqual(seen, [...tags].sort());
    });

    it('n=0 gives an empty list and no Link; last excludes itself; last past the end is empty', async () => {
      const zero = await client.fetch('/v2/l/tags/tags/list?n=0');
      assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);
      assert.equal(zero.headers.get('link'), null);
      const after1 = (await (await client.fetch('/v2/l/tags/tags/list?n=2&last=latest')).json()) as { tags: string[] };
      assert.deepEqual(after1.tags, [...tags].sort().filter((t) => t > 'latest').slice(0, 2));
      const end = (await (await client.fetch('/v2/l/tags/tags/list?last=zzz')).json()) as { tags: string[] };
      assert.deepEqual(end.tags, []);
    });

    it('bad n is 400; an unknown repository is 404 NAME_UNKNOWN', async () => {
      for (const n of ['-1', 'abc', '1.5']) await expectError(await client.fetch(`/v2/l/tags/tags/list?n=${n}`), 400, 'UNSUPPORTED');
      await expectError(await client.fetch('/v2/l/none/tags/list'), 404, 'NAME_UNKNOWN');
    });

    it('_catalog lists repositories in order, paged with n/last and Link', async () => {
      for (const repo of ['l/c/b', 'l/c/a', 'l/c/c']) await client.pushBlob(repo, Buffer.from(repo));
      const all: string[] = [];
      let next: string | null = '/v2/_catalog?n=2';
      while (next) {
        const res: Response = await client.fetch(next);
        const page = (await res.json()) as { repositories: string[] };
        all.push(...page.repositories);
        next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
      }
      assert.deepEqual(all, [...all].sort());
      for (const repo of ['l/c/a', 'l/c/b', 'l/c/c', 'l/tags']) assert.ok(all.includes(repo), repo);
      assert.equal(new Set(all).size, all.length);
    });

    it('referrers: an index of manifests whose subject is the digest, filterable by artifactType', async () => {
      const subject = await client.pushImage('l/refs', 'app');
      const empty = await client.pushBlob('l/refs', Buffer.from('{}'));
      const push = async (artifactType: string | undefined, configType: string, note: string) => {
        const manifest = {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          ...(artifactType ? { artifactType } : {}),
          config: { mediaType: configType, digest: empty, size: 2 },
          layers: [],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length },
          annotations: { note },
        };
        const bytes = Buffer.from(JSON.stringify(manifest));
        const res = await client.putManifest('l/refs', digestOf(bytes), bytes);
        assert.equal(res.status, 201, await res.text());
        return { digest: digestOf(bytes), size: bytes.length };
      };
      const sig = await push('application/vnd.example.sig', 'application/vnd.oci.empty.v1+json', 'sig');
      const sbom = await push(undefined, 'application/vnd.example.sbom', 'sbom');
      await push('application/vnd.example.sig', 'application/vnd.oci.empty.v1+json', 'sig'); // same bytes again: listed once
      const res = await client.fetch(`/v2/l/refs/referrers/${subject.digest}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), OCI_INDEX);
      const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> };
      assert.equal(index.schemaVersion, 2);
      assert.equal(index.mediaType, OCI_INDEX);
      const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
      assert.equal(index.manifests.length, 2);
      assert.deepEqual(byDigest.get(sig.digest), { mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType: 'application/vnd.example.sig', annotations: { note: 'sig' } });
      assert.equal(byDigest.get(sbom.digest)!.artifactType, 'application/vnd.example.sbom', 'artifactType falls back to the config media type');
      const filtered = await client.fetch(`/v2/l/refs/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
      assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(((await filtered.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest), [sbom.digest]);
      assert.equal((await client.fetch(`/v2/l/refs/manifests/${sbom.digest}`, { method: 'DELETE' })).status, 202);
      const afterDelete = (await (await client.fetch(`/v2/l/refs/referrers/${subject.digest}`)).json()) as { manifests: unknown[] };
      assert.equal(afterDelete.manifests.length, 1);
    });

    it('referrers of an unknown digest or repository: 200 with an empty index; a bad digest 400', async () => {
      for (const path of [`/v2/l/refs/referrers/${digestOf(Buffer.from('none'))}`, `/v2/l/nothing/referrers/${digestOf(Buffer.from('none'))}`]) {
        const res = await client.fetch(path);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      }
      await expectError(await client.fetch('/v2/l/refs/referrers/sha256:nothex'), 400, 'DIGEST_INVALID');
    });
  });
}

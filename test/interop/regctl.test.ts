/**
 * regctl (regclient) against ferro-oci-server (filesystem+sqlite). regctl
 * is built from source by the fetch script (no package ships it). Besides
 * verbatim copies from the OCI layout it uploads in chunks (POST, PATCH
 * with Content-Range, PUT), imports a docker-archive, builds manifests of
 * its own (image mod, index create/add/delete, artifact put), copies with
 * referrers and deletes tags, referrers and images.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientSuite, type ModeContext } from './harness.js';
import { assertLayoutBlobs, fetchedVersion, missingFetched } from './clients/fetched.js';
import { Regctl } from './clients/regctl.js';
import { digestOf, MT } from './images.js';

const SBOM = 'application/vnd.example.sbom';
const SIGNATURE = 'application/vnd.example.signature';
const MIB = 1024 * 1024;
const sorted = (xs: Iterable<string>) => [...xs].sort();
const lines = (text: string) => sorted(text.split('\n').filter(Boolean));

clientSuite(
  'regctl',
  {
    requires: [],
    modes: ['fs'],
    unavailable: () => missingFetched('regctl'),
    versions: () => Promise.resolve({ regctl: `${fetchedVersion('regctl')} (built from source)` }),
  },
  ({ step }) => {
    let client: Regctl | undefined;
    const regctl = async (ctx: ModeContext) => (client ??= await Regctl.create(ctx.tmp, ctx.registry.host));
    const ocidir = (ctx: ModeContext, ref: string) => `ocidir://${ctx.images.layout}:${ref}`;
    const referrerDigests = async (ctx: ModeContext, repo: string, subject: string) => sorted((await ctx.registry.referrers(ctx.repo(repo), subject)).index.manifests.map((m) => m.digest));

    const PUSH = 'image copy ocidir single -> single:v1 (verbatim); digest, manifest get/head, inspect, blob get/head, get-file';
    step(PUSH, async (ctx) => {
      const { single } = ctx.images;
      const g = await regctl(ctx);
      const ref = ctx.ref('single:v1');
      await g.run(['image', 'copy', ocidir(ctx, 'single'), ref]);
      await ctx.registry.expectManifest(ctx.repo('single'), 'v1', single.digest);
      assert.equal(await g.out(['image', 'digest', ref]), single.digest);
      assert.equal(digestOf((await g.run(['manifest', 'get', '--format', 'raw-body', ref])).stdoutBytes), single.digest);
      assert.equal(await g.format(['manifest', 'head', ref], '{{.GetDescriptor.Digest}}'), single.digest);
      assert.equal(await g.format(['image', 'inspect', ref], '{{.Architecture}}'), 'amd64');
      const random = single.layers[1]!;
      const blob = await g.run(['blob', 'get', ctx.ref('single'), random.digest], { binaryStdout: true });
      assert.equal(digestOf(blob.stdoutBytes), random.digest, 'the 30 MiB layer read back with blob get');
      assert.equal(await g.format(['blob', 'head', ctx.ref('single'), single.config.digest], '{{.GetDescriptor.Size}}'), String(single.config.size));
      assert.equal(await g.out(['image', 'get-file', ref, 'etc/interop-test']), 'ferro-oci-server interop test image: single');
    });

    step(
      'image copy single:v1 back to an OCI layout (every blob intact); image export (docker tar)',
      async (ctx) => {
        const { single } = ctx.images;
        const g = await regctl(ctx);
        const out = join(ctx.tmp, 'back');
        await g.run(['image', 'copy', ctx.ref('single:v1'), `ocidir://${out}:single`]);
        await assertLayoutBlobs(out, [single.digest, single.config.digest, ...single.layers.map((l) => l.digest)]);
        await g.run(['image', 'export', ctx.ref('single:v1'), join(ctx.tmp, 'export.tar')]);
      },
      { needs: [PUSH] },
    );

    const MULTI = 'image copy the OCI index (multi) -> multi:v1; image digest --platform linux/arm64';
    step(MULTI, async (ctx) => {
      const { multi } = ctx.images;
      const g = await regctl(ctx);
      await g.run(['image', 'copy', ocidir(ctx, 'multi'), ctx.ref('multi:v1')]);
      await ctx.registry.expectManifest(ctx.repo('multi'), 'v1', multi.digest);
      assert.equal(await g.out(['image', 'digest', '--platform', 'linux/arm64', ctx.ref('multi:v1')]), multi.arm64.digest);
    });

    step('image import of a docker-archive -> imported:v1 (Docker schema2, original config)', async (ctx) => {
      const { single } = ctx.images;
      const g = await regctl(ctx);
      await g.run(['image', 'import', ctx.ref('imported:v1'), ctx.images.dockerArchive]);
      const m = await ctx.registry.manifest(ctx.repo('imported'), 'v1');
      assert.equal(m.status, 200);
      assert.equal(m.contentType, MT.dockerManifest);
      assert.equal(m.json<{ config: { digest: string } }>().config.digest, single.config.digest);
    });

    step('chunked uploads (--blob-max/--blob-chunk 1 MiB): the 30 MiB layer arrives as PATCHes with Content-Range, intact', async (ctx) => {
      const { single } = ctx.images;
      const g = await regctl(ctx);
      await g.run(['registry', 'set', '--blob-max', String(MIB), '--blob-chunk', String(MIB), ctx.registry.host]);
      const mark = ctx.registry.mark();
      try {
        await g.run(['image', 'copy', ocidir(ctx, 'single'), ctx.ref('chunked:v1')]);
      } finally {
        await g.run(['registry', 'set', '--blob-max', '-1', '--blob-chunk', '0', ctx.registry.host]);
      }
      await ctx.registry.expectManifest(ctx.repo('chunked'), 'v1', single.digest);
      const random = single.layers[1]!;
      assert.equal(digestOf(await ctx.registry.blob(ctx.repo('chunked'), random.digest)), random.digest);
      await ctx.registry.sync();
      const patches = ctx.registry.requestsSince(mark).filter((r) => r.method === 'PATCH' && r.url.startsWith(`/v2/${ctx.repo('chunked')}/blobs/uploads/`));
      assert.ok(patches.length >= Math.floor(random.size / MIB), `${patches.length} PATCH requests for a ${random.size}-byte layer in 1 MiB chunks`);
      assert.deepEqual(
        patches.filter((r) => r.status !== 202).map((r) => `${r.url} -> ${r.status}`),
        [],
        'PATCHes not answered 202',
      );
    });

    const TAGS = 'retag single:v1 -> v2; image mod --label and --to-docker; tag ls; repo ls';
    step(
      TAGS,
      async (ctx) => {
        const g = await regctl(ctx);
        await g.run(['image', 'copy', ctx.ref('single:v1'), ctx.ref('single:v2')]);
        await g.run(['image', 'mod', ctx.ref('single:v1'), '--label', 'org.example.mod=yes', '--create', 'mod']);
        assert.equal(await g.format(['image', 'inspect', ctx.ref('single:mod')], '{{index .Config.Labels "org.example.mod"}}'), 'yes');
        await g.run(['image', 'mod', ctx.ref('single:v1'), '--to-docker', '--create', 'docker']);
        assert.equal((await ctx.registry.manifest(ctx.repo('single'), 'docker')).contentType, MT.dockerManifest);
        assert.deepEqual(lines(await g.out(['tag', 'ls', ctx.ref('single')])), ['docker', 'mod', 'v1', 'v2']);
        const repos = lines(await g.out(['repo', 'ls', ctx.registry.host]));
        assert.ok(repos.includes(ctx.repo('single')), `repo ls lists ${ctx.repo('single')}`);
      },
      { needs: [PUSH] },
    );

    step(
      'index create from the amd64 image, index add arm64, index delete --platform linux/arm64/v8',
      async (ctx) => {
        const { multi } = ctx.images;
        const g = await regctl(ctx);
        const idx = ctx.ref('multi:idx');
        const children = async () => (await ctx.registry.manifest(ctx.repo('multi'), 'idx')).json<{ manifests: Array<{ digest: string }> }>().manifests.map((m) => m.digest);
        await g.run(['index', 'create', idx, '--ref', ctx.ref(`multi@${multi.amd64.digest}`), '--desc-platform', 'linux/amd64']);
        await g.run(['index', 'add', idx, '--ref', ctx.ref(`multi@${multi.arm64.digest}`), '--desc-platform', 'linux/arm64/v8']);
        assert.deepEqual(await children(), [multi.amd64.digest, multi.arm64.digest]);
        await g.run(['index', 'delete', idx, '--platform', 'linux/arm64/v8']);
        assert.deepEqual(await children(), [multi.amd64.digest]);
      },
      { needs: [MULTI] },
    );

    const ARTIFACTS = 'artifact put with and without a subject; artifact list/tree/get with artifactType and annotation filters';
    step(
      ARTIFACTS,
      async (ctx) => {
        const { single } = ctx.images;
        const g = await regctl(ctx);
        await writeFile(join(g.dir, 'sbom.json'), '{"sbom":"regctl"}');
        await writeFile(join(g.dir, 'sig.txt'), 'signature-ish');
        await g.run(['artifact', 'put', '--artifact-type', 'application/vnd.example.file', '-f', 'sig.txt', '-m', 'text/plain', '--file-title', ctx.ref('art:v1')]);
        assert.equal(await g.out(['artifact', 'get', ctx.ref('art:v1')]), 'signature-ish');
        const subject = ['--subject', ctx.ref('single:v1')];
        await g.run(['artifact', 'put', '--artifact-type', SBOM, '-f', 'sbom.json', '-m', 'application/json', ...subject, '--annotation', 'org.example.run=regctl']);
        await g.run(['artifact', 'put', '--artifact-type', SIGNATURE, '-f', 'sig.txt', '-m', 'text/plain', ...subject]);
        const list = JSON.parse(await g.format(['artifact', 'list', ctx.ref('single:v1')], '{{json .}}')) as { descriptors: Array<{ digest: string; artifactType: string }> };
        const byType = new Map(list.descriptors.map((d) => [d.artifactType, d.digest]));
        assert.deepEqual(sorted(byType.keys()), [SBOM, SIGNATURE]);
        assert.deepEqual(await referrerDigests(ctx, 'single', single.digest), sorted(byType.values()));
        const digests = '{{range .Descriptors}}{{.Digest}}{{end}}';
        assert.equal(await g.format(['artifact', 'list', '--filter-artifact-type', SIGNATURE, ctx.ref('single:v1')], digests), byType.get(SIGNATURE));
        assert.equal(await g.format(['artifact', 'list', '--filter-annotation', 'org.example.run=regctl', ctx.ref('single:v1')], digests), byType.get(SBOM));
        assert.equal(await g.out(['artifact', 'get', ...subject, '--filter-artifact-type', SBOM]), '{"sbom":"regctl"}');
        const tree = JSON.parse(await g.format(['artifact', 'tree', ctx.ref('single:v1')], '{{json .}}')) as { referrer?: unknown[] };
        assert.equal(tree.referrer?.length, 2, 'artifact tree: 2 referrers');
        ctx.set('sbom', byType.get(SBOM)!);
        ctx.set('sig', byType.get(SIGNATURE)!);
      },
      { needs: [PUSH] },
    );

    const WITHREFS = 'image copy --referrers single:v1 -> withrefs:v1: the referrers come along';
    step(
      WITHREFS,
      async (ctx) => {
        const { single } = ctx.images;
        await (await regctl(ctx)).run(['image', 'copy', '--referrers', ctx.ref('single:v1'), ctx.ref('withrefs:v1')]);
        await ctx.registry.expectManifest(ctx.repo('withrefs'), 'v1', single.digest);
        assert.deepEqual(await referrerDigests(ctx, 'withrefs', single.digest), sorted([ctx.get('sbom'), ctx.get('sig')]));
      },
      { needs: [ARTIFACTS] },
    );

    step('blob put, blob copy to another repository, manifest put of a hand-made manifest, blob delete', async (ctx) => {
      const g = await regctl(ctx);
      const blob = Buffer.from('blob put by regctl\n');
      assert.equal(await g.out(['blob', 'put', ctx.ref('blobs')], { input: blob }), digestOf(blob));
      await g.run(['blob', 'copy', ctx.ref('blobs'), ctx.ref('blobs2'), digestOf(blob)]);
      assert.equal(await ctx.registry.status('HEAD', `/v2/${ctx.repo('blobs2')}/blobs/${digestOf(blob)}`), 200);
      await g.run(['blob', 'put', ctx.ref('blobs')], { input: '{}' });
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: 'application/vnd.example.put',
        config: { mediaType: MT.empty, digest: digestOf('{}'), size: 2 },
        layers: [{ mediaType: 'text/plain', digest: digestOf(blob), size: blob.length }],
      });
      await g.run(['manifest', 'put', '--content-type', MT.ociManifest, ctx.ref('blobs:put')], { input: manifest });
      await ctx.registry.expectManifest(ctx.repo('blobs'), 'put', digestOf(manifest));
      await g.run(['blob', 'delete', ctx.ref('blobs2'), digestOf(blob)]);
      assert.equal(await ctx.registry.status('HEAD', `/v2/${ctx.repo('blobs2')}/blobs/${digestOf(blob)}`), 404);
    });

    step(
      'tag delete single:v2; manifest delete --referrers of the signature; manifest delete art:v1; image delete single: listings follow',
      async (ctx) => {
        const { single } = ctx.images;
        const g = await regctl(ctx);
        await g.run(['tag', 'delete', ctx.ref('single:v2')]);
        assert.deepEqual(lines(await g.out(['tag', 'ls', ctx.ref('single')])), ['docker', 'mod', 'v1']);
        await ctx.registry.expectManifest(ctx.repo('single'), 'v1', single.digest);
        await g.run(['manifest', 'delete', '--referrers', ctx.ref(`single@${ctx.get('sig')}`)]);
        assert.equal(await g.format(['artifact', 'list', ctx.ref('single:v1')], '{{range .Descriptors}}{{.Digest}}{{end}}'), ctx.get('sbom'));
        assert.deepEqual(await referrerDigests(ctx, 'single', single.digest), [ctx.get('sbom')]);
        await g.run(['manifest', 'delete', '--force-tag-dereference', ctx.ref('art:v1')]);
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('art')}/manifests/v1`), 404);
        await g.run(['image', 'delete', ctx.ref(`single@${single.digest}`)]);
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('single')}/manifests/${single.digest}`), 404);
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('single')}/manifests/v1`), 404);
        await ctx.registry.expectManifest(ctx.repo('withrefs'), 'v1', single.digest);
      },
      { needs: [TAGS, ARTIFACTS, WITHREFS] },
    );
  },
);

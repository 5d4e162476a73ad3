/**
 * skopeo (containers/image) against ferro-oci-server. skopeo copies verbatim,
 * so every digest is compared with the digest of the locally built image.
 * It is the only Debian client with a remote delete, and (with ctr) the only
 * one that pushes an OCI 1.1 artifact with a subject (a verbatim copy).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertMounted, clientSuite, versionOf, type ModeContext } from './harness.js';
import { Skopeo } from './clients/skopeo.js';
import { ARTIFACT_TYPE, blobPath, digestOf, fileDigest, MT, type ImageInfo } from './images.js';

/** Checks a pulled `dir:` or `oci:` copy: manifest digest and every config/layer blob, byte for byte. */
async function checkPulledBlobs(ctx: ModeContext, image: ImageInfo, pathOf: (digest: string) => string): Promise<void> {
  for (const b of [image.config, ...image.layers]) {
    const got = await readFile(pathOf(b.digest));
    assert.equal(got.length, b.size, `pulled blob ${b.digest}: ${got.length} bytes, expected ${b.size}`);
    assert.equal(digestOf(got), b.digest, `pulled blob ${b.digest} hashes to ${digestOf(got)}`);
    assert.ok(got.equals(await readFile(blobPath(ctx.images.layout, b.digest))), `pulled blob ${b.digest} differs from the pushed bytes`);
  }
}

clientSuite(
  'skopeo',
  {
    requires: ['skopeo'],
    versions: async () => ({ skopeo: await versionOf('skopeo', ['--version']) }),
  },
  ({ step, restartPoint }) => {
    let client: Skopeo | undefined;
    const sk = async (ctx: ModeContext) => (client ??= await Skopeo.create(ctx.tmp));
    // zstd pushes use a blob-info cache of their own: with the shared one, containers/image
    // may reuse the gzip blobs it already pushed, or substitute zstd blobs in later pushes.
    let zstdClient: Skopeo | undefined;
    const skZstd = async (ctx: ModeContext) => (zstdClient ??= await Skopeo.create(join(ctx.tmp, 'zstd')));
    const oci = (ctx: ModeContext, ref: string) => `oci:${ctx.images.layout}:${ref}`;
    const docker = (ctx: ModeContext, nameTag: string) => `docker://${ctx.ref(nameTag)}`;

    // ---- push phase ----------------------------------------------------------------
    const PUSH_ZSTD = 'push oci:single recompressed with zstd (--dest-compress-format zstd) -> zstd:v1 (own blob-info cache)';
    step(PUSH_ZSTD, async (ctx) => {
      const { single } = ctx.images;
      await (await skZstd(ctx)).copy(oci(ctx, 'single'), docker(ctx, 'zstd:v1'), ['--dest-compress', '--dest-compress-format', 'zstd']);
      const m = await ctx.registry.manifest(ctx.repo('zstd'), 'v1');
      assert.equal(m.status, 200);
      const doc = m.json<{ config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> }>();
      assert.equal(doc.config.digest, single.config.digest);
      assert.deepEqual(
        doc.layers.map((l) => l.mediaType),
        single.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+zstd'),
      );
      for (const l of doc.layers) {
        const blob = await ctx.registry.blob(ctx.repo('zstd'), l.digest);
        assert.equal(blob.length, l.size);
        assert.equal(digestOf(blob), l.digest);
        assert.equal(blob.readUInt32LE(0), 0xfd2fb528, `layer ${l.digest} is a zstd frame`);
      }
      ctx.set('zstd', m.digest);
    });

    const PUSH_SINGLE = 'push oci:single (3 layers, one of 30 MiB) -> single:v1';
    step(PUSH_SINGLE, async (ctx) => {
      await (await sk(ctx)).copy(oci(ctx, 'single'), docker(ctx, 'single:v1'));
      const m = await ctx.registry.expectManifest<{ layers: unknown[] }>(ctx.repo('single'), 'v1', ctx.images.single.digest);
      assert.equal(m.layers.length, 3);
    });

    const RETAG = 'copy single:v1 -> single:v2 (registry to registry)';
    step(
      RETAG,
      async (ctx) => {
        await (await sk(ctx)).copy(docker(ctx, 'single:v1'), docker(ctx, 'single:v2'));
        await ctx.registry.expectManifest(ctx.repo('single'), 'v2', ctx.images.single.digest);
      },
      { needs: [PUSH_SINGLE] },
    );

    const PUSH_MULTI = 'push --all oci:multi (OCI index linux/amd64 + linux/arm64) -> multi:v1';
    step(PUSH_MULTI, async (ctx) => {
      const { multi } = ctx.images;
      await (await sk(ctx)).copy(oci(ctx, 'multi'), docker(ctx, 'multi:v1'), ['--all']);
      await ctx.registry.expectManifest(ctx.repo('multi'), 'v1', multi.digest);
      await ctx.registry.expectManifest(ctx.repo('multi'), multi.amd64.digest, multi.amd64.digest);
      await ctx.registry.expectManifest(ctx.repo('multi'), multi.arm64.digest, multi.arm64.digest);
    });

    const PUSH_V2S2 = 'push a Docker schema2 image verbatim (dir:) -> docker:v2s2';
    step(PUSH_V2S2, async (ctx) => {
      await (await sk(ctx)).copy(`dir:${ctx.images.dirDockerV2s2}`, docker(ctx, 'docker:v2s2'));
      const m = await ctx.registry.expectManifest<{ mediaType: string }>(ctx.repo('docker'), 'v2s2', ctx.images.dockerV2s2.digest);
      assert.equal(m.mediaType, MT.dockerManifest);
      assert.equal((await ctx.registry.manifest(ctx.repo('docker'), 'v2s2')).contentType, MT.dockerManifest);
    });

    const PUSH_LIST = 'push a Docker manifest list verbatim (dir:, --all) -> docker:list';
    step(PUSH_LIST, async (ctx) => {
      const { dockerList } = ctx.images;
      await (await sk(ctx)).copy(`dir:${ctx.images.dirDockerList}`, docker(ctx, 'docker:list'), ['--all']);
      const m = await ctx.registry.expectManifest<{ mediaType: string }>(ctx.repo('docker'), 'list', dockerList.digest);
      assert.equal(m.mediaType, MT.dockerList);
      assert.equal((await ctx.registry.manifest(ctx.repo('docker'), 'list')).contentType, MT.dockerList);
      await ctx.registry.expectManifest(ctx.repo('docker'), dockerList.arm64.digest, dockerList.arm64.digest);
    });

    const PUSH_CONVERTED = 'push oci:small converted with --format v2s2 -> small:v2s2';
    step(PUSH_CONVERTED, async (ctx) => {
      const { small } = ctx.images;
      await (await sk(ctx)).copy(oci(ctx, 'small'), docker(ctx, 'small:v2s2'), ['--format', 'v2s2']);
      const m = await ctx.registry.manifest(ctx.repo('small'), 'v2s2');
      assert.equal(m.status, 200);
      const doc = m.json<{ mediaType: string; config: { digest: string; mediaType: string }; layers: Array<{ digest: string; mediaType: string }> }>();
      assert.equal(doc.mediaType, MT.dockerManifest);
      assert.equal(m.contentType, MT.dockerManifest);
      assert.equal(doc.config.mediaType, MT.dockerConfig);
      assert.equal(doc.config.digest, small.config.digest, 'the config bytes are kept by the conversion');
      assert.deepEqual(
        doc.layers.map((l) => l.digest),
        small.layers.map((l) => l.digest),
      );
      ctx.set('converted', m.digest);
    });

    const PUSH_ARTIFACT = 'push oci:small -> art:small, then the OCI artifact (artifactType, empty config, subject) verbatim -> art:sbom';
    step(PUSH_ARTIFACT, async (ctx) => {
      const { small, artifact } = ctx.images;
      const s = await sk(ctx);
      await s.copy(oci(ctx, 'small'), docker(ctx, 'art:small'));
      await s.copy(oci(ctx, 'artifact'), docker(ctx, 'art:sbom'));
      await ctx.registry.expectManifest(ctx.repo('art'), 'small', small.digest);
      const m = await ctx.registry.expectManifest<{ artifactType: string; subject: { digest: string } }>(ctx.repo('art'), 'sbom', artifact.digest);
      assert.equal(m.artifactType, ARTIFACT_TYPE);
      assert.equal(m.subject.digest, small.digest);
      const empty = await ctx.registry.blob(ctx.repo('art'), artifact.config.digest);
      assert.equal(empty.toString('utf8'), '{}');
    });

    restartPoint();

    // ---- pull phase -------------------------------------------------------------------
    step(
      'inspect single:v1 (Digest, Layers, Architecture)',
      async (ctx) => {
        const { single } = ctx.images;
        const info = await (await sk(ctx)).inspect<{ Digest: string; Layers: string[]; Architecture: string; Os: string }>(docker(ctx, 'single:v1'));
        assert.equal(info.Digest, single.digest);
        assert.deepEqual(
          info.Layers,
          single.layers.map((l) => l.digest),
        );
        assert.equal(info.Architecture, 'amd64');
        assert.equal(info.Os, 'linux');
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'inspect --raw and --config --raw single:v1 (exact manifest and config bytes)',
      async (ctx) => {
        const { single, layout } = ctx.images;
        const s = await sk(ctx);
        assert.equal(digestOf(await s.inspectRaw(docker(ctx, 'single:v1'))), single.digest);
        const config = await s.inspectRaw(docker(ctx, 'single:v1'), true);
        assert.equal(digestOf(config), single.config.digest);
        assert.ok(config.equals(await readFile(blobPath(layout, single.config.digest))));
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'pull single:v1 by tag -> dir: (manifest digest, layer bytes incl. 30 MiB)',
      async (ctx) => {
        const { single } = ctx.images;
        const out = join(ctx.tmp, 'pull-tag');
        await (await sk(ctx)).copy(docker(ctx, 'single:v1'), `dir:${out}`);
        assert.equal(await fileDigest(join(out, 'manifest.json')), single.digest);
        await checkPulledBlobs(ctx, single, (d) => join(out, d.slice(7)));
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'pull single@<digest> -> oci: layout (manifest digest, layer bytes)',
      async (ctx) => {
        const { single } = ctx.images;
        const out = join(ctx.tmp, 'pull-digest');
        await (await sk(ctx)).copy(docker(ctx, `single@${single.digest}`), `oci:${out}:back`);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        assert.equal(index.manifests[0]?.digest, single.digest);
        await checkPulledBlobs(ctx, single, (d) => blobPath(out, d));
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'pull multi:v1 for linux/arm64 (--override-arch arm64) -> dir:',
      async (ctx) => {
        const { multi } = ctx.images;
        const out = join(ctx.tmp, 'pull-arm64');
        const s = await sk(ctx);
        await s.run(['--override-arch', 'arm64', '--override-os', 'linux', 'copy', '--src-tls-verify=false', docker(ctx, 'multi:v1'), `dir:${out}`]);
        assert.equal(await fileDigest(join(out, 'manifest.json')), multi.arm64.digest);
        await checkPulledBlobs(ctx, multi.arm64, (d) => join(out, d.slice(7)));
      },
      { needs: [PUSH_MULTI] },
    );

    step(
      'pull --all multi:v1 -> oci: layout (index and both platforms)',
      async (ctx) => {
        const { multi } = ctx.images;
        const out = join(ctx.tmp, 'pull-all');
        await (await sk(ctx)).copy(docker(ctx, 'multi:v1'), `oci:${out}:multi`, ['--all']);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        assert.equal(index.manifests[0]?.digest, multi.digest);
        for (const child of [multi.amd64, multi.arm64]) {
          assert.equal(await fileDigest(blobPath(out, child.digest)), child.digest);
          await checkPulledBlobs(ctx, child, (d) => blobPath(out, d));
        }
      },
      { needs: [PUSH_MULTI] },
    );

    step(
      'pull the Docker schema2 image docker:v2s2 -> dir:',
      async (ctx) => {
        const { dockerV2s2 } = ctx.images;
        const out = join(ctx.tmp, 'pull-v2s2');
        await (await sk(ctx)).copy(docker(ctx, 'docker:v2s2'), `dir:${out}`);
        assert.equal(await fileDigest(join(out, 'manifest.json')), dockerV2s2.digest);
        await checkPulledBlobs(ctx, dockerV2s2, (d) => join(out, d.slice(7)));
      },
      { needs: [PUSH_V2S2] },
    );

    step(
      'pull the Docker manifest list docker:list for linux/arm64 -> dir:',
      async (ctx) => {
        const { dockerList } = ctx.images;
        const out = join(ctx.tmp, 'pull-list-arm64');
        const s = await sk(ctx);
        await s.run(['--override-arch', 'arm64', 'copy', '--src-tls-verify=false', docker(ctx, 'docker:list'), `dir:${out}`]);
        assert.equal(await fileDigest(join(out, 'manifest.json')), dockerList.arm64.digest);
        await checkPulledBlobs(ctx, dockerList.arm64, (d) => join(out, d.slice(7)));
      },
      { needs: [PUSH_LIST] },
    );

    step(
      'pull the converted small:v2s2 -> dir:',
      async (ctx) => {
        const out = join(ctx.tmp, 'pull-converted');
        await (await sk(ctx)).copy(docker(ctx, 'small:v2s2'), `dir:${out}`);
        assert.equal(await fileDigest(join(out, 'manifest.json')), ctx.get('converted'));
        await checkPulledBlobs(ctx, ctx.images.small, (d) => join(out, d.slice(7)));
      },
      { needs: [PUSH_CONVERTED] },
    );

    step(
      'pull the zstd image zstd:v1 -> dir: (layer digests and sizes)',
      async (ctx) => {
        const out = join(ctx.tmp, 'pull-zstd');
        await (await skZstd(ctx)).copy(docker(ctx, 'zstd:v1'), `dir:${out}`);
        const manifestFile = join(out, 'manifest.json');
        assert.equal(await fileDigest(manifestFile), ctx.get('zstd'));
        const doc = JSON.parse(await readFile(manifestFile, 'utf8')) as { layers: Array<{ digest: string; size: number }> };
        for (const l of doc.layers) {
          const bytes = await readFile(join(out, l.digest.slice(7)));
          assert.equal(bytes.length, l.size);
          assert.equal(digestOf(bytes), l.digest);
        }
      },
      { needs: [PUSH_ZSTD] },
    );

    step(
      'list-tags single (v1, v2) and docker (list, v2s2)',
      async (ctx) => {
        const s = await sk(ctx);
        assert.deepEqual(await s.listTags(docker(ctx, 'single')), ['v1', 'v2']);
        assert.deepEqual(await s.listTags(docker(ctx, 'docker')), ['list', 'v2s2']);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('single')), ['v1', 'v2']);
      },
      { needs: [PUSH_SINGLE, RETAG, PUSH_V2S2, PUSH_LIST] },
    );

    step(
      'sync --src docker single -> dir: (every tag, found by tag listing)',
      async (ctx) => {
        const { single } = ctx.images;
        const out = join(ctx.tmp, 'sync');
        await (await sk(ctx)).run(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', ctx.ref('single'), out]);
        for (const tag of ['v1', 'v2']) {
          assert.equal(await fileDigest(join(out, `single:${tag}`, 'manifest.json')), single.digest, `synced single:${tag}`);
        }
      },
      { needs: [PUSH_SINGLE, RETAG] },
    );

    step(
      'inspect --raw art:sbom (artifact bytes intact: artifactType, subject)',
      async (ctx) => {
        const raw = await (await sk(ctx)).inspectRaw(docker(ctx, 'art:sbom'));
        assert.equal(digestOf(raw), ctx.images.artifact.digest);
      },
      { needs: [PUSH_ARTIFACT] },
    );

    const REFERRERS = 'referrers API: GET /v2/<name>/referrers/<subject> lists the artifact, with and without an artifactType filter';
    step(
      REFERRERS,
      async (ctx) => {
        const { small, artifact } = ctx.images;
        const repo = ctx.repo('art');
        const all = await ctx.registry.referrers(repo, small.digest);
        assert.equal(all.contentType, MT.ociIndex);
        assert.equal(all.index.mediaType, MT.ociIndex);
        assert.deepEqual(
          all.index.manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, artifactType: m.artifactType })),
          [{ mediaType: MT.ociManifest, digest: artifact.digest, size: artifact.size, artifactType: ARTIFACT_TYPE }],
        );
        const matching = await ctx.registry.referrers(repo, small.digest, ARTIFACT_TYPE);
        assert.deepEqual(
          matching.index.manifests.map((m) => m.digest),
          [artifact.digest],
        );
        assert.equal(matching.filtersApplied, 'artifactType', 'OCI-Filters-Applied on a filtered response');
        const other = await ctx.registry.referrers(repo, small.digest, 'application/vnd.example.none');
        assert.deepEqual(other.index.manifests, []);
        assert.equal(other.filtersApplied, 'artifactType');
        const none = await ctx.registry.referrers(repo, ctx.images.single.digest);
        assert.deepEqual(none.index.manifests, [], 'an image without referrers has an empty list');
      },
      { needs: [PUSH_ARTIFACT] },
    );

    // ---- cross-repository and delete ------------------------------------------------------------
    const CROSS = 'copy single:v1 -> copy:v1 (another repository: layers mounted, not uploaded again)';
    step(
      CROSS,
      async (ctx, t) => {
        const { single } = ctx.images;
        const mark = ctx.registry.mark();
        await (await sk(ctx)).copy(docker(ctx, 'single:v1'), docker(ctx, 'copy:v1'));
        await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
        const shared = single.layers.map((l) => l.digest);
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('copy'), [ctx.repo('single')], shared));
      },
      { needs: [PUSH_SINGLE] },
    );

    const DERIVED = 'push oci:derived (single + 1 layer) -> derived:v1 (base layers mounted, new layer uploaded)';
    step(
      DERIVED,
      async (ctx, t) => {
        const { derived, single } = ctx.images;
        const mark = ctx.registry.mark();
        await (await sk(ctx)).copy(oci(ctx, 'derived'), docker(ctx, 'derived:v1'));
        await ctx.registry.expectManifest(ctx.repo('derived'), 'v1', derived.digest);
        const shared = single.layers.map((l) => l.digest);
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('derived'), [ctx.repo('single'), ctx.repo('copy')], shared));
        const extra = derived.layers[3]!;
        assert.equal(digestOf(await ctx.registry.blob(ctx.repo('derived'), extra.digest)), extra.digest);
      },
      { needs: [PUSH_SINGLE] },
    );

    const DELETE = 'skopeo delete single:v2 -> the manifest and both tags are gone (404)';
    step(
      DELETE,
      async (ctx) => {
        const { single } = ctx.images;
        const repo = ctx.repo('single');
        await (await sk(ctx)).delete(docker(ctx, 'single:v2'));
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/${single.digest}`), 404, 'GET by digest after delete');
        assert.equal(await ctx.registry.status('HEAD', `/v2/${repo}/manifests/${single.digest}`), 404, 'HEAD by digest after delete');
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/v2`), 404, 'GET tag v2 after delete');
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/v1`), 404, 'GET tag v1 (same digest) after delete');
        assert.deepEqual(await ctx.registry.tags(repo), []);
        const r = await (await sk(ctx)).run(['inspect', '--tls-verify=false', docker(ctx, 'single:v1')]).then(
          () => 'found',
          () => 'not found',
        );
        assert.equal(r, 'not found', 'skopeo inspect of the deleted tag must fail');
      },
      { needs: [PUSH_SINGLE, RETAG] },
    );

    step(
      'the delete leaves other repositories alone (copy:v1, derived:v1 and their blobs)',
      async (ctx) => {
        const { single } = ctx.images;
        await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
        for (const l of single.layers) {
          assert.equal(await ctx.registry.status('HEAD', `/v2/${ctx.repo('copy')}/blobs/${l.digest}`), 200, `HEAD copy blob ${l.digest}`);
        }
        const out = join(ctx.tmp, 'pull-derived');
        await (await sk(ctx)).copy(docker(ctx, 'derived:v1'), `dir:${out}`);
        await checkPulledBlobs(ctx, ctx.images.derived, (d) => join(out, d.slice(7)));
      },
      { needs: [DELETE, CROSS, DERIVED] },
    );

    step(
      'skopeo delete art:sbom -> the referrers list of the subject is empty',
      async (ctx) => {
        const { small, artifact } = ctx.images;
        const repo = ctx.repo('art');
        await (await sk(ctx)).delete(docker(ctx, 'art:sbom'));
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/${artifact.digest}`), 404);
        assert.deepEqual((await ctx.registry.referrers(repo, small.digest)).index.manifests, []);
        await ctx.registry.expectManifest(repo, 'small', small.digest);
      },
      { needs: [PUSH_ARTIFACT, REFERRERS] },
    );

    step(
      'skopeo delete multi:v1 (an index) and docker:list',
      async (ctx) => {
        const s = await sk(ctx);
        await s.delete(docker(ctx, 'multi:v1'));
        await s.delete(docker(ctx, 'docker:list'));
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('multi')}/manifests/v1`), 404);
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('docker')}/manifests/list`), 404);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('docker')), ['v2s2']);
      },
      { needs: [PUSH_MULTI, PUSH_LIST] },
    );
  },
);

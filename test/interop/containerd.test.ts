/**
 * containerd (ctr) against ferro-oci-server. ctr pushes verbatim, so every
 * digest is compared with the locally built images. ctr has no tag listing
 * and no remote delete: tags are checked over HTTP. The OCI 1.1 artifact
 * with a subject is pushed by ctr (verbatim copy), then the referrers API is
 * queried over HTTP.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertMounted, assertNothingUploaded, clientSuite, versionOf, type ModeContext } from './harness.js';
import { Containerd } from './clients/containerd.js';
import { ARTIFACT_TYPE, digestOf, layoutTar, MT, type ImageInfo } from './images.js';

clientSuite(
  'containerd',
  {
    requires: ['containerd', 'ctr'],
    needsRoot: true,
    versions: async () => ({ containerd: await versionOf('containerd', ['--version']), ctr: await versionOf('ctr', ['--version']) }),
  },
  ({ step, restartPoint }) => {
    let daemon: Containerd | undefined;
    const cd = () => {
      if (!daemon) throw new Error('containerd is not running');
      return daemon;
    };
    const IN = 'interop/in';

    /** Every blob of `image` is in the content store, byte-identical. */
    const checkContent = async (image: ImageInfo) => {
      for (const b of [image.config, ...image.layers]) {
        const bytes = await cd().content(b.digest);
        assert.equal(bytes.length, b.size, `content ${b.digest}: ${bytes.length} bytes, expected ${b.size}`);
        assert.equal(digestOf(bytes), b.digest, `content ${b.digest} hashes to ${digestOf(bytes)}`);
      }
    };

    /** Tags `from` as `to` and pushes it. */
    const tagPush = async (ctx: ModeContext, from: string, nameTag: string) => {
      await cd().ctr(['images', 'tag', '--force', from, ctx.ref(nameTag)]);
      await cd().ctr(['images', 'push', '--plain-http', ctx.ref(nameTag)]);
    };

    /** Removes every image of the namespace and waits for the content garbage collection. */
    const removeAll = async () => {
      const names = [...(await cd().images()).keys()];
      if (names.length > 0) await cd().ctr(['images', 'rm', '--sync', ...names]);
    };

    const SETUP = 'start containerd (own root, state and socket; CRI plugin disabled)';
    step(
      SETUP,
      async (ctx, t) => {
        daemon = await Containerd.start(ctx.tmp, `interop-${ctx.mode.id}`);
        ctx.watch(daemon.daemon);
        ctx.cleanup(async () => daemon?.stop());
        t.diagnostic(`containerd pid ${daemon.daemon.pid}, socket ${daemon.socket}`);
      },
      { critical: true },
    );

    const IMPORT = 'import the OCI layout (--all-platforms --no-unpack)';
    step(
      IMPORT,
      async (ctx) => {
        const tar = join(ctx.tmp, 'layout.tar');
        await layoutTar(ctx.images, ['single', 'small', 'multi', 'artifact', 'docker-v2s2', 'docker-list'], tar);
        await cd().ctr(['images', 'import', '--all-platforms', '--no-unpack', '--base-name', IN, tar]);
        const images = await cd().images();
        const { single, small, multi, artifact, dockerV2s2, dockerList } = ctx.images;
        assert.deepEqual(Object.fromEntries([...images].filter(([k]) => k.startsWith(`${IN}:`)).sort()), {
          [`${IN}:artifact`]: artifact.digest,
          [`${IN}:docker-list`]: dockerList.digest,
          [`${IN}:docker-v2s2`]: dockerV2s2.digest,
          [`${IN}:multi`]: multi.digest,
          [`${IN}:single`]: single.digest,
          [`${IN}:small`]: small.digest,
        });
      },
      { critical: true },
    );

    // ---- push phase ----------------------------------------------------------------
    const PUSH_SINGLE = 'tag and push single:v1 (verbatim: the original digest)';
    step(PUSH_SINGLE, async (ctx) => {
      await tagPush(ctx, `${IN}:single`, 'single:v1');
      await ctx.registry.expectManifest(ctx.repo('single'), 'v1', ctx.images.single.digest);
    });

    const PUSH_MULTI = 'push multi:v1 (OCI index + both platforms)';
    step(PUSH_MULTI, async (ctx) => {
      const { multi } = ctx.images;
      await tagPush(ctx, `${IN}:multi`, 'multi:v1');
      await ctx.registry.expectManifest(ctx.repo('multi'), 'v1', multi.digest);
      for (const child of [multi.amd64, multi.arm64]) await ctx.registry.expectManifest(ctx.repo('multi'), child.digest, child.digest);
    });

    const PUSH_DOCKER = 'push the Docker schema2 image and the Docker manifest list (verbatim)';
    step(PUSH_DOCKER, async (ctx) => {
      const { dockerV2s2, dockerList } = ctx.images;
      await tagPush(ctx, `${IN}:docker-v2s2`, 'docker:v2s2');
      await tagPush(ctx, `${IN}:docker-list`, 'docker:list');
      const image = await ctx.registry.expectManifest<{ mediaType: string }>(ctx.repo('docker'), 'v2s2', dockerV2s2.digest);
      assert.equal(image.mediaType, MT.dockerManifest);
      const list = await ctx.registry.expectManifest<{ mediaType: string }>(ctx.repo('docker'), 'list', dockerList.digest);
      assert.equal(list.mediaType, MT.dockerList);
      assert.equal((await ctx.registry.manifest(ctx.repo('docker'), 'list')).contentType, MT.dockerList);
      for (const child of [dockerList.amd64, dockerList.arm64]) await ctx.registry.expectManifest(ctx.repo('docker'), child.digest, child.digest);
    });

    const PUSH_ARTIFACT = 'push small, then the OCI artifact (artifactType, empty config, subject) -> art:small, art:sbom';
    step(PUSH_ARTIFACT, async (ctx) => {
      const { small, artifact } = ctx.images;
      await tagPush(ctx, `${IN}:small`, 'art:small');
      await tagPush(ctx, `${IN}:artifact`, 'art:sbom');
      await ctx.registry.expectManifest(ctx.repo('art'), 'small', small.digest);
      const m = await ctx.registry.expectManifest<{ artifactType: string; subject: { digest: string } }>(ctx.repo('art'), 'sbom', artifact.digest);
      assert.equal(m.artifactType, ARTIFACT_TYPE);
      assert.equal(m.subject.digest, small.digest);
    });

    restartPoint();

    // ---- pull phase ------------------------------------------------------------------
    const CLEAN = 'remove every image; the content store is garbage-collected';
    step(CLEAN, async (ctx) => {
      await removeAll();
      const left = await cd().contentList();
      const { single } = ctx.images;
      for (const b of [single.config, ...single.layers]) assert.ok(!left.has(b.digest), `${b.digest} still in the content store`);
    });

    const PULL = 'pull single:v1 (native snapshotter): digest, blobs byte-identical, images check';
    step(
      PULL,
      async (ctx) => {
        const { single } = ctx.images;
        await cd().ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ctx.ref('single:v1')]);
        assert.equal((await cd().images()).get(ctx.ref('single:v1')), single.digest);
        await checkContent(single);
        const check = await cd().ctr(['images', 'check', `name==${ctx.ref('single:v1')}`]);
        assert.match(check.stdout, /complete/, 'ctr images check reports the image complete');
      },
      { needs: [PUSH_SINGLE, CLEAN] },
    );

    step(
      'push single:v1 again: every blob found by HEAD, nothing uploaded',
      async (ctx, t) => {
        const mark = ctx.registry.mark();
        await cd().ctr(['images', 'push', '--plain-http', ctx.ref('single:v1')]);
        t.diagnostic(await assertNothingUploaded(ctx.registry, mark, ctx.repo('single')));
        await ctx.registry.expectManifest(ctx.repo('single'), 'v1', ctx.images.single.digest);
      },
      { needs: [PULL] },
    );

    step(
      'pull single@<digest>',
      async (ctx) => {
        const { single } = ctx.images;
        const ref = `${ctx.ref('single')}@${single.digest}`;
        await cd().ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ref]);
        assert.equal((await cd().images()).get(ref), single.digest);
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'pull multi:v1 --platform linux/arm64: the arm64 image only',
      async (ctx) => {
        const { multi } = ctx.images;
        await cd().ctr(['images', 'pull', '--plain-http', '--platform', 'linux/arm64', '--snapshotter', 'native', ctx.ref('multi:v1')]);
        assert.equal((await cd().images()).get(ctx.ref('multi:v1')), multi.digest);
        await checkContent(multi.arm64);
        const amd64Only = multi.amd64.layers[1]!.digest;
        assert.ok(!(await cd().contentList()).has(amd64Only), 'the amd64-only layer was not fetched');
      },
      { needs: [PUSH_MULTI, CLEAN] },
    );

    step(
      'pull multi:v1 --all-platforms: the index and both platforms',
      async (ctx) => {
        const { multi } = ctx.images;
        await cd().ctr(['images', 'pull', '--plain-http', '--all-platforms', ctx.ref('multi:v1')]);
        assert.equal(digestOf(await cd().content(multi.digest)), multi.digest);
        for (const child of [multi.amd64, multi.arm64]) {
          assert.equal(digestOf(await cd().content(child.digest)), child.digest);
          await checkContent(child);
        }
      },
      { needs: [PUSH_MULTI] },
    );

    step(
      'pull the Docker manifest list --platform linux/arm64 and the Docker schema2 image',
      async (ctx) => {
        const { dockerList, dockerV2s2 } = ctx.images;
        await cd().ctr(['images', 'pull', '--plain-http', '--platform', 'linux/arm64', '--snapshotter', 'native', ctx.ref('docker:list')]);
        assert.equal((await cd().images()).get(ctx.ref('docker:list')), dockerList.digest);
        await checkContent(dockerList.arm64);
        await cd().ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ctx.ref('docker:v2s2')]);
        assert.equal((await cd().images()).get(ctx.ref('docker:v2s2')), dockerV2s2.digest);
        await checkContent(dockerV2s2);
      },
      { needs: [PUSH_DOCKER, CLEAN] },
    );

    step(
      'pull art:sbom (the artifact) back: bytes and empty config intact',
      async (ctx) => {
        const { artifact } = ctx.images;
        // No platform and no layers to unpack: fetch only.
        await cd().ctr(['content', 'fetch', '--plain-http', '--all-platforms', ctx.ref('art:sbom')]);
        assert.equal(digestOf(await cd().content(artifact.digest)), artifact.digest);
        assert.equal((await cd().content(artifact.config.digest)).toString('utf8'), '{}');
      },
      { needs: [PUSH_ARTIFACT, CLEAN] },
    );

    step(
      'referrers API: GET /v2/<name>/referrers/<subject> lists the artifact ctr pushed, with and without an artifactType filter',
      async (ctx) => {
        const { small, artifact } = ctx.images;
        const repo = ctx.repo('art');
        const all = await ctx.registry.referrers(repo, small.digest);
        assert.equal(all.index.mediaType, MT.ociIndex);
        assert.deepEqual(
          all.index.manifests.map((m) => [m.digest, m.artifactType, m.size]),
          [[artifact.digest, ARTIFACT_TYPE, artifact.size]],
        );
        const matching = await ctx.registry.referrers(repo, small.digest, ARTIFACT_TYPE);
        assert.deepEqual(
          matching.index.manifests.map((m) => m.digest),
          [artifact.digest],
        );
        assert.equal(matching.filtersApplied, 'artifactType');
        const other = await ctx.registry.referrers(repo, small.digest, 'application/vnd.example.other');
        assert.deepEqual(other.index.manifests, []);
      },
      { needs: [PUSH_ARTIFACT] },
    );

    step(
      'tag listing (GET tags/list; ctr has none)',
      async (ctx) => {
        assert.deepEqual(await ctx.registry.tags(ctx.repo('single')), ['v1']);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('docker')), ['list', 'v2s2']);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('art')), ['sbom', 'small']);
      },
      { needs: [PUSH_SINGLE, PUSH_DOCKER, PUSH_ARTIFACT] },
    );

    // ---- derived image, another repository ------------------------------------------------
    step(
      'import derived (single + 1 layer) and push -> derived:v1 (base layers mounted from single)',
      async (ctx, t) => {
        const { derived, single } = ctx.images;
        const tar = join(ctx.tmp, 'derived.tar');
        await layoutTar(ctx.images, ['derived'], tar);
        await cd().ctr(['images', 'import', '--no-unpack', '--base-name', IN, tar]);
        const mark = ctx.registry.mark();
        await tagPush(ctx, `${IN}:derived`, 'derived:v1');
        await ctx.registry.expectManifest(ctx.repo('derived'), 'v1', derived.digest);
        const shared = single.layers.map((l) => l.digest);
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('derived'), [ctx.repo('single')], shared));
      },
      { needs: [PULL] },
    );
  },
);

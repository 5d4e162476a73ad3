/**
 * buildah against ferro-oci-server: images built here (from scratch, COPY
 * and config only, so no container runtime is needed) and the 30 MiB test
 * image, pushed as OCI and Docker schema2, a manifest list of two
 * architectures, pulls by tag, digest and platform, and a derived image
 * pushed to another repository (its base layers mounted).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertMounted, clientSuite, diffIdOf, readTrimmed, versionOf, type ModeContext } from './harness.js';
import { ContainersTool } from './clients/containers.js';
import { blobPath, digestOf, MT } from './images.js';

interface Manifest {
  mediaType: string;
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

/** The layers the registry serves for `manifest` gunzip to the config's diff_ids. */
async function checkServedLayers(ctx: ModeContext, repo: string, manifest: Manifest): Promise<void> {
  const config = JSON.parse((await ctx.registry.blob(repo, manifest.config.digest)).toString('utf8')) as { rootfs: { diff_ids: string[] } };
  const diffIds = config.rootfs.diff_ids;
  assert.equal(manifest.layers.length, diffIds.length, 'layer count = diff_ids count');
  for (const [i, l] of manifest.layers.entries()) {
    const blob = await ctx.registry.blob(repo, l.digest);
    assert.equal(digestOf(blob), l.digest, `layer ${i} bytes served hash to their digest`);
    assert.equal(diffIdOf(blob), diffIds[i], `layer ${i} (${l.digest}) does not gunzip to its diff_id`);
  }
}

clientSuite(
  'buildah',
  {
    requires: ['buildah'],
    needsRoot: true,
    versions: async () => ({ buildah: await versionOf('buildah', ['--version']) }),
  },
  ({ step, restartPoint }) => {
    let tool: ContainersTool | undefined;
    const bh = () => {
      if (!tool) throw new Error('buildah store not set up');
      return tool;
    };

    /** buildah from scratch + copy + config + commit -> localhost/interop-bh:<tag>; returns the image ID. */
    const build = async (ctx: ModeContext, arch: 'amd64' | 'arm64', tag: string): Promise<string> => {
      const b = bh();
      const context = join(ctx.tmp, 'context');
      await mkdir(context, { recursive: true });
      await copyFile('/bin/busybox', join(context, 'busybox'));
      await writeFile(join(context, 'hello.txt'), `built by buildah (${arch}) for ${ctx.repoPrefix}\n`);
      const container = (await b.run(['from', '--arch', arch, 'scratch'])).stdout.trim();
      await b.run(['copy', container, join(context, 'busybox'), '/bin/busybox']);
      await b.run(['copy', container, join(context, 'hello.txt'), '/etc/hello.txt']);
      await b.run(['config', '--arch', arch, '--os', 'linux', '--cmd', '["/bin/busybox","cat","/etc/hello.txt"]', '--label', 'org.example.interop=buildah', container]);
      await b.run(['commit', '-q', '--format', 'oci', '--rm', container, `localhost/interop-bh:${tag}`]);
      return b.imageId(`localhost/interop-bh:${tag}`);
    };

    const SETUP = 'buildah: private store (vfs) and registries.conf marking the server insecure';
    step(
      SETUP,
      async (ctx) => {
        tool = await ContainersTool.create('buildah', ctx.tmp, ctx.registry.host);
        ctx.cleanup(async () => tool?.destroy());
        await tool.run(['images']);
      },
      { critical: true },
    );

    // ---- push phase ----------------------------------------------------------------
    const BUILD = 'build an image from scratch (copy + config + commit, amd64)';
    step(BUILD, async (ctx) => {
      const id = await build(ctx, 'amd64', 'amd64');
      assert.match(id, /^[0-9a-f]{64}$/);
      ctx.set('builtId', `sha256:${id}`);
    });

    const PUSH_BUILT = 'push the built image -> built:v1 (OCI)';
    step(
      PUSH_BUILT,
      async (ctx) => {
        const digestFile = join(ctx.tmp, 'digest.built');
        await bh().run(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-bh:amd64', `docker://${ctx.ref('built:v1')}`]);
        const pushed = await readTrimmed(digestFile);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('built'), 'v1', pushed);
        assert.equal(m.mediaType, MT.ociManifest);
        assert.equal(m.config.digest, ctx.get('builtId'), 'registry config digest = local image ID');
        await checkServedLayers(ctx, ctx.repo('built'), m);
        ctx.set('builtDigest', pushed);
      },
      { needs: [BUILD] },
    );

    const PUSH_V2S2 = 'push -f v2s2 -> built:v2s2 (Docker schema2)';
    step(
      PUSH_V2S2,
      async (ctx) => {
        const digestFile = join(ctx.tmp, 'digest.v2s2');
        await bh().run(['push', '--tls-verify=false', '-f', 'v2s2', '--digestfile', digestFile, 'localhost/interop-bh:amd64', `docker://${ctx.ref('built:v2s2')}`]);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('built'), 'v2s2', await readTrimmed(digestFile));
        assert.equal(m.mediaType, MT.dockerManifest);
        assert.equal((await ctx.registry.manifest(ctx.repo('built'), 'v2s2')).contentType, MT.dockerManifest);
        await checkServedLayers(ctx, ctx.repo('built'), m);
      },
      { needs: [BUILD] },
    );

    const PUSH_SINGLE = 'pull oci:single into the store and push it -> single:v1 (30 MiB layer)';
    step(PUSH_SINGLE, async (ctx) => {
      const { single, layout } = ctx.images;
      const b = bh();
      await b.run(['pull', '-q', `oci:${layout}:single`]);
      const digestFile = join(ctx.tmp, 'digest.single');
      await b.run(['push', '--tls-verify=false', '--digestfile', digestFile, single.config.digest.slice(7), `docker://${ctx.ref('single:v1')}`]);
      const pushed = await readTrimmed(digestFile);
      const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('single'), 'v1', pushed);
      assert.equal(m.config.digest, single.config.digest);
      await checkServedLayers(ctx, ctx.repo('single'), m);
      ctx.set('singleDigest', pushed);
    });

    const PUSH_INDEX = 'build arm64 too; manifest create / add / push --all -> multi:v1 (OCI index)';
    step(
      PUSH_INDEX,
      async (ctx) => {
        const b = bh();
        await build(ctx, 'arm64', 'arm64');
        await b.run(['manifest', 'create', 'localhost/interop-bh-list:v1']);
        await b.run(['manifest', 'add', 'localhost/interop-bh-list:v1', 'localhost/interop-bh:amd64']);
        await b.run(['manifest', 'add', 'localhost/interop-bh-list:v1', 'localhost/interop-bh:arm64']);
        const digestFile = join(ctx.tmp, 'digest.multi');
        await b.run(['manifest', 'push', '--all', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-bh-list:v1', `docker://${ctx.ref('multi:v1')}`]);
        const index = await ctx.registry.expectManifest<{ mediaType: string; manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> }>(
          ctx.repo('multi'),
          'v1',
          await readTrimmed(digestFile),
        );
        assert.equal(index.mediaType, MT.ociIndex);
        assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
        for (const m of index.manifests) await ctx.registry.expectManifest(ctx.repo('multi'), m.digest, m.digest);
        ctx.set('arm64Id', `sha256:${await b.imageId('localhost/interop-bh:arm64')}`);
      },
      { needs: [BUILD] },
    );

    const PUSH_LIST = 'manifest push --all -f v2s2 -> multi:list (Docker manifest list)';
    step(
      PUSH_LIST,
      async (ctx) => {
        const digestFile = join(ctx.tmp, 'digest.list');
        await bh().run(['manifest', 'push', '--all', '-f', 'v2s2', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-bh-list:v1', `docker://${ctx.ref('multi:list')}`]);
        const list = await ctx.registry.expectManifest<{ mediaType: string; manifests: Array<{ mediaType: string; digest: string }> }>(ctx.repo('multi'), 'list', await readTrimmed(digestFile));
        assert.equal(list.mediaType, MT.dockerList);
        for (const m of list.manifests) {
          assert.equal(m.mediaType, MT.dockerManifest);
          await ctx.registry.expectManifest(ctx.repo('multi'), m.digest, m.digest);
        }
      },
      { needs: [PUSH_INDEX] },
    );

    restartPoint();

    // ---- pull phase ------------------------------------------------------------------
    const PULL = 'rmi -a, then pull built:v1 by tag (image ID, digest)';
    step(
      PULL,
      async (ctx) => {
        const b = bh();
        await b.run(['rmi', '-a', '-f']);
        assert.equal((await b.run(['images', '-q'])).stdout.trim(), '', 'the store is empty before the pull');
        await b.run(['pull', '-q', '--tls-verify=false', ctx.ref('built:v1')]);
        assert.equal(`sha256:${await b.imageId(ctx.ref('built:v1'))}`, ctx.get('builtId'));
        assert.equal(await b.inspectImage(ctx.ref('built:v1'), '{{.FromImageDigest}}'), ctx.get('builtDigest'));
      },
      { needs: [PUSH_BUILT] },
    );

    step(
      'pull built@<digest>',
      async (ctx) => {
        const ref = `${ctx.ref('built')}@${ctx.get('builtDigest')}`;
        await bh().run(['pull', '-q', '--tls-verify=false', ref]);
        assert.equal(`sha256:${await bh().imageId(ref)}`, ctx.get('builtId'));
      },
      { needs: [PUSH_BUILT] },
    );

    const PULL_SINGLE = 'pull single:v1 and push it to an oci: layout: the original uncompressed layers';
    step(
      PULL_SINGLE,
      async (ctx) => {
        const { single } = ctx.images;
        const b = bh();
        await b.run(['pull', '-q', '--tls-verify=false', ctx.ref('single:v1')]);
        assert.equal(`sha256:${await b.imageId(ctx.ref('single:v1'))}`, single.config.digest);
        const out = join(ctx.tmp, 'pushed-layout');
        await b.run(['push', ctx.ref('single:v1'), `oci:${out}:single`]);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        const manifest = JSON.parse(await readFile(blobPath(out, index.manifests[0]!.digest), 'utf8')) as Manifest;
        assert.equal(manifest.config.digest, single.config.digest);
        for (const [i, l] of manifest.layers.entries()) {
          const bytes = await readFile(blobPath(out, l.digest));
          const uncompressed = l.mediaType.endsWith('gzip') ? diffIdOf(bytes) : digestOf(bytes);
          assert.equal(uncompressed, single.layers[i]!.diffId, `layer ${i}: content differs from the original`);
        }
      },
      { needs: [PUSH_SINGLE] },
    );

    step(
      'pull built:v2s2 (Docker schema2): same image ID',
      async (ctx) => {
        await bh().run(['pull', '-q', '--tls-verify=false', ctx.ref('built:v2s2')]);
        assert.equal(`sha256:${await bh().imageId(ctx.ref('built:v2s2'))}`, ctx.get('builtId'));
      },
      { needs: [PUSH_V2S2] },
    );

    step(
      'pull --arch arm64 multi:v1 (OCI index): the arm64 image',
      async (ctx) => {
        await bh().run(['pull', '-q', '--tls-verify=false', '--arch', 'arm64', ctx.ref('multi:v1')]);
        assert.equal(await bh().inspectImage(ctx.ref('multi:v1'), '{{.OCIv1.Architecture}}'), 'arm64');
        assert.equal(`sha256:${await bh().imageId(ctx.ref('multi:v1'))}`, ctx.get('arm64Id'));
      },
      { needs: [PUSH_INDEX] },
    );

    step(
      'pull --arch arm64 multi:list (Docker manifest list): the arm64 image',
      async (ctx) => {
        await bh().run(['pull', '-q', '--tls-verify=false', '--arch', 'arm64', ctx.ref('multi:list')]);
        assert.equal(await bh().inspectImage(ctx.ref('multi:list'), '{{.OCIv1.Architecture}}'), 'arm64');
      },
      { needs: [PUSH_LIST] },
    );

    step(
      'tag listing (GET tags/list): built has v1 and v2s2, multi has list and v1',
      async (ctx) => {
        assert.deepEqual(await ctx.registry.tags(ctx.repo('built')), ['v1', 'v2s2']);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('multi')), ['list', 'v1']);
      },
      { needs: [PUSH_BUILT, PUSH_V2S2, PUSH_INDEX, PUSH_LIST] },
    );

    // ---- derived image, another repository ------------------------------------------------
    step(
      'from single:v1 + copy + commit, push -> derived:v1 (base layers mounted from single)',
      async (ctx, t) => {
        const b = bh();
        const context = join(ctx.tmp, 'context');
        await mkdir(context, { recursive: true });
        await writeFile(join(context, 'derived.txt'), `derived by buildah for ${ctx.repoPrefix}\n`);
        const container = (await b.run(['from', '--pull=false', ctx.ref('single:v1')])).stdout.trim();
        await b.run(['copy', container, join(context, 'derived.txt'), '/etc/derived.txt']);
        await b.run(['commit', '-q', '--rm', container, 'localhost/interop-bh:derived']);
        const baseLayers = (await ctx.registry.manifest(ctx.repo('single'), 'v1')).json<Manifest>().layers.map((l) => l.digest);
        const mark = ctx.registry.mark();
        const digestFile = join(ctx.tmp, 'digest.derived');
        await b.run(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-bh:derived', `docker://${ctx.ref('derived:v1')}`]);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('derived'), 'v1', await readTrimmed(digestFile));
        assert.equal(m.layers.length, baseLayers.length + 1);
        assert.deepEqual(
          m.layers.slice(0, baseLayers.length).map((l) => l.digest),
          baseLayers,
          'the derived image shares the base layers',
        );
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('derived'), [ctx.repo('single')], baseLayers));
      },
      { needs: [PULL_SINGLE] },
    );
  },
);

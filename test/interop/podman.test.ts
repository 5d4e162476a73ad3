/**
 * podman against ferro-oci-server. podman recompresses layers when it pushes
 * from its store, so manifest and layer digests are podman's own (taken from
 * --digestfile); the config digest (the image ID) and the uncompressed layer
 * bytes (diff_ids) are compared with the locally built image.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertMounted, clientSuite, diffIdOf, readTrimmed, versionOf, type ModeContext } from './harness.js';
import { ContainersTool } from './clients/containers.js';
import { blobPath, digestOf, MT } from './images.js';

interface Manifest {
  mediaType: string;
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

/** Checks the layers the registry serves for `manifest`: each gunzips to the expected diff_id. */
async function checkServedLayers(ctx: ModeContext, repo: string, manifest: Manifest, diffIds: readonly string[]): Promise<void> {
  assert.equal(manifest.layers.length, diffIds.length, 'layer count');
  for (const [i, l] of manifest.layers.entries()) {
    const blob = await ctx.registry.blob(repo, l.digest);
    assert.equal(digestOf(blob), l.digest, `layer ${i} bytes served hash to their digest`);
    assert.equal(diffIdOf(blob), diffIds[i], `layer ${i} (${l.digest}) uncompressed is not the original layer`);
  }
}

clientSuite(
  'podman',
  {
    requires: ['podman'],
    needsRoot: true,
    versions: async () => ({ podman: await versionOf('podman', ['--version']) }),
  },
  ({ step, restartPoint }) => {
    let tool: ContainersTool | undefined;
    const pm = (_ctx: ModeContext) => {
      if (!tool) throw new Error('podman store not set up');
      return tool;
    };

    const SETUP = 'podman: private store (vfs) and registries.conf marking the server insecure';
    step(
      SETUP,
      async (ctx) => {
        tool = await ContainersTool.create('podman', ctx.tmp, ctx.registry.host);
        ctx.cleanup(async () => tool?.destroy());
        await tool.run(['info', '--format', '{{.Store.GraphDriverName}}']);
      },
      { critical: true },
    );

    // ---- push phase ----------------------------------------------------------------
    const LOAD = 'load oci:single into the local store';
    step(LOAD, async (ctx) => {
      const { single, layout } = ctx.images;
      await pm(ctx).run(['pull', '-q', `oci:${layout}:single`]);
      assert.equal(`sha256:${await pm(ctx).imageId(single.config.digest.slice(7))}`, single.config.digest, 'local image ID = config digest');
    });

    const PUSH = 'push single:v1 (OCI, layers recompressed by podman)';
    step(
      PUSH,
      async (ctx) => {
        const { single } = ctx.images;
        const p = pm(ctx);
        await p.run(['tag', single.config.digest.slice(7), ctx.ref('single:v1')]);
        const digestFile = join(ctx.tmp, 'digest.single');
        await p.run(['push', '--tls-verify=false', '--digestfile', digestFile, ctx.ref('single:v1')]);
        const pushed = await readTrimmed(digestFile);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('single'), 'v1', pushed);
        assert.equal(m.mediaType, MT.ociManifest);
        assert.equal(m.config.digest, single.config.digest, 'config digest unchanged');
        await checkServedLayers(
          ctx,
          ctx.repo('single'),
          m,
          single.layers.map((l) => l.diffId),
        );
        ctx.set('pushed', pushed);
      },
      { needs: [LOAD] },
    );

    const PUSH_V2S2 = 'push --format v2s2 -> single:v2s2 (Docker schema2)';
    step(
      PUSH_V2S2,
      async (ctx) => {
        const { single } = ctx.images;
        const digestFile = join(ctx.tmp, 'digest.v2s2');
        await pm(ctx).run(['push', '--tls-verify=false', '--format', 'v2s2', '--digestfile', digestFile, ctx.ref('single:v1'), `docker://${ctx.ref('single:v2s2')}`]);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('single'), 'v2s2', await readTrimmed(digestFile));
        assert.equal(m.mediaType, MT.dockerManifest);
        assert.equal((await ctx.registry.manifest(ctx.repo('single'), 'v2s2')).contentType, MT.dockerManifest);
        assert.equal(m.config.digest, single.config.digest);
        assert.ok(m.layers.every((l) => l.mediaType === MT.dockerLayer));
      },
      { needs: [PUSH] },
    );

    const PUSH_INDEX = 'manifest create / add --all oci:multi / push --all -> multi:v1 (OCI index)';
    step(PUSH_INDEX, async (ctx) => {
      const { multi, layout } = ctx.images;
      const p = pm(ctx);
      await p.run(['manifest', 'create', 'localhost/interop-multi:oci']);
      await p.run(['manifest', 'add', '--all', 'localhost/interop-multi:oci', `oci:${layout}:multi`]);
      const digestFile = join(ctx.tmp, 'digest.multi');
      await p.run(['manifest', 'push', '--all', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-multi:oci', `docker://${ctx.ref('multi:v1')}`]);
      const index = await ctx.registry.expectManifest<{ mediaType: string; manifests: Array<{ digest: string; platform: { architecture: string } }> }>(
        ctx.repo('multi'),
        'v1',
        await readTrimmed(digestFile),
      );
      assert.equal(index.mediaType, MT.ociIndex);
      // Pushed from an OCI layout, the children are copied as they are.
      assert.deepEqual(
        index.manifests.map((m) => m.digest).sort(),
        [multi.amd64.digest, multi.arm64.digest].sort(),
      );
      for (const child of [multi.amd64, multi.arm64]) await ctx.registry.expectManifest(ctx.repo('multi'), child.digest, child.digest);
    });

    const PUSH_LIST = 'manifest push --all --format v2s2 -> multi:list (Docker manifest list)';
    step(
      PUSH_LIST,
      async (ctx) => {
        const digestFile = join(ctx.tmp, 'digest.list');
        await pm(ctx).run(['manifest', 'push', '--all', '--format', 'v2s2', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-multi:oci', `docker://${ctx.ref('multi:list')}`]);
        const list = await ctx.registry.expectManifest<{ mediaType: string; manifests: Array<{ mediaType: string; digest: string; platform: { architecture: string } }> }>(
          ctx.repo('multi'),
          'list',
          await readTrimmed(digestFile),
        );
        assert.equal(list.mediaType, MT.dockerList);
        assert.deepEqual(list.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
        for (const m of list.manifests) {
          assert.equal(m.mediaType, MT.dockerManifest);
          await ctx.registry.expectManifest(ctx.repo('multi'), m.digest, m.digest);
        }
      },
      { needs: [PUSH_INDEX] },
    );

    restartPoint();

    // ---- pull phase ------------------------------------------------------------------
    const PULL = 'rmi -a, then pull single:v1 by tag (image ID, digest)';
    step(
      PULL,
      async (ctx) => {
        const { single } = ctx.images;
        const p = pm(ctx);
        await p.run(['rmi', '-a', '-f']);
        assert.equal((await p.run(['images', '-q'])).stdout.trim(), '', 'the store is empty before the pull');
        await p.run(['pull', '-q', '--tls-verify=false', ctx.ref('single:v1')]);
        assert.equal(`sha256:${await p.imageId(ctx.ref('single:v1'))}`, single.config.digest);
        assert.equal(await p.inspectImage(ctx.ref('single:v1'), '{{.Digest}}'), ctx.get('pushed'));
      },
      { needs: [PUSH] },
    );

    step(
      'save the pulled image (oci-dir): its layers are the original uncompressed layers',
      async (ctx) => {
        const { single } = ctx.images;
        const out = join(ctx.tmp, 'saved');
        await pm(ctx).run(['save', '--format', 'oci-dir', '-o', out, ctx.ref('single:v1')]);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        const manifest = JSON.parse(await readFile(blobPath(out, index.manifests[0]!.digest), 'utf8')) as Manifest;
        assert.equal(manifest.config.digest, single.config.digest);
        const files = await readdir(join(out, 'blobs', 'sha256'));
        for (const [i, l] of manifest.layers.entries()) {
          assert.ok(files.includes(l.digest.slice(7)), `layer ${l.digest} saved`);
          const bytes = await readFile(blobPath(out, l.digest));
          const uncompressed = l.mediaType.endsWith('+gzip') ? diffIdOf(bytes) : digestOf(bytes);
          assert.equal(uncompressed, single.layers[i]!.diffId, `layer ${i}: content differs from the original`);
        }
      },
      { needs: [PULL] },
    );

    step(
      'pull single@<digest>',
      async (ctx) => {
        const pushed = ctx.get('pushed');
        await pm(ctx).run(['pull', '-q', '--tls-verify=false', `${ctx.ref('single')}@${pushed}`]);
        assert.equal(`sha256:${await pm(ctx).imageId(`${ctx.ref('single')}@${pushed}`)}`, ctx.images.single.config.digest);
      },
      { needs: [PUSH] },
    );

    step(
      'pull single:v2s2 (Docker schema2): same image ID',
      async (ctx) => {
        await pm(ctx).run(['pull', '-q', '--tls-verify=false', ctx.ref('single:v2s2')]);
        assert.equal(`sha256:${await pm(ctx).imageId(ctx.ref('single:v2s2'))}`, ctx.images.single.config.digest);
      },
      { needs: [PUSH_V2S2] },
    );

    step(
      'search --list-tags single (v1, v2s2)',
      async (ctx) => {
        // podman 4.3 ignores --format with --list-tags: a NAME/TAG table.
        const r = await pm(ctx).run(['search', '--tls-verify=false', '--list-tags', ctx.ref('single')]);
        const rows = r.stdout.trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
        assert.ok(rows.every((row) => row[0] === ctx.ref('single')), r.stdout);
        assert.deepEqual(rows.map((row) => row[1]).sort(), ['v1', 'v2s2']);
      },
      { needs: [PUSH, PUSH_V2S2] },
    );

    step(
      'search <host>/<prefix> (GET /v2/_catalog): lists the pushed repositories',
      async (ctx) => {
        const r = await pm(ctx).run(['search', '--tls-verify=false', '--format', '{{.Name}}', `${ctx.registry.host}/${ctx.repoPrefix}`]);
        const names = r.stdout.trim().split('\n').map((l) => l.trim()).filter(Boolean).sort();
        assert.deepEqual(names, [ctx.ref('multi'), ctx.ref('single')]);
      },
      { needs: [PUSH, PUSH_INDEX] },
    );

    step(
      'manifest inspect multi:v1 (remote): linux/amd64 and linux/arm64',
      async (ctx) => {
        const r = await pm(ctx).run(['manifest', 'inspect', ctx.ref('multi:v1')]);
        const index = JSON.parse(r.stdout) as { manifests: Array<{ platform: { os: string; architecture: string } }> };
        assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
      },
      { needs: [PUSH_INDEX] },
    );

    step(
      'pull --arch arm64 multi:v1 (OCI index): the arm64 image',
      async (ctx) => {
        const { multi } = ctx.images;
        await pm(ctx).run(['pull', '-q', '--tls-verify=false', '--arch', 'arm64', ctx.ref('multi:v1')]);
        assert.equal(await pm(ctx).inspectImage(ctx.ref('multi:v1'), '{{.Architecture}}'), 'arm64');
        assert.equal(`sha256:${await pm(ctx).imageId(ctx.ref('multi:v1'))}`, multi.arm64.config.digest);
      },
      { needs: [PUSH_INDEX] },
    );

    step(
      'pull --arch arm64 multi:list (Docker manifest list): the arm64 image',
      async (ctx) => {
        await pm(ctx).run(['pull', '-q', '--tls-verify=false', '--arch', 'arm64', ctx.ref('multi:list')]);
        assert.equal(await pm(ctx).inspectImage(ctx.ref('multi:list'), '{{.Architecture}}'), 'arm64');
        assert.equal(`sha256:${await pm(ctx).imageId(ctx.ref('multi:list'))}`, ctx.images.multi.arm64.config.digest);
      },
      { needs: [PUSH_LIST] },
    );

    // ---- derived image, another repository ------------------------------------------------
    step(
      'build FROM single:v1 (COPY only) and push -> derived:v1 (base layers mounted from single)',
      async (ctx, t) => {
        const p = pm(ctx);
        const context = join(ctx.tmp, 'build');
        await mkdir(context, { recursive: true });
        await writeFile(join(context, 'hello.txt'), `built by podman for ${ctx.repoPrefix}\n`);
        await writeFile(join(context, 'Containerfile'), `FROM ${ctx.ref('single:v1')}\nCOPY hello.txt /etc/hello.txt\n`);
        await p.run(['build', '--pull=never', '-q', '-t', 'localhost/interop-derived:v1', '-f', join(context, 'Containerfile'), context]);
        const base = await ctx.registry.manifest(ctx.repo('single'), 'v1');
        const baseLayers = base.json<Manifest>().layers.map((l) => l.digest);
        const mark = ctx.registry.mark();
        const digestFile = join(ctx.tmp, 'digest.derived');
        await p.run(['push', '--tls-verify=false', '--digestfile', digestFile, 'localhost/interop-derived:v1', `docker://${ctx.ref('derived:v1')}`]);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('derived'), 'v1', await readTrimmed(digestFile));
        assert.equal(m.layers.length, 4);
        assert.deepEqual(
          m.layers.slice(0, 3).map((l) => l.digest),
          baseLayers,
          'the derived image shares the base layers',
        );
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('derived'), [ctx.repo('single')], baseLayers));
      },
      { needs: [PULL] },
    );
  },
);

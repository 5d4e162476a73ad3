/**
 * Docker (dockerd 20.10 + docker CLI) against ferro-oci-server. dockerd
 * pushes Docker schema2 with layers it recompresses itself, so manifest and
 * layer digests are dockerd's (read from the `docker push` output); the
 * config digest (the image ID) and the uncompressed layers (diff_ids) are
 * compared with the locally built image. Multi-arch: a Docker manifest list
 * made with `docker manifest create/push`, and an OCI index (pushed over
 * HTTP) pulled by platform. Docker has no remote delete.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertMounted, assertNothingUploaded, clientSuite, diffIdOf, run, versionOf, type ModeContext } from './harness.js';
import { Docker } from './clients/docker.js';
import { fileDigest, MT } from './images.js';

interface Manifest {
  mediaType: string;
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

interface List {
  mediaType: string;
  manifests: Array<{ mediaType: string; digest: string; platform: { os: string; architecture: string } }>;
}

clientSuite(
  'docker',
  {
    requires: ['dockerd', 'docker'],
    needsRoot: true,
    versions: async () => ({
      dockerd: await versionOf('dockerd', ['--version']),
      'docker CLI': await versionOf('docker', ['--version']),
    }),
  },
  ({ step, restartPoint }) => {
    let daemon: Docker | undefined;
    const dk = () => {
      if (!daemon) throw new Error('dockerd is not running');
      return daemon;
    };

    const buildContext = async (ctx: ModeContext, name: string, dockerfile: string) => {
      const dir = join(ctx.tmp, 'build', name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'hello.txt'), `built by docker (${name}) for ${ctx.repoPrefix}\n`);
      await writeFile(join(dir, 'Dockerfile'), dockerfile);
      return dir;
    };

    const SETUP = 'start dockerd (vfs, no iptables/bridge; own data-root, exec-root and socket)';
    step(
      SETUP,
      async (ctx, t) => {
        daemon = await Docker.start(ctx.tmp, ctx.registry.host);
        ctx.watch(daemon.daemon);
        ctx.cleanup(async () => daemon?.stop());
        const version = (await daemon.docker(['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'])).stdout.trim();
        t.diagnostic(`dockerd pid ${daemon.daemon.pid}: server ${version}; ${daemon.host}`);
      },
      { critical: true },
    );

    // ---- push phase ----------------------------------------------------------------
    const LOAD = 'docker load the docker-archive of single';
    step(LOAD, async (ctx) => {
      const { single, dockerArchive, dockerArchiveTag } = ctx.images;
      await dk().docker(['load', '-i', dockerArchive]);
      assert.equal(await dk().inspect(dockerArchiveTag, '{{.Id}}'), single.config.digest, 'image ID = config digest');
    });

    const PUSH = 'tag and push single:v1 (Docker schema2, layers recompressed by dockerd)';
    step(
      PUSH,
      async (ctx) => {
        const { single, dockerArchiveTag } = ctx.images;
        await dk().docker(['tag', dockerArchiveTag, ctx.ref('single:v1')]);
        const out = await dk().docker(['push', ctx.ref('single:v1')]);
        const pushed = Docker.pushedDigest(out.stdout);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('single'), 'v1', pushed);
        assert.equal(m.mediaType, MT.dockerManifest);
        assert.equal((await ctx.registry.manifest(ctx.repo('single'), 'v1')).contentType, MT.dockerManifest);
        assert.equal(m.config.digest, single.config.digest, 'config digest unchanged');
        assert.equal(m.layers.length, 3);
        for (const [i, l] of m.layers.entries()) {
          assert.equal(diffIdOf(await ctx.registry.blob(ctx.repo('single'), l.digest)), single.layers[i]!.diffId, `layer ${i} (${l.digest}) uncompressed is not the original layer`);
        }
        ctx.set('pushed', pushed);
      },
      { needs: [LOAD] },
    );

    const PUSH_ARM = 'build an arm64 image FROM scratch (legacy builder) and push -> arm:v1';
    step(PUSH_ARM, async (ctx) => {
      const dir = await buildContext(ctx, 'arm64', 'FROM scratch\nCOPY hello.txt /etc/hello.txt\n');
      await dk().docker(['build', '-q', '--platform', 'linux/arm64', '-t', ctx.ref('arm:v1'), dir]);
      assert.equal(await dk().inspect(ctx.ref('arm:v1'), '{{.Architecture}}'), 'arm64');
      const out = await dk().docker(['push', ctx.ref('arm:v1')]);
      await ctx.registry.expectManifest(ctx.repo('arm'), 'v1', Docker.pushedDigest(out.stdout));
    });

    const PUSH_LIST = 'docker manifest create --insecure multi:v1 (single:v1 + arm:v1) and push (Docker manifest list)';
    step(
      PUSH_LIST,
      async (ctx) => {
        await dk().docker(['manifest', 'create', '--insecure', ctx.ref('multi:v1'), ctx.ref('single:v1'), ctx.ref('arm:v1')]);
        const out = await dk().docker(['manifest', 'push', '--insecure', ctx.ref('multi:v1')]);
        const digest = [...out.stdout.matchAll(/sha256:[0-9a-f]{64}/g)].pop()?.[0];
        assert.ok(digest, `no digest in the docker manifest push output: ${out.stdout}`);
        const list = await ctx.registry.expectManifest<List>(ctx.repo('multi'), 'v1', digest);
        assert.equal(list.mediaType, MT.dockerList);
        assert.deepEqual(list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
        for (const m of list.manifests) await ctx.registry.expectManifest(ctx.repo('multi'), m.digest, m.digest);
        ctx.set('list', digest);
      },
      { needs: [PUSH, PUSH_ARM] },
    );

    const SEED_INDEX = 'seed: the OCI index multi (linux/amd64 + linux/arm64) pushed over plain HTTP -> oci-index:v1';
    step(SEED_INDEX, async (ctx) => {
      await ctx.registry.pushFromLayout(ctx.images, ctx.repo('oci-index'), ctx.images.multi, 'v1');
      await ctx.registry.expectManifest(ctx.repo('oci-index'), 'v1', ctx.images.multi.digest);
    });

    restartPoint();

    // ---- pull phase ------------------------------------------------------------------
    const PULL = 'rmi, then pull single:v1 by tag (image ID, RepoDigests)';
    step(
      PULL,
      async (ctx) => {
        const { single, dockerArchiveTag } = ctx.images;
        await dk().docker(['rmi', ctx.ref('single:v1'), dockerArchiveTag]);
        assert.equal((await dk().docker(['images', '-q', '--filter', `reference=${ctx.ref('single')}`])).stdout.trim(), '');
        await dk().docker(['pull', ctx.ref('single:v1')]);
        assert.equal(await dk().inspect(ctx.ref('single:v1'), '{{.Id}}'), single.config.digest);
        const repoDigests = (await dk().inspect(ctx.ref('single:v1'), '{{join .RepoDigests " "}}')).split(' ');
        assert.ok(repoDigests.includes(`${ctx.ref('single')}@${ctx.get('pushed')}`), `RepoDigests ${repoDigests.join(' ')}`);
      },
      { needs: [PUSH] },
    );

    step(
      'docker save the pulled image: its layers are the original uncompressed layers',
      async (ctx) => {
        const { single } = ctx.images;
        const tar = join(ctx.tmp, 'saved.tar');
        const out = join(ctx.tmp, 'saved');
        await mkdir(out, { recursive: true });
        await dk().docker(['save', '-o', tar, ctx.ref('single:v1')]);
        await run('tar', ['-xf', tar, '-C', out]);
        const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
        const layers = manifest[0]!.Layers;
        assert.equal(layers.length, single.layers.length);
        for (const [i, l] of layers.entries()) assert.equal(await fileDigest(join(out, l)), single.layers[i]!.diffId, `layer ${i} (${l})`);
      },
      { needs: [PULL] },
    );

    step(
      'push single:v1 again: "Layer already exists", nothing uploaded',
      async (ctx, t) => {
        const mark = ctx.registry.mark();
        const out = await dk().docker(['push', ctx.ref('single:v1')]);
        assert.match(out.stdout, /Layer already exists/);
        assert.equal(Docker.pushedDigest(out.stdout), ctx.get('pushed'));
        t.diagnostic(await assertNothingUploaded(ctx.registry, mark, ctx.repo('single')));
      },
      { needs: [PULL] },
    );

    step(
      'pull single@<digest>',
      async (ctx) => {
        const ref = `${ctx.ref('single')}@${ctx.get('pushed')}`;
        await dk().docker(['pull', ref]);
        assert.equal(await dk().inspect(ref, '{{.Id}}'), ctx.images.single.config.digest);
      },
      { needs: [PUSH] },
    );

    step(
      'docker manifest inspect --insecure multi:v1 (remote)',
      async (ctx) => {
        const out = await dk().docker(['manifest', 'inspect', '--insecure', ctx.ref('multi:v1')]);
        const list = JSON.parse(out.stdout) as List;
        assert.equal(list.mediaType, MT.dockerList);
        assert.deepEqual(list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
      },
      { needs: [PUSH_LIST] },
    );

    step(
      'pull --platform linux/arm64 multi:v1 (Docker manifest list): arm64, RepoDigest = list digest',
      async (ctx) => {
        await dk().docker(['rmi', ctx.ref('arm:v1')]);
        await dk().docker(['pull', '--platform', 'linux/arm64', ctx.ref('multi:v1')]);
        assert.equal(await dk().inspect(ctx.ref('multi:v1'), '{{.Architecture}}'), 'arm64');
        const repoDigests = (await dk().inspect(ctx.ref('multi:v1'), '{{join .RepoDigests " "}}')).split(' ');
        assert.ok(repoDigests.includes(`${ctx.ref('multi')}@${ctx.get('list')}`), `RepoDigests ${repoDigests.join(' ')}`);
      },
      { needs: [PUSH_LIST] },
    );

    step(
      'pull --platform linux/arm64 oci-index:v1 (OCI index): the arm64 image',
      async (ctx) => {
        const { multi } = ctx.images;
        await dk().docker(['pull', '--platform', 'linux/arm64', ctx.ref('oci-index:v1')]);
        assert.equal(await dk().inspect(ctx.ref('oci-index:v1'), '{{.Architecture}}'), 'arm64');
        assert.equal(await dk().inspect(ctx.ref('oci-index:v1'), '{{.Id}}'), multi.arm64.config.digest);
      },
      { needs: [SEED_INDEX] },
    );

    step(
      'tag listing (GET tags/list)',
      async (ctx) => {
        assert.deepEqual(await ctx.registry.tags(ctx.repo('single')), ['v1']);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('multi')), ['v1']);
      },
      { needs: [PUSH, PUSH_LIST] },
    );

    // ---- derived image, another repository ------------------------------------------------
    step(
      'build FROM single:v1 (legacy builder, COPY) and push -> derived:v1 (base layers mounted from single)',
      async (ctx, t) => {
        const dir = await buildContext(ctx, 'derived', `FROM ${ctx.ref('single:v1')}\nCOPY hello.txt /etc/hello.txt\n`);
        await dk().docker(['build', '-q', '-t', ctx.ref('derived:v1'), dir]);
        const baseLayers = (await ctx.registry.manifest(ctx.repo('single'), 'v1')).json<Manifest>().layers.map((l) => l.digest);
        const mark = ctx.registry.mark();
        const out = await dk().docker(['push', ctx.ref('derived:v1')]);
        const m = await ctx.registry.expectManifest<Manifest>(ctx.repo('derived'), 'v1', Docker.pushedDigest(out.stdout));
        assert.deepEqual(
          m.layers.slice(0, baseLayers.length).map((l) => l.digest),
          baseLayers,
          'the derived image shares the base layers',
        );
        assert.equal(m.layers.length, baseLayers.length + 1);
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('derived'), [ctx.repo('single')], baseLayers));
      },
      { needs: [PULL] },
    );
  },
);

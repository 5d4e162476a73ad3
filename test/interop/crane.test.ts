/**
 * crane (go-containerregistry) against ferro-oci-server, filesystem+sqlite.
 * crane pushes layouts verbatim, so digests are compared with the locally
 * built images; it also builds manifests and configs of its own (append,
 * mutate, flatten, index filter/append), which the server must take as they are.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertMounted, clientSuite, type ModeContext } from './harness.js';
import { Crane } from './clients/crane.js';
import { assertLayoutBlobs, fetchedVersion, missingFetched, subLayout } from './clients/fetched.js';
import { ARTIFACT_TYPE, digestOf, MT } from './images.js';

const execFileP = promisify(execFile);

/** One file of a tar archive. */
async function tarEntry(tar: string, path: string): Promise<string> {
  return (await execFileP('tar', ['-xOf', tar, path], { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

clientSuite(
  'crane',
  {
    requires: ['tar'],
    modes: ['fs'],
    unavailable: () => missingFetched('crane'),
    versions: () => Promise.resolve({ crane: `${fetchedVersion('crane')} (Debian sid)` }),
  },
  ({ step }) => {
    let client: Crane | undefined;
    const crane = async (ctx: ModeContext) => (client ??= await Crane.create(ctx.tmp));
    const layout = (ctx: ModeContext, ref: 'single' | 'small' | 'multi' | 'artifact') => {
      const { single, small, multi, artifact } = ctx.images;
      const root = { single, small, multi, artifact: { ...artifact, artifactType: ARTIFACT_TYPE } }[ref];
      return subLayout(ctx.images, root, ref, join(ctx.tmp, 'layouts', ref));
    };

    const PUSH = 'push an OCI layout (single) -> single:v1: served verbatim; crane digest/manifest/config/blob agree';
    step(PUSH, async (ctx) => {
      const { single } = ctx.images;
      const c = await crane(ctx);
      await c.run(['push', await layout(ctx, 'single'), ctx.ref('single:v1')]);
      await ctx.registry.expectManifest(ctx.repo('single'), 'v1', single.digest);
      assert.equal(await c.out(['digest', ctx.ref('single:v1')]), single.digest);
      assert.equal(await c.out(['digest', ctx.ref(`single@${single.digest}`)]), single.digest);
      assert.equal(digestOf((await c.run(['manifest', ctx.ref('single:v1')])).stdoutBytes), single.digest);
      assert.equal(digestOf((await c.run(['config', ctx.ref('single:v1')])).stdoutBytes), single.config.digest);
      const random = single.layers[1]!;
      const blob = await c.run(['blob', ctx.ref(`single@${random.digest}`)], { binaryStdout: true });
      assert.equal(blob.stdoutBytes.length, random.size);
      assert.equal(digestOf(blob.stdoutBytes), random.digest, 'the 30 MiB layer read back with crane blob');
    });

    step(
      'pull --format oci, pull as a tarball, validate --remote, export: every blob and file intact',
      async (ctx) => {
        const { single } = ctx.images;
        const c = await crane(ctx);
        const out = join(ctx.tmp, 'pulled-oci');
        await c.run(['pull', '--format', 'oci', ctx.ref('single:v1'), out]);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        assert.equal(index.manifests[0]?.digest, single.digest);
        await assertLayoutBlobs(out, [single.digest, single.config.digest, ...single.layers.map((l) => l.digest)]);
        const tarball = join(ctx.tmp, 'single.tar');
        await c.run(['pull', ctx.ref('single:v1'), tarball]);
        const manifest = JSON.parse(await tarEntry(tarball, 'manifest.json')) as Array<{ Layers: string[] }>;
        assert.equal(manifest[0]?.Layers.length, 3);
        await c.run(['validate', '--remote', ctx.ref('single:v1')]);
        const fs = join(ctx.tmp, 'fs.tar');
        await c.run(['export', ctx.ref('single:v1'), fs]);
        assert.equal(await tarEntry(fs, 'etc/interop-test'), 'ferro-oci-server interop test image: single\n');
      },
      { needs: [PUSH] },
    );

    const TAGS = 'tag v2, copy to another repository (layers mounted), copy --all-tags, ls, catalog';
    step(
      TAGS,
      async (ctx, t) => {
        const { single } = ctx.images;
        const c = await crane(ctx);
        await c.run(['tag', ctx.ref('single:v1'), 'v2']);
        await ctx.registry.expectManifest(ctx.repo('single'), 'v2', single.digest);
        const mark = ctx.registry.mark();
        await c.run(['copy', ctx.ref('single:v1'), ctx.ref('copy:v1')]);
        await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
        t.diagnostic(await assertMounted(ctx.registry, mark, ctx.repo('copy'), [ctx.repo('single')], single.layers.map((l) => l.digest)));
        await c.run(['copy', '--all-tags', ctx.ref('single'), ctx.ref('alltags')]);
        assert.deepEqual(await ctx.registry.tags(ctx.repo('alltags')), ['v1', 'v2']);
        assert.deepEqual((await c.out(['ls', ctx.ref('single')])).split('\n').sort(), ['v1', 'v2']);
        const catalog = (await c.out(['catalog', ctx.registry.host])).split('\n');
        for (const name of ['single', 'copy', 'alltags']) assert.ok(catalog.includes(ctx.repo(name)), `crane catalog lists ${ctx.repo(name)}: ${catalog.join(' ')}`);
      },
      { needs: [PUSH] },
    );

    step(
      'client-built images: append a layer, mutate the config, flatten (validated remotely)',
      async (ctx) => {
        const { single } = ctx.images;
        const c = await crane(ctx);
        const dir = join(ctx.tmp, 'newlayer');
        await mkdir(join(dir, 'etc'), { recursive: true });
        await writeFile(join(dir, 'etc', 'appended'), 'appended by crane\n');
        await execFileP('tar', ['-C', dir, '-cf', join(ctx.tmp, 'newlayer.tar'), 'etc']);
        await c.run(['append', '-b', ctx.ref('single:v1'), '-f', join(ctx.tmp, 'newlayer.tar'), '-t', ctx.ref('single:appended')]);
        const appended = (await ctx.registry.manifest(ctx.repo('single'), 'appended')).json<{ layers: Array<{ digest: string }> }>();
        assert.deepEqual(
          appended.layers.slice(0, 3).map((l) => l.digest),
          single.layers.map((l) => l.digest),
        );
        assert.equal(appended.layers.length, 4);
        await c.run(['mutate', ctx.ref('single:v1'), '-l', 'org.example.mutated=yes', '-e', 'FOO=bar', '-t', ctx.ref('single:mutated')]);
        const config = JSON.parse(await c.out(['config', ctx.ref('single:mutated')])) as { config: { Labels?: Record<string, string>; Env?: string[] } };
        assert.equal(config.config.Labels?.['org.example.mutated'], 'yes');
        assert.ok(config.config.Env?.includes('FOO=bar'));
        await c.run(['flatten', ctx.ref('single:v1'), '-t', ctx.ref('single:flat')]);
        assert.equal((await ctx.registry.manifest(ctx.repo('single'), 'flat')).json<{ layers: unknown[] }>().layers.length, 1);
        await c.run(['validate', '--remote', ctx.ref('single:flat')]);
      },
      { needs: [PUSH] },
    );

    const INDEX = 'push the OCI index (multi) -> multi:v1; digest and pull --platform linux/arm64; index filter and append';
    step(INDEX, async (ctx) => {
      const { multi, single } = ctx.images;
      const c = await crane(ctx);
      await c.run(['push', await layout(ctx, 'multi'), ctx.ref('multi:v1')]);
      await ctx.registry.expectManifest(ctx.repo('multi'), 'v1', multi.digest);
      assert.equal(await c.out(['digest', '--platform', 'linux/arm64', ctx.ref('multi:v1')]), multi.arm64.digest);
      const out = join(ctx.tmp, 'pulled-arm64');
      await c.run(['pull', '--platform', 'linux/arm64', '--format', 'oci', ctx.ref('multi:v1'), out]);
      await assertLayoutBlobs(out, [multi.arm64.digest, multi.arm64.config.digest, ...multi.arm64.layers.map((l) => l.digest)]);
      await c.run(['index', 'filter', ctx.ref('multi:v1'), '--platform', 'linux/amd64', '-t', ctx.ref('multi:amd64')]);
      const filtered = (await ctx.registry.manifest(ctx.repo('multi'), 'amd64')).json<{ manifests: Array<{ digest: string }> }>();
      assert.deepEqual(
        filtered.manifests.map((m) => m.digest),
        [multi.amd64.digest],
      );
      await c.run(['push', await layout(ctx, 'single'), ctx.ref('multi:single')]);
      await c.run(['index', 'append', ctx.ref('multi:v1'), '-m', ctx.ref('multi:single'), '-t', ctx.ref('multi:plus')]);
      const plus = (await ctx.registry.manifest(ctx.repo('multi'), 'plus')).json<{ manifests: Array<{ digest: string }> }>();
      assert.deepEqual(
        plus.manifests.map((m) => m.digest),
        [multi.amd64.digest, multi.arm64.digest, single.digest],
      );
    });

    step('push an OCI 1.1 artifact with a subject verbatim; the referrers API lists it', async (ctx) => {
      const { small, artifact } = ctx.images;
      const c = await crane(ctx);
      await c.run(['push', await layout(ctx, 'small'), ctx.ref('art:small')]);
      await c.run(['push', await layout(ctx, 'artifact'), ctx.ref('art:sbom')]);
      await ctx.registry.expectManifest(ctx.repo('art'), 'sbom', artifact.digest);
      assert.equal((JSON.parse(await c.out(['manifest', ctx.ref('art:sbom')])) as { subject: { digest: string } }).subject.digest, small.digest);
      const refs = await ctx.registry.referrers(ctx.repo('art'), small.digest);
      assert.deepEqual(
        refs.index.manifests.map((m) => [m.digest, m.artifactType]),
        [[artifact.digest, ARTIFACT_TYPE]],
      );
    });

    step(
      'delete the tag single:v2 (DELETE by tag), then single by digest: 404, crane digest fails, copy:v1 stays',
      async (ctx) => {
        const { single } = ctx.images;
        const c = await crane(ctx);
        const repo = ctx.repo('single');
        const mark = ctx.registry.mark();
        await c.run(['delete', ctx.ref('single:v2')]);
        await ctx.registry.sync();
        const deletes = ctx.registry.requestsSince(mark).filter((r) => r.method === 'DELETE');
        assert.deepEqual(
          deletes.map((r) => `${r.url} -> ${r.status}`),
          [`/v2/${repo}/manifests/v2 -> 202`],
          'crane deletes the tag itself (DELETE by tag), not the manifest',
        );
        assert.deepEqual(await ctx.registry.tags(repo), ['appended', 'flat', 'mutated', 'v1']);
        await ctx.registry.expectManifest(repo, single.digest, single.digest);
        await c.run(['delete', ctx.ref(`single@${single.digest}`)]);
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/${single.digest}`), 404);
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/v1`), 404);
        await c.refused(['digest', ctx.ref('single:v1')]);
        await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
        assert.equal((await ctx.registry.manifest(ctx.repo('copy'), 'v1')).contentType, MT.ociManifest);
      },
      { needs: [PUSH, TAGS] },
    );
  },
);

/**
 * The ORAS CLI against ferro-oci-server (filesystem+sqlite): oras 1.3 and,
 * as a second suite, oras 1.2 (what Debian trixie ships). Images copied from
 * the OCI layout verbatim, file artifacts pushed and pulled back, referrers
 * attached and discovered (also a referrer of a referrer, and with the
 * referrers tag schema forced), copies with referrers, and deletes whose
 * effect on the referrers listing is checked. oras 1.2 lacks backup/restore,
 * `manifest index create --plain-http` and nested discover output: those
 * steps are left out of its suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientSuite, type ModeContext } from './harness.js';
import { assertLayoutBlobs, fetchedVersion, missingFetched } from './clients/fetched.js';
import { Oras } from './clients/oras.js';
import { digestOf, fileDigest, MT } from './images.js';

const SBOM = 'application/vnd.example.sbom';
const SIGNATURE = 'application/vnd.example.signature';
const PROVENANCE = 'application/vnd.example.provenance';
const EMPTY_CONFIG = { mediaType: MT.empty, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };

const sorted = (xs: Iterable<string>) => [...xs].sort();

function orasSuite(name: 'oras' | 'oras-1.2', latest: boolean): void {
  clientSuite(
    name,
    {
      requires: [],
      modes: ['fs'],
      unavailable: () => missingFetched(name),
      versions: () => Promise.resolve({ oras: `${fetchedVersion(name)} (Debian ${latest ? 'sid' : 'trixie'})` }),
    },
    ({ step }) => {
      let client: Oras | undefined;
      const oras = async (ctx: ModeContext) => (client ??= await Oras.create(name, ctx.tmp));
      const P = '--plain-http';
      const cpFromLayout = async (ctx: ModeContext, ref: string, to: string) => (await oras(ctx)).run(['cp', '--no-tty', '--from-oci-layout', `${ctx.images.layout}:${ref}`, '--to-plain-http', ctx.ref(to)]);
      const referrerDigests = async (ctx: ModeContext, repo: string, subject: string) => sorted((await ctx.registry.referrers(ctx.repo(repo), subject)).index.manifests.map((m) => m.digest));

      const PUSH = 'cp from the OCI layout: single -> single:v1 (verbatim); resolve, manifest fetch, blob fetch of the 30 MiB layer';
      step(PUSH, async (ctx) => {
        const { single } = ctx.images;
        const o = await oras(ctx);
        await cpFromLayout(ctx, 'single', 'single:v1');
        await ctx.registry.expectManifest(ctx.repo('single'), 'v1', single.digest);
        assert.equal(await o.out(['resolve', P, ctx.ref('single:v1')]), single.digest);
        assert.equal(digestOf((await o.run(['manifest', 'fetch', P, ctx.ref('single:v1')])).stdoutBytes), single.digest);
        const random = single.layers[1]!;
        await o.run(['blob', 'fetch', P, '-o', join(ctx.tmp, 'random.blob'), ctx.ref(`single@${random.digest}`)]);
        assert.equal(await fileDigest(join(ctx.tmp, 'random.blob')), random.digest);
      });

      const MULTI = 'cp the OCI index (multi) -> multi:v1; resolve --platform linux/arm64';
      step(MULTI, async (ctx) => {
        const { multi } = ctx.images;
        await cpFromLayout(ctx, 'multi', 'multi:v1');
        await ctx.registry.expectManifest(ctx.repo('multi'), 'v1', multi.digest);
        assert.equal(await (await oras(ctx)).out(['resolve', P, '--platform', 'linux/arm64', ctx.ref('multi:v1')]), multi.arm64.digest);
      });

      step(
        'cp single:v1 back into an OCI layout: every blob intact',
        async (ctx) => {
          const { single } = ctx.images;
          const out = join(ctx.tmp, 'back');
          await (await oras(ctx)).run(['cp', '--no-tty', '--from-plain-http', ctx.ref('single:v1'), '--to-oci-layout', `${out}:single`]);
          await assertLayoutBlobs(out, [single.digest, single.config.digest, ...single.layers.map((l) => l.digest)]);
        },
        { needs: [PUSH] },
      );

      const ART = 'push a file artifact (2 files, --artifact-type, annotation) -> art:v1 and pull it back byte for byte';
      step(ART, async (ctx) => {
        const o = await oras(ctx);
        const files = join(o.dir, 'files');
        await writeFile(join(o.dir, 'hello.txt'), `hello from ${name}\n`);
        await writeFile(join(o.dir, 'data.bin'), randomBytes(3_000_000));
        await o.run(['push', '--no-tty', P, ctx.ref('art:v1'), '--artifact-type', 'application/vnd.example.files', '--export-manifest', 'art.json', '-a', 'org.example.client=oras', 'hello.txt:text/plain', 'data.bin']);
        const exported = await readFile(join(o.dir, 'art.json'));
        const m = await ctx.registry.expectManifest<{ artifactType: string; annotations: Record<string, string> }>(ctx.repo('art'), 'v1', digestOf(exported));
        assert.equal(m.artifactType, 'application/vnd.example.files');
        assert.equal(m.annotations['org.example.client'], 'oras');
        ctx.set('art', digestOf(exported));
        await o.run(['pull', '--no-tty', P, '-o', files, ctx.ref('art:v1')]);
        for (const f of ['hello.txt', 'data.bin']) assert.ok((await readFile(join(files, f))).equals(await readFile(join(o.dir, f))), `pulled ${f} differs`);
      });

      const ATTACH = 'attach an sbom and a signature to single:v1 and a provenance to the sbom; the referrers API and discover list them';
      step(
        ATTACH,
        async (ctx) => {
          const { single } = ctx.images;
          const o = await oras(ctx);
          await writeFile(join(o.dir, 'sbom.json'), '{"sbom":"interop"}\n');
          await writeFile(join(o.dir, 'sig.txt'), 'not really a signature\n');
          await writeFile(join(o.dir, 'prov.txt'), 'provenance of the sbom\n');
          const sbom = await o.attach(ctx.ref('single:v1'), SBOM, 'sbom.json', 'application/json');
          const sig = await o.attach(ctx.ref('single:v1'), SIGNATURE, 'sig.txt', 'text/plain');
          const prov = await o.attach(ctx.ref(`single@${sbom}`), PROVENANCE, 'prov.txt', 'text/plain');
          ctx.set('sbom', sbom);
          ctx.set('sig', sig);
          const listed = await ctx.registry.referrers(ctx.repo('single'), single.digest);
          assert.deepEqual(
            sorted(listed.index.manifests.map((m) => `${m.digest} ${m.artifactType}`)),
            sorted([`${sbom} ${SBOM}`, `${sig} ${SIGNATURE}`]),
          );
          const found = await o.discover(ctx.ref('single:v1'));
          assert.deepEqual(sorted(found.map((d) => d.digest)), sorted([sbom, sig]));
          if (latest) {
            assert.deepEqual(
              found.find((d) => d.digest === sbom)?.referrers?.map((d) => d.digest),
              [prov],
              'the provenance is nested under the sbom',
            );
          }
          const filtered = await o.discover(ctx.ref('single:v1'), ['--artifact-type', SIGNATURE]);
          assert.deepEqual(
            filtered.map((d) => d.digest),
            [sig],
          );
        },
        { needs: [PUSH] },
      );

      step(
        'attach with the referrers tag schema forced: the sha256-<hex> index lists it, discover finds it through the tag',
        async (ctx) => {
          const { multi } = ctx.images;
          const o = await oras(ctx);
          await writeFile(join(o.dir, 'tagref.txt'), 'tag-schema referrer\n');
          const forced = ['--distribution-spec', 'v1.1-referrers-tag'];
          const ref = await o.attach(ctx.ref('multi:v1'), 'application/vnd.example.tagschema', 'tagref.txt', 'text/plain', forced);
          const fallback = await ctx.registry.manifest(ctx.repo('multi'), `sha256-${multi.digest.slice(7)}`);
          assert.equal(fallback.status, 200, 'the fallback tag sha256-<hex> exists');
          assert.deepEqual(
            fallback.json<{ manifests: Array<{ digest: string }> }>().manifests.map((m) => m.digest),
            [ref],
          );
          assert.deepEqual(
            (await o.discover(ctx.ref('multi:v1'), forced)).map((d) => d.digest),
            [ref],
          );
        },
        { needs: [MULTI] },
      );

      const COPY = 'cp -r single:v1 -> copy:v1: the referrers come along';
      step(
        COPY,
        async (ctx) => {
          const { single } = ctx.images;
          await (await oras(ctx)).run(['cp', '--no-tty', '-r', '--from-plain-http', '--to-plain-http', ctx.ref('single:v1'), ctx.ref('copy:v1')]);
          await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
          assert.deepEqual(await referrerDigests(ctx, 'copy', single.digest), sorted([ctx.get('sbom'), ctx.get('sig')]));
        },
        { needs: [ATTACH] },
      );

      if (latest) {
        step(
          'backup single:v1 --include-referrers to a tar, restore it -> restored:v1 with its referrers',
          async (ctx) => {
            const { single } = ctx.images;
            const o = await oras(ctx);
            const tar = join(ctx.tmp, 'backup.tar');
            await o.run(['backup', '--no-tty', P, '--include-referrers', '-o', tar, ctx.ref('single:v1')]);
            await o.run(['restore', '--no-tty', P, '--input', tar, ctx.ref('restored:v1')]);
            await ctx.registry.expectManifest(ctx.repo('restored'), 'v1', single.digest);
            assert.deepEqual(await referrerDigests(ctx, 'restored', single.digest), sorted([ctx.get('sbom'), ctx.get('sig')]));
          },
          { needs: [ATTACH] },
        );
      }

      const CRAFTED = 'blob push + manifest push of a hand-made artifact manifest -> crafted:v1';
      step(CRAFTED, async (ctx) => {
        const o = await oras(ctx);
        const layer = Buffer.from(`layer made by ${name} blob push\n`);
        await writeFile(join(o.dir, 'empty.json'), '{}');
        await writeFile(join(o.dir, 'layer.txt'), layer);
        await o.run(['blob', 'push', P, ctx.ref('crafted'), 'empty.json']);
        await o.run(['blob', 'push', P, ctx.ref('crafted'), 'layer.txt']);
        const manifest = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.example.crafted', config: EMPTY_CONFIG, layers: [{ mediaType: 'text/plain', digest: digestOf(layer), size: layer.length }] });
        await writeFile(join(o.dir, 'crafted.json'), manifest);
        await o.run(['manifest', 'push', P, ctx.ref('crafted:v1'), 'crafted.json']);
        await ctx.registry.expectManifest(ctx.repo('crafted'), 'v1', digestOf(manifest));
        ctx.set('layer', digestOf(layer));
      });

      if (latest) {
        step(
          'manifest index create idx:v1 from the two platform images',
          async (ctx) => {
            const { multi } = ctx.images;
            const o = await oras(ctx);
            for (const [tag, d] of [['amd64', multi.amd64.digest], ['arm64', multi.arm64.digest]] as const) {
              await o.run(['cp', '--no-tty', '--from-plain-http', '--to-plain-http', ctx.ref(`multi@${d}`), ctx.ref(`idx:${tag}`)]);
            }
            await o.run(['manifest', 'index', 'create', P, ctx.ref('idx:v1'), 'amd64', 'arm64']);
            const index = (await ctx.registry.manifest(ctx.repo('idx'), 'v1')).json<{ manifests: Array<{ digest: string }> }>();
            assert.deepEqual(
              index.manifests.map((m) => m.digest),
              [multi.amd64.digest, multi.arm64.digest],
            );
          },
          { needs: [MULTI] },
        );
      }

      const TAG = 'tag single:v1 as v2 and v3; repo tags and repo ls';
      step(
        TAG,
        async (ctx) => {
          const o = await oras(ctx);
          await o.run(['tag', P, ctx.ref('single:v1'), 'v2', 'v3']);
          assert.deepEqual(sorted((await o.out(['repo', 'tags', P, '--exclude-digest-tags', ctx.ref('single')])).split('\n')), ['v1', 'v2', 'v3']);
          assert.deepEqual(await ctx.registry.tags(ctx.repo('single')), ['v1', 'v2', 'v3']);
          const repos = (await o.out(['repo', 'ls', P, `${ctx.registry.host}/${ctx.repoPrefix}`])).split('\n');
          for (const r of ['single', 'multi', 'art']) assert.ok(repos.includes(r), `repo ls lists ${r}: ${repos.join(' ')}`);
        },
        { needs: [PUSH] },
      );

      step(
        'manifest delete the signature: the referrers API and discover drop it, the sbom stays',
        async (ctx) => {
          const { single } = ctx.images;
          const o = await oras(ctx);
          await o.run(['manifest', 'delete', '-f', P, ctx.ref(`single@${ctx.get('sig')}`)]);
          assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('single')}/manifests/${ctx.get('sig')}`), 404);
          assert.deepEqual(await referrerDigests(ctx, 'single', single.digest), [ctx.get('sbom')]);
          assert.deepEqual(
            (await o.discover(ctx.ref('single:v1'))).map((d) => d.digest),
            [ctx.get('sbom')],
          );
        },
        { needs: [ATTACH] },
      );

      step(
        'manifest delete art:v1 (by tag: oras deletes the digest), blob delete, manifest delete single by digest: 404s, copy:v1 stays',
        async (ctx) => {
          const { single } = ctx.images;
          const o = await oras(ctx);
          await o.run(['manifest', 'delete', '-f', P, ctx.ref('art:v1')]);
          assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('art')}/manifests/${ctx.get('art')}`), 404);
          assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('art')}/manifests/v1`), 404);
          await o.run(['blob', 'delete', '-f', P, ctx.ref(`crafted@${ctx.get('layer')}`)]);
          assert.equal(await ctx.registry.status('HEAD', `/v2/${ctx.repo('crafted')}/blobs/${ctx.get('layer')}`), 404);
          await o.run(['manifest', 'delete', '-f', P, ctx.ref(`single@${single.digest}`)]);
          assert.deepEqual(await ctx.registry.tags(ctx.repo('single')), []);
          assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('single')}/manifests/v2`), 404);
          await ctx.registry.expectManifest(ctx.repo('copy'), 'v1', single.digest);
        },
        { needs: [ART, CRAFTED, TAG, COPY] },
      );
    },
  );
}

orasSuite('oras', true);
orasSuite('oras-1.2', false);

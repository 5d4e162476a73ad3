/**
 * sigstore cosign against ferro-oci-server (filesystem+sqlite), offline with
 * a local key pair: cosign 3.1 and, as a second suite, cosign 2.5 (Debian
 * trixie). The images are pushed by the suite itself over plain HTTP.
 * cosign 3 signs in the sigstore bundle format, pushed as an OCI 1.1
 * referrer; both versions write legacy signatures (sha256-<hex>.sig tag),
 * legacy signatures as referrers (experimental mode), attestations,
 * recursive signatures of an index, save/load, and `clean` deletes them:
 * the signature listings must follow.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientSuite, type ModeContext } from './harness.js';
import { Cosign } from './clients/cosign.js';
import { fetchedVersion, missingFetched } from './clients/fetched.js';
import { MT } from './images.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

function cosignSuite(name: 'cosign' | 'cosign-2.5', v3: boolean): void {
  clientSuite(
    name,
    {
      requires: [],
      modes: ['fs'],
      unavailable: () => missingFetched(name),
      versions: () => Promise.resolve({ cosign: `${fetchedVersion(name)} (Debian ${v3 ? 'sid' : 'trixie'})` }),
    },
    ({ step }) => {
      let client: Cosign | undefined;
      const cosign = async (ctx: ModeContext) => (client ??= await Cosign.create(name, ctx.tmp));
      const small = (ctx: ModeContext) => ctx.ref(`small@${ctx.images.small.digest}`);
      const sigTag = (ctx: ModeContext, suffix: 'sig' | 'att') => `sha256-${ctx.images.small.digest.slice(7)}.${suffix}`;
      const referrers = async (ctx: ModeContext, repo: string, subject: string) => (await ctx.registry.referrers(ctx.repo(repo), subject)).index.manifests;

      const SETUP = 'two key pairs (generate-key-pair); small:v1 and the index multi:v1 pushed by the suite';
      step(
        SETUP,
        async (ctx) => {
          const c = await cosign(ctx);
          assert.equal(c.v3, v3, `${name} is cosign ${v3 ? '3' : '2'}`);
          await c.run(['generate-key-pair']);
          await mkdir(join(c.dir, 'other'));
          await c.run(['generate-key-pair'], { cwd: join(c.dir, 'other') });
          await ctx.registry.pushFromLayout(ctx.images, ctx.repo('small'), ctx.images.small, 'v1');
          await ctx.registry.pushFromLayout(ctx.images, ctx.repo('multi'), ctx.images.multi, 'v1');
        },
        { critical: true },
      );

      if (v3) {
        step('sign (sigstore bundle): one referrer of small with the bundle artifactType; verify by digest and by tag; another key fails', async (ctx) => {
          const c = await cosign(ctx);
          await c.sign(small(ctx));
          const listed = await referrers(ctx, 'small', ctx.images.small.digest);
          assert.deepEqual(
            listed.map((m) => m.artifactType),
            [BUNDLE],
          );
          const bundle = await ctx.registry.manifest(ctx.repo('small'), listed[0]!.digest);
          assert.equal(bundle.json<{ subject: { digest: string } }>().subject.digest, ctx.images.small.digest);
          const verified = JSON.parse((await c.verify(small(ctx))).stdout) as Array<{ critical: { image: { 'docker-manifest-digest': string } } }>;
          assert.equal(verified[0]?.critical.image['docker-manifest-digest'], ctx.images.small.digest);
          await c.verify(ctx.ref('small:v1'));
          const wrong = await c.verify(small(ctx), [], { key: 'other/cosign.pub', allowFailure: true });
          assert.notEqual(wrong.code, 0, 'verify with a key that did not sign must fail');
        });
      }

      const LEGACY = 'sign in the legacy format: the sha256-<hex>.sig tag (simplesigning layer); verify; a second signature appends a layer; verify -a; download signature';
      step(LEGACY, async (ctx) => {
        const c = await cosign(ctx);
        await c.sign(small(ctx), c.legacy);
        assert.ok((await ctx.registry.tags(ctx.repo('small'))).includes(sigTag(ctx, 'sig')), 'tags/list has the .sig tag');
        const layers = () => ctx.registry.manifest(ctx.repo('small'), sigTag(ctx, 'sig')).then((m) => m.json<{ layers: Array<{ mediaType: string }> }>().layers);
        assert.deepEqual(
          (await layers()).map((l) => l.mediaType),
          [SIMPLESIGNING],
        );
        await c.verify(small(ctx), c.legacy);
        await c.sign(small(ctx), [...c.legacy, '-a', 'run=interop']);
        assert.equal((await layers()).length, 2);
        await c.verify(small(ctx), [...c.legacy, '-a', 'run=interop']);
        const downloaded = await c.http(['download', 'signature'], [small(ctx)]);
        assert.ok(downloaded.stdout.split('\n').some((l) => l.startsWith('{')), 'download signature printed signature JSON');
      });

      step('sign a child of the index in the legacy format as an OCI 1.1 referrer (COSIGN_EXPERIMENTAL=1 --registry-referrers-mode=oci-1-1); verify it', async (ctx) => {
        const c = await cosign(ctx);
        const { amd64 } = ctx.images.multi;
        const before = (await referrers(ctx, 'multi', amd64.digest)).length;
        const experimental = { env: { COSIGN_EXPERIMENTAL: '1' } };
        await c.sign(ctx.ref(`multi@${amd64.digest}`), [...c.legacy, '--registry-referrers-mode=oci-1-1'], experimental);
        assert.equal((await referrers(ctx, 'multi', amd64.digest)).length, before + 1, 'one more referrer of the amd64 image');
        // --experimental-oci11 (hidden in 3.x) makes verify look at the referrers for legacy signatures.
        await c.verify(ctx.ref(`multi@${amd64.digest}`), [...c.legacy, '--experimental-oci11'], experimental);
      });

      const ATTEST = 'attest (legacy .att tag) and verify-attestation; download attestation; tree shows signatures and attestations';
      step(ATTEST, async (ctx) => {
        const c = await cosign(ctx);
        await writeFile(join(c.dir, 'pred.json'), '{"builder":{"id":"interop-cosign"},"buildType":"interop"}\n');
        if (v3) {
          await c.attest(small(ctx), ['--type', 'slsaprovenance', '--predicate', 'pred.json']);
          const r = await c.verify(small(ctx), ['--type', 'slsaprovenance'], { command: 'verify-attestation' });
          const envelope = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { payload?: string };
          const statement = JSON.parse(Buffer.from(envelope.payload ?? '', 'base64').toString('utf8')) as { predicate?: { builder?: { id?: string } } };
          assert.equal(statement.predicate?.builder?.id, 'interop-cosign', 'the predicate survives the round trip');
        }
        await c.attest(small(ctx), [...c.legacy, '--type', 'custom', '--predicate', 'pred.json']);
        assert.ok((await ctx.registry.tags(ctx.repo('small'))).includes(sigTag(ctx, 'att')), 'tags/list has the .att tag');
        await c.verify(small(ctx), [...c.legacy, '--type', 'custom'], { command: 'verify-attestation' });
        await c.http(['download', 'attestation'], [small(ctx)]);
        const tree = await c.http(['tree'], [small(ctx)]);
        assert.match(tree.stdout, /Signatures for an image/);
        assert.match(tree.stdout, /Attestations for an image/);
      });

      step('sign --recursive the index: the index and both children are signed; verify the arm64 child', async (ctx) => {
        const c = await cosign(ctx);
        const { multi } = ctx.images;
        await c.sign(ctx.ref(`multi@${multi.digest}`), ['--recursive']);
        for (const d of [multi.digest, multi.amd64.digest, multi.arm64.digest]) {
          if (v3) assert.ok((await referrers(ctx, 'multi', d)).some((m) => m.artifactType === BUNDLE), `a bundle referrer of ${d}`);
          else assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('multi')}/manifests/sha256-${d.slice(7)}.sig`), 200, `a .sig tag for ${d}`);
        }
        await c.verify(ctx.ref(`multi@${multi.arm64.digest}`));
      });

      step(
        'save small with its signatures, load into loaded:v1, verify there',
        async (ctx) => {
          const c = await cosign(ctx);
          const dir = join(ctx.tmp, 'saved');
          await c.http(['save'], ['--dir', dir, small(ctx)]);
          await c.http(['load'], ['--dir', dir, ctx.ref('loaded:v1')]);
          await ctx.registry.expectManifest(ctx.repo('loaded'), 'v1', ctx.images.small.digest);
          await c.verify(ctx.ref(`loaded@${ctx.images.small.digest}`), c.legacy);
        },
        { needs: [LEGACY] },
      );

      step(
        'clean --type all: the .sig and .att manifests are deleted (404, gone from tags/list), verify fails, the image stays',
        async (ctx) => {
          const c = await cosign(ctx);
          await c.http(['clean'], ['--type', 'all', '-f', small(ctx)]);
          const repo = ctx.repo('small');
          for (const suffix of ['sig', 'att'] as const) assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/${sigTag(ctx, suffix)}`), 404, `.${suffix} after clean`);
          assert.deepEqual(await ctx.registry.tags(repo), ['v1']);
          const r = await c.verify(small(ctx), c.legacy, { allowFailure: true });
          assert.notEqual(r.code, 0, 'verify of the legacy signature must fail after clean');
          const m = await ctx.registry.expectManifest<{ mediaType: string }>(repo, 'v1', ctx.images.small.digest);
          assert.equal(m.mediaType, MT.ociManifest);
        },
        { needs: [LEGACY, ATTEST] },
      );
    },
  );
}

cosignSuite('cosign', true);
cosignSuite('cosign-2.5', false);

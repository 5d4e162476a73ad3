/**
 * Notary Project notation against ferro-oci-server (filesystem+sqlite),
 * offline with a test certificate. notation writes the referrers tag schema
 * by default (sha256-<hex> index) and the referrers API with
 * --force-referrers-tag=false; `ls` and `verify` read the API. The images
 * are pushed, and one signature deleted, by the suite itself over plain
 * HTTP (notation cannot delete): list and verify must follow the delete.
 */
import assert from 'node:assert/strict';
import { clientSuite, type ModeContext } from './harness.js';
import { fetchedVersion, missingFetched } from './clients/fetched.js';
import { Notation } from './clients/notation.js';
import { MT } from './images.js';

const SIGNATURE = 'application/vnd.cncf.notary.signature';

clientSuite(
  'notation',
  {
    requires: [],
    modes: ['fs'],
    unavailable: () => missingFetched('notation'),
    versions: () => Promise.resolve({ notation: `${fetchedVersion('notation')} (Debian sid)` }),
  },
  ({ step }) => {
    let client: Notation | undefined;
    const notation = async (ctx: ModeContext) => (client ??= await Notation.create(ctx.tmp));
    const small = (ctx: ModeContext) => ctx.ref(`small@${ctx.images.small.digest}`);
    const signatures = async (ctx: ModeContext, repo: string, subject: string) =>
      (await ctx.registry.referrers(ctx.repo(repo), subject, SIGNATURE)).index.manifests.map((m) => m.digest).sort();
    const refused = async (n: Notation, args: readonly string[], what: string) => {
      const r = await n.registry('verify', args, { allowFailure: true });
      assert.notEqual(r.code, 0, `${what} must fail`);
    };

    step(
      'test certificates interop.example (default key) and other.example; trust policy for ca:interop.example; small:v1 and multi:v1 pushed by the suite',
      async (ctx) => {
        const n = await notation(ctx);
        await n.run(['cert', 'generate-test', '--default', 'interop.example']);
        await n.run(['cert', 'generate-test', 'other.example']);
        await n.trustOnly('interop.example');
        await ctx.registry.pushFromLayout(ctx.images, ctx.repo('small'), ctx.images.small, 'v1');
        await ctx.registry.pushFromLayout(ctx.images, ctx.repo('multi'), ctx.images.multi, 'v1');
      },
      { critical: true },
    );

    step('sign (JWS, referrers tag schema by default): the sha256-<hex> index lists it; the referrers API too', async (ctx) => {
      const { small: image } = ctx.images;
      await (await notation(ctx)).registry('sign', [small(ctx)]);
      const fallback = await ctx.registry.manifest(ctx.repo('small'), `sha256-${image.digest.slice(7)}`);
      assert.equal(fallback.status, 200, 'the fallback tag exists');
      const listed = fallback.json<{ manifests: Array<{ digest: string; artifactType: string }> }>().manifests;
      assert.deepEqual(
        listed.map((m) => m.artifactType),
        [SIGNATURE],
      );
      const jws = listed[0]!.digest;
      assert.equal((await ctx.registry.manifest(ctx.repo('small'), jws)).json<{ subject: { digest: string } }>().subject.digest, image.digest);
      assert.deepEqual(await signatures(ctx, 'small', image.digest), [jws]);
      ctx.set('jws', jws);
    });

    const COSE = 'sign (COSE, --force-referrers-tag=false, user metadata run=interop), then by tag: 3 signatures listed by the API and by notation ls';
    step(COSE, async (ctx) => {
      const n = await notation(ctx);
      const { digest } = ctx.images.small;
      await n.registry('sign', ['--force-referrers-tag=false', '--signature-format', 'cose', '-m', 'run=interop', small(ctx)]);
      const two = await signatures(ctx, 'small', digest);
      assert.equal(two.length, 2);
      ctx.set('cose', two.find((d) => d !== ctx.get('jws'))!);
      await n.registry('sign', ['--signature-format', 'jws', ctx.ref('small:v1')]);
      const three = await signatures(ctx, 'small', digest);
      assert.equal(three.length, 3);
      assert.deepEqual(await n.list(small(ctx), digest), three);
    });

    step(
      'inspect -o json: envelope types and the signed artifact',
      async (ctx) => {
        const r = await (await notation(ctx)).registry('inspect', ['-o', 'json', small(ctx)]);
        const doc = JSON.parse(r.stdout) as { Signatures: Array<{ mediaType: string; signedArtifact: { digest: string } }> };
        assert.deepEqual(doc.Signatures.map((s) => s.mediaType).sort(), ['application/cose', 'application/jose+json', 'application/jose+json']);
        assert.deepEqual([...new Set(doc.Signatures.map((s) => s.signedArtifact.digest))], [ctx.images.small.digest]);
      },
      { needs: [COSE] },
    );

    step(
      'verify by digest, by tag, with user metadata; fails with wrong metadata, on an unsigned image and with an untrusted certificate',
      async (ctx) => {
        const n = await notation(ctx);
        await n.registry('verify', [small(ctx)]);
        await n.registry('verify', [ctx.ref('small:v1')]);
        await n.registry('verify', ['-m', 'run=interop', small(ctx)]);
        await refused(n, ['-m', 'run=wrong', small(ctx)], 'verify with metadata no signature has');
        await refused(n, [ctx.ref(`multi@${ctx.images.multi.digest}`)], 'verify of an unsigned image');
        await n.trustOnly('other.example');
        try {
          await refused(n, [small(ctx)], 'verify with only other.example trusted');
        } finally {
          await n.trustOnly('interop.example');
        }
      },
      { needs: [COSE] },
    );

    step('sign the index (referrers API) and its arm64 child (tag schema): both verify, the unsigned amd64 child does not', async (ctx) => {
      const n = await notation(ctx);
      const { multi } = ctx.images;
      await n.registry('sign', ['--force-referrers-tag=false', ctx.ref(`multi@${multi.digest}`)]);
      await n.registry('sign', [ctx.ref(`multi@${multi.arm64.digest}`)]);
      await n.registry('verify', [ctx.ref(`multi@${multi.digest}`)]);
      await n.registry('verify', [ctx.ref(`multi@${multi.arm64.digest}`)]);
      await refused(n, [ctx.ref(`multi@${multi.amd64.digest}`)], 'verify of the unsigned amd64 child');
      assert.equal((await signatures(ctx, 'multi', multi.digest)).length, 1);
      assert.equal((await signatures(ctx, 'multi', multi.amd64.digest)).length, 0);
    });

    step(
      'DELETE the COSE signature manifest: 404; the API and notation ls list 2; verify still passes, verify -m run=interop fails',
      async (ctx) => {
        const n = await notation(ctx);
        const { digest } = ctx.images.small;
        const cose = ctx.get('cose');
        const del = await ctx.registry.request('DELETE', `/v2/${ctx.repo('small')}/manifests/${cose}`);
        assert.equal(del.status, 202, `DELETE of the signature manifest: ${del.status}`);
        assert.equal(await ctx.registry.status('GET', `/v2/${ctx.repo('small')}/manifests/${cose}`), 404);
        const left = await signatures(ctx, 'small', digest);
        assert.equal(left.length, 2);
        assert.ok(!left.includes(cose));
        assert.deepEqual(await n.list(small(ctx), digest), left);
        await n.registry('verify', [small(ctx)]);
        await refused(n, ['-m', 'run=interop', small(ctx)], 'verify -m run=interop (only the deleted signature had it)');
        await ctx.registry.expectManifest(ctx.repo('small'), 'v1', digest);
        assert.equal((await ctx.registry.manifest(ctx.repo('small'), 'v1')).contentType, MT.ociManifest);
      },
      { needs: [COSE] },
    );
  },
);

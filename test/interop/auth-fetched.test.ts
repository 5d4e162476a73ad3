/**
 * The auth variant (see auth.ts) for crane and oras, the two fetched
 * clients whose login is cheap to drive: token auth on, filesystem storage,
 * a server per client. alice logs in and pushes; bob pulls, and his push is
 * refused; a wrong password is refused; after logout, pulls from
 * interop/** are refused and pulls from public/** work anonymously.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALICE, assertNotPushed, assertRefused, authEntry, authSuite, BAD_PASSWORD, basicAuth, BOB, publicRef, publicRepo, REFUSED, WRONG, type Account } from './auth.js';
import { Crane } from './clients/crane.js';
import { fetchedVersion, missingFetched, subLayout } from './clients/fetched.js';
import { Oras } from './clients/oras.js';
import type { ModeContext } from './harness.js';

/** The `auth` entry of `host` in the client's docker config.json. */
const storedAuth = (dockerConfig: string, host: string) => authEntry(join(dockerConfig, 'config.json'), host);

authSuite(
  'crane',
  { requires: [], needsRoot: false, unavailable: () => missingFetched('crane'), versions: () => Promise.resolve({ crane: fetchedVersion('crane') }) },
  ({ step }) => {
    let client: Crane | undefined;
    const crane = async (ctx: ModeContext) => (client ??= await Crane.create(ctx.tmp));
    const login = async (ctx: ModeContext, a: Account) => (await crane(ctx)).run(['auth', 'login', ctx.registry.host, '-u', a.user, '--password-stdin'], { input: a.password });
    const layout = (ctx: ModeContext) => subLayout(ctx.images, ctx.images.small, 'small', join(ctx.tmp, 'layout-small'));

    step('a wrong password stored by crane auth login: the push is refused, nothing is pushed', async (ctx, t) => {
      await login(ctx, WRONG);
      const mark = ctx.registry.mark();
      const r = await (await crane(ctx)).run(['push', await layout(ctx), ctx.ref('app:wrong')], { allowFailure: true });
      t.diagnostic(assertRefused(r, BAD_PASSWORD, 'push with a wrong password'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('app'), 'wrong'));
    });

    const PUSH = 'crane auth login as alice (config.json holds base64 alice:password); push small to interop/** and public/** verbatim';
    step(PUSH, async (ctx) => {
      const c = await crane(ctx);
      await login(ctx, ALICE);
      assert.equal(await storedAuth(c.env.DOCKER_CONFIG!, ctx.registry.host), basicAuth(ALICE));
      await c.run(['push', await layout(ctx), ctx.ref('app:v1')]);
      await c.run(['push', await layout(ctx), publicRef(ctx, 'app:v1')]);
      await ctx.registry.expectManifest(ctx.repo('app'), 'v1', ctx.images.small.digest);
      await ctx.registry.expectManifest(publicRepo(ctx, 'app'), 'v1', ctx.images.small.digest);
    });

    step(
      'as bob (pull only): crane digest and pull work, the push is refused',
      async (ctx, t) => {
        const c = await crane(ctx);
        await login(ctx, BOB);
        assert.equal(await c.out(['digest', ctx.ref('app:v1')]), ctx.images.small.digest);
        await c.run(['pull', '--format', 'oci', ctx.ref('app:v1'), join(ctx.tmp, 'pulled-bob')]);
        const mark = ctx.registry.mark();
        const r = await c.run(['push', await layout(ctx), ctx.ref('app:bob')], { allowFailure: true });
        t.diagnostic(assertRefused(r, REFUSED, 'push as bob'));
        t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('app'), 'bob'));
      },
      { needs: [PUSH] },
    );

    step(
      'crane auth logout: interop/** is refused, public/** is pulled anonymously',
      async (ctx, t) => {
        const c = await crane(ctx);
        await c.run(['auth', 'logout', ctx.registry.host]);
        assert.equal(await storedAuth(c.env.DOCKER_CONFIG!, ctx.registry.host), undefined);
        t.diagnostic(assertRefused(await c.run(['digest', ctx.ref('app:v1')], { allowFailure: true }), REFUSED, 'anonymous digest in interop/**'));
        assert.equal(await c.out(['digest', publicRef(ctx, 'app:v1')]), ctx.images.small.digest);
      },
      { needs: [PUSH] },
    );
  },
);

authSuite(
  'oras',
  { requires: [], needsRoot: false, unavailable: () => missingFetched('oras'), versions: () => Promise.resolve({ oras: fetchedVersion('oras') }) },
  ({ step }) => {
    let client: Oras | undefined;
    const oras = async (ctx: ModeContext) => (client ??= await Oras.create('oras', ctx.tmp));
    const login = async (ctx: ModeContext, a: Account, allowFailure = false) =>
      (await oras(ctx)).run(['login', '--plain-http', '-u', a.user, '--password-stdin', ctx.registry.host], { input: a.password, allowFailure });
    const push = async (ctx: ModeContext, ref: string, allowFailure = false) => (await oras(ctx)).run(['push', '--no-tty', '--plain-http', ref, 'note.txt:text/plain'], { allowFailure });

    step('oras login with a wrong password is refused and stores nothing', async (ctx, t) => {
      const o = await oras(ctx);
      t.diagnostic(assertRefused(await login(ctx, WRONG, true), BAD_PASSWORD, 'oras login with a wrong password'));
      assert.equal(await storedAuth(o.env.DOCKER_CONFIG!, ctx.registry.host), undefined);
    });

    const PUSH = 'oras login as alice; push a file artifact to interop/** and public/**';
    step(PUSH, async (ctx) => {
      const o = await oras(ctx);
      await writeFile(join(o.dir, 'note.txt'), 'pushed by alice\n');
      await login(ctx, ALICE);
      assert.equal(await storedAuth(o.env.DOCKER_CONFIG!, ctx.registry.host), basicAuth(ALICE));
      await push(ctx, ctx.ref('notes:v1'));
      await push(ctx, publicRef(ctx, 'notes:v1'));
      const digest = await o.out(['resolve', '--plain-http', ctx.ref('notes:v1')]);
      await ctx.registry.expectManifest(ctx.repo('notes'), 'v1', digest);
      // Each push has its own creation-time annotation: the two manifests may differ.
      ctx.set('public-notes', await o.out(['resolve', '--plain-http', publicRef(ctx, 'notes:v1')]));
    });

    step(
      'oras login as bob (pull only): pull gives the same file, the push is refused',
      async (ctx, t) => {
        const o = await oras(ctx);
        await login(ctx, BOB);
        await o.run(['pull', '--no-tty', '--plain-http', '-o', 'pulled', ctx.ref('notes:v1')]);
        assert.equal(await readFile(join(o.dir, 'pulled', 'note.txt'), 'utf8'), 'pushed by alice\n');
        const mark = ctx.registry.mark();
        t.diagnostic(assertRefused(await push(ctx, ctx.ref('notes:bob'), true), REFUSED, 'push as bob'));
        t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('notes'), 'bob'));
      },
      { needs: [PUSH] },
    );

    step(
      'oras logout: interop/** is refused, public/** is resolved anonymously',
      async (ctx, t) => {
        const o = await oras(ctx);
        await o.run(['logout', ctx.registry.host]);
        const r = await o.run(['resolve', '--plain-http', ctx.ref('notes:v1')], { allowFailure: true });
        t.diagnostic(assertRefused(r, REFUSED, 'anonymous resolve in interop/**'));
        assert.equal(await o.out(['resolve', '--plain-http', publicRef(ctx, 'notes:v1')]), ctx.get('public-notes'));
      },
      { needs: [PUSH] },
    );
  },
);

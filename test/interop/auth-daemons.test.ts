/**
 * The auth variant (see auth.ts for the users and rules) for the clients
 * with a daemon: docker (dockerd keeps a refresh token, not the password)
 * and containerd's ctr (no login: credentials per command). As for the
 * other clients: alice pushes and pulls, bob pulls and is refused a push,
 * a wrong password is refused, and without credentials only public/** is
 * pulled. Each client gets a server of its own.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { versionOf, type ModeContext } from './harness.js';
import {
  ALICE,
  assertNotPushed,
  assertRefused,
  authEntry,
  authRecord,
  authSuite,
  BAD_PASSWORD,
  BOB,
  creds,
  publicRef,
  publicRepo,
  REFUSED,
  WRONG,
  type PushedManifest,
} from './auth.js';
import { Containerd } from './clients/containerd.js';
import { Docker } from './clients/docker.js';
import { digestOf, layoutTar, type ImageInfo } from './images.js';

// ---------------------------------------------------------------------------------------------
authSuite(
  'docker',
  {
    requires: ['dockerd', 'docker'],
    versions: async () => ({ dockerd: await versionOf('dockerd', ['--version']), 'docker CLI': await versionOf('docker', ['--version']) }),
  },
  ({ step }) => {
    let daemon: Docker | undefined;
    const dk = () => {
      if (!daemon) throw new Error('dockerd is not running');
      return daemon;
    };
    const configFile = (ctx: ModeContext) => join(ctx.tmp, 'docker', 'config', 'config.json');
    const login = (ctx: ModeContext, account: { user: string; password: string }, allowFailure = false) =>
      dk().docker(['login', '-u', account.user, '--password-stdin', ctx.registry.host], { input: account.password, allowFailure });

    step(
      'start dockerd (--insecure-registry <server>); build a small image FROM scratch (legacy builder)',
      async (ctx, t) => {
        daemon = await Docker.start(ctx.tmp, ctx.registry.host);
        ctx.watch(daemon.daemon);
        ctx.cleanup(async () => daemon?.stop());
        const dir = join(ctx.tmp, 'build');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'hello.txt'), `built by docker for ${ctx.repoPrefix}\n`);
        await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
        await dk().docker(['build', '-q', '-t', ctx.ref('app:v1'), dir]);
        ctx.set('id', await dk().inspect(ctx.ref('app:v1'), '{{.Id}}'));
        t.diagnostic(`dockerd pid ${daemon.daemon.pid}; image ${ctx.get('id')}`);
      },
      { critical: true },
    );

    step('docker login with a wrong password is refused (nothing stored)', async (ctx, t) => {
      t.diagnostic(assertRefused(await login(ctx, WRONG, true), BAD_PASSWORD, 'login with a wrong password'));
      assert.equal(await authEntry(configFile(ctx), ctx.registry.host), undefined, 'no credentials stored');
    });

    step('push without credentials (not logged in) is refused', async (ctx, t) => {
      const mark = ctx.registry.mark();
      await dk().docker(['tag', ctx.ref('app:v1'), ctx.ref('anon:v1')]);
      const r = await dk().docker(['push', ctx.ref('anon:v1')], { allowFailure: true });
      t.diagnostic(assertRefused(r, REFUSED, 'push without credentials'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('anon'), 'v1'));
    });

    // dockerd logs in with GET /token?offline_token=true; the refresh token it gets back is
    // kept as `identitytoken` instead of the password, and later token requests are the
    // OAuth2 POST /token with grant_type=refresh_token.
    const LOGIN = 'docker login as alice (--password-stdin): config.json keeps the refresh token (identitytoken), not the password';
    step(
      LOGIN,
      async (ctx) => {
        assert.match((await login(ctx, ALICE)).stdout, /Login Succeeded/);
        const entry = await authRecord(configFile(ctx), ctx.registry.host);
        assert.equal(entry?.auth, Buffer.from(`${ALICE.user}:`).toString('base64'), 'config.json auth = base64("alice:") (no password)');
        assert.match(entry?.identitytoken ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/, 'config.json identitytoken = the refresh token (a JWT)');
      },
      { critical: true },
    );

    const PUSH = 'push app:v1 as alice (token from the refresh token: POST /token; Docker schema2; config digest = image ID)';
    step(PUSH, async (ctx, t) => {
      const mark = ctx.registry.mark();
      const pushed = Docker.pushedDigest((await dk().docker(['push', ctx.ref('app:v1')])).stdout);
      const m = await ctx.registry.expectManifest<PushedManifest>(ctx.repo('app'), 'v1', pushed);
      assert.equal(m.config.digest, ctx.get('id'), 'config digest = image ID');
      ctx.set('pushed', pushed);
      await ctx.registry.sync();
      const tokens = ctx.registry.requestsSince(mark).filter((r) => r.url.startsWith('/token'));
      assert.ok(
        tokens.some((r) => r.method === 'POST' && r.status === 200),
        `dockerd got its token by POST /token (grant_type=refresh_token); token requests: ${tokens.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('; ')}`,
      );
      t.diagnostic(`dockerd's token requests: ${tokens.filter((r) => r.method === 'POST').map((r) => `${r.method} ${r.url} -> ${r.status}`).join('; ')}`);
    });

    const PUBLIC = 'public/**: push as alice';
    step(PUBLIC, async (ctx) => {
      await dk().docker(['tag', ctx.ref('app:v1'), publicRef(ctx, 'app:v1')]);
      const pushed = Docker.pushedDigest((await dk().docker(['push', publicRef(ctx, 'app:v1')])).stdout);
      await ctx.registry.expectManifest(publicRepo(ctx, 'app'), 'v1', pushed);
      ctx.set('public', pushed);
    });

    /** Removes every local image, pulls `ref`; checks the image ID and RepoDigests. */
    const pullBack = async (ctx: ModeContext, ref: string, repoDigest: string) => {
      const ids = (await dk().docker(['images', '-q'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await dk().docker(['rmi', '-f', ...new Set(ids)]);
      await dk().docker(['pull', ref]);
      assert.equal(await dk().inspect(ref, '{{.Id}}'), ctx.get('id'), 'image ID');
      const repoDigests = (await dk().inspect(ref, '{{join .RepoDigests " "}}')).split(' ');
      assert.ok(repoDigests.includes(repoDigest), `RepoDigests ${repoDigests.join(' ')} lacks ${repoDigest}`);
    };

    step('rmi, then pull app:v1 back as alice (image ID, RepoDigests)', async (ctx) => pullBack(ctx, ctx.ref('app:v1'), `${ctx.ref('app')}@${ctx.get('pushed')}`), { needs: [PUSH] });

    const BOB_LOGIN = 'docker logout, docker login as bob';
    step(BOB_LOGIN, async (ctx) => {
      await dk().docker(['logout', ctx.registry.host]);
      assert.equal(await authEntry(configFile(ctx), ctx.registry.host), undefined, 'logout removed alice');
      assert.match((await login(ctx, BOB)).stdout, /Login Succeeded/);
    });

    step('rmi, then pull app:v1 as bob', async (ctx) => pullBack(ctx, ctx.ref('app:v1'), `${ctx.ref('app')}@${ctx.get('pushed')}`), { needs: [PUSH, BOB_LOGIN] });

    step(
      'push as bob is refused: the client says denied/unauthorized, nothing is stored',
      async (ctx, t) => {
        const mark = ctx.registry.mark();
        await dk().docker(['tag', ctx.ref('app:v1'), ctx.ref('bob:v1')]);
        const r = await dk().docker(['push', ctx.ref('bob:v1')], { allowFailure: true });
        t.diagnostic(assertRefused(r, REFUSED, 'push as bob'));
        t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('bob'), 'v1'));
      },
      { needs: [PUSH, BOB_LOGIN] },
    );

    step(
      'docker logout; pull from interop/** without credentials is refused, from public/** it works',
      async (ctx, t) => {
        await dk().docker(['logout', ctx.registry.host]);
        const ids = (await dk().docker(['images', '-q'])).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await dk().docker(['rmi', '-f', ...new Set(ids)]);
        const r = await dk().docker(['pull', ctx.ref('app:v1')], { allowFailure: true });
        t.diagnostic(assertRefused(r, REFUSED, 'anonymous pull from interop/**'));
        await pullBack(ctx, publicRef(ctx, 'app:v1'), `${publicRef(ctx, 'app')}@${ctx.get('public')}`);
      },
      { needs: [PUSH, PUBLIC] },
    );
  },
);

// ---------------------------------------------------------------------------------------------
authSuite(
  'ctr',
  { requires: ['containerd', 'ctr'], plainSuite: 'containerd', versions: async () => ({ containerd: await versionOf('containerd', ['--version']), ctr: await versionOf('ctr', ['--version']) }) },
  ({ step }) => {
    let daemon: Containerd | undefined;
    const cd = () => {
      if (!daemon) throw new Error('containerd is not running');
      return daemon;
    };
    const IN = 'interop/in:small';
    const user = (account: { user: string; password: string } | undefined) => (account ? ['--user', creds(account)] : []);
    const push = (ctx: ModeContext, ref: string, account: { user: string; password: string } | undefined, allowFailure = false) =>
      cd()
        .ctr(['images', 'tag', '--force', IN, ref])
        .then(() => cd().ctr(['images', 'push', '--plain-http', ...user(account), ref], { allowFailure }));
    /** Removes every image (content garbage-collected), pulls `ref` with `account`; checks the digest and the blobs. */
    const pullBack = async (ref: string, account: { user: string; password: string } | undefined, image: ImageInfo) => {
      const names = [...(await cd().images()).keys()];
      if (names.length > 0) await cd().ctr(['images', 'rm', '--sync', ...names]);
      await cd().ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ...user(account), ref]);
      assert.equal((await cd().images()).get(ref), image.digest, `${ref} pulled at the original digest`);
      for (const b of [image.config, ...image.layers]) assert.equal(digestOf(await cd().content(b.digest)), b.digest, `content ${b.digest}`);
    };

    step(
      'start containerd; import oci:small (--no-unpack)',
      async (ctx, t) => {
        daemon = await Containerd.start(ctx.tmp, `interop-auth-${ctx.mode.id}`);
        ctx.watch(daemon.daemon);
        ctx.cleanup(async () => daemon?.stop());
        const tar = join(ctx.tmp, 'layout.tar');
        await layoutTar(ctx.images, ['small'], tar);
        await cd().ctr(['images', 'import', '--no-unpack', '--base-name', 'interop/in', tar]);
        assert.equal((await cd().images()).get(IN), ctx.images.small.digest);
        t.diagnostic(`containerd pid ${daemon.daemon.pid}`);
      },
      { critical: true },
    );

    step('push with a wrong password (--user alice:<wrong>) is refused', async (ctx, t) => {
      const mark = ctx.registry.mark();
      t.diagnostic(assertRefused(await push(ctx, ctx.ref('wrong:v1'), WRONG, true), BAD_PASSWORD, 'push with a wrong password'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('wrong'), 'v1'));
    });

    step('push without credentials is refused', async (ctx, t) => {
      const mark = ctx.registry.mark();
      t.diagnostic(assertRefused(await push(ctx, ctx.ref('anon:v1'), undefined, true), REFUSED, 'push without credentials'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('anon'), 'v1'));
    });

    step('push as bob (--user bob:…) is refused: the client says denied/unauthorized', async (ctx, t) => {
      const mark = ctx.registry.mark();
      t.diagnostic(assertRefused(await push(ctx, ctx.ref('bob:v1'), BOB, true), REFUSED, 'push as bob'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('bob'), 'v1'));
    });

    const PUSH = 'push as alice (--user alice:…) -> app:v1 (verbatim: original digest)';
    step(PUSH, async (ctx) => {
      await push(ctx, ctx.ref('app:v1'), ALICE);
      await ctx.registry.expectManifest(ctx.repo('app'), 'v1', ctx.images.small.digest);
    });

    const PUBLIC = 'public/**: push as alice';
    step(PUBLIC, async (ctx) => {
      await push(ctx, publicRef(ctx, 'app:v1'), ALICE);
      await ctx.registry.expectManifest(publicRepo(ctx, 'app'), 'v1', ctx.images.small.digest);
    });

    step('remove everything, pull app:v1 back as alice (digest, blobs via ctr content get)', async (ctx) => pullBack(ctx.ref('app:v1'), ALICE, ctx.images.small), { needs: [PUSH] });

    step('remove everything, pull app:v1 as bob', async (ctx) => pullBack(ctx.ref('app:v1'), BOB, ctx.images.small), { needs: [PUSH] });

    step(
      'pull from interop/** without credentials is refused; from public/** it works',
      async (ctx, t) => {
        const names = [...(await cd().images()).keys()];
        if (names.length > 0) await cd().ctr(['images', 'rm', '--sync', ...names]);
        const r = await cd().ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ctx.ref('app:v1')], { allowFailure: true });
        t.diagnostic(assertRefused(r, REFUSED, 'anonymous pull from interop/**'));
        await pullBack(publicRef(ctx, 'app:v1'), undefined, ctx.images.small);
      },
      { needs: [PUSH, PUBLIC] },
    );
  },
);

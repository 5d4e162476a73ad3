/**
 * The auth variant (see auth.ts for the users and rules) for the
 * containers/image clients: skopeo, podman and buildah log in and push/pull
 * against ferro-oci-server with token auth on (filesystem storage):
 *
 *   - alice logs in (login + auth file, or credentials per command) and
 *     pushes; the image is pulled back and its digests compared as in the
 *     other interop tests;
 *   - bob (pull only) pulls; his push is refused and the client says so;
 *   - a wrong password is refused at login;
 *   - no credentials at all: push refused, pull from interop/** refused,
 *     pull from public/** (anonymous pull) works;
 *   - skopeo and podman pull with a Kubernetes image pull secret
 *     (`.dockerconfigjson`) as their auth file.
 *
 * Each client gets a server of its own (fresh key, fresh throttle).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readTrimmed, versionOf, type ModeContext } from './harness.js';
import {
  ALICE,
  assertNotPushed,
  assertRefused,
  authEntry,
  authSuite,
  BAD_PASSWORD,
  basicAuth,
  BOB,
  creds,
  dockerConfigJson,
  emptyAuthFile,
  publicRef,
  publicRepo,
  REFUSED,
  WRONG,
  type PushedManifest,
} from './auth.js';
import { ContainersTool } from './clients/containers.js';
import { Skopeo } from './clients/skopeo.js';
import { blobPath, digestOf, fileDigest, type ImageInfo } from './images.js';

/** A `dir:` copy of `image`: manifest digest and every blob byte for byte. */
async function checkDirCopy(ctx: ModeContext, out: string, image: ImageInfo): Promise<void> {
  assert.equal(await fileDigest(join(out, 'manifest.json')), image.digest, 'pulled manifest digest');
  for (const b of [image.config, ...image.layers]) {
    const got = await readFile(join(out, b.digest.slice(7)));
    assert.equal(digestOf(got), b.digest, `pulled blob ${b.digest}`);
    assert.ok(got.equals(await readFile(blobPath(ctx.images.layout, b.digest))), `pulled blob ${b.digest} differs from the pushed bytes`);
  }
}

/** Writes a Kubernetes-style image pull secret for `host` as bob: <dir>/pull-secret/.dockerconfigjson. */
async function pullSecret(ctx: ModeContext): Promise<string> {
  const dir = join(ctx.tmp, 'pull-secret');
  await mkdir(dir, { recursive: true });
  const file = join(dir, '.dockerconfigjson');
  await writeFile(file, dockerConfigJson(ctx.registry.host, BOB), { mode: 0o600 });
  return file;
}

// ---------------------------------------------------------------------------------------------
authSuite('skopeo', { requires: ['skopeo'], versions: async () => ({ skopeo: await versionOf('skopeo', ['--version']) }) }, ({ step }) => {
  let client: Skopeo | undefined;
  const sk = async (ctx: ModeContext) => (client ??= await Skopeo.create(ctx.tmp));
  const small = (ctx: ModeContext) => `oci:${ctx.images.layout}:small`;
  const docker = (ctx: ModeContext, nameTag: string) => `docker://${ctx.ref(nameTag)}`;
  const aliceAuth = (ctx: ModeContext) => join(ctx.tmp, 'alice-auth.json');

  const LOGIN = 'skopeo login as alice (--authfile, --password-stdin): the auth file holds base64(alice:password)';
  step(
    LOGIN,
    async (ctx) => {
      const r = await (await sk(ctx)).run(['login', '--tls-verify=false', '--authfile', aliceAuth(ctx), '-u', ALICE.user, '--password-stdin', ctx.registry.host], { input: ALICE.password });
      assert.match(r.stdout, /Login Succeeded/);
      assert.equal(await authEntry(aliceAuth(ctx), ctx.registry.host), basicAuth(ALICE));
    },
    { critical: true },
  );

  step('skopeo login with a wrong password is refused (nothing stored)', async (ctx, t) => {
    const file = join(ctx.tmp, 'wrong-auth.json');
    const r = await (await sk(ctx)).run(['login', '--tls-verify=false', '--authfile', file, '-u', WRONG.user, '--password-stdin', ctx.registry.host], { input: WRONG.password, allowFailure: true });
    t.diagnostic(assertRefused(r, BAD_PASSWORD, 'login with a wrong password'));
    assert.equal(await authEntry(file, ctx.registry.host), undefined, 'no credentials stored');
  });

  const PUSH = 'push oci:small as alice (--dest-authfile from the login) -> app:v1 (verbatim: original digest)';
  step(PUSH, async (ctx) => {
    await (await sk(ctx)).copy(small(ctx), docker(ctx, 'app:v1'), ['--dest-authfile', aliceAuth(ctx)]);
    await ctx.registry.expectManifest(ctx.repo('app'), 'v1', ctx.images.small.digest);
  });

  step(
    'pull app:v1 back as alice (--src-creds) -> dir: (manifest digest, blob bytes)',
    async (ctx) => {
      const out = join(ctx.tmp, 'pull-alice');
      await (await sk(ctx)).copy(docker(ctx, 'app:v1'), `dir:${out}`, ['--src-creds', creds(ALICE)]);
      await checkDirCopy(ctx, out, ctx.images.small);
    },
    { needs: [PUSH] },
  );

  step(
    'pull app:v1 as bob (pull only, --src-creds) -> dir:',
    async (ctx) => {
      const out = join(ctx.tmp, 'pull-bob');
      await (await sk(ctx)).copy(docker(ctx, 'app:v1'), `dir:${out}`, ['--src-creds', creds(BOB)]);
      await checkDirCopy(ctx, out, ctx.images.small);
    },
    { needs: [PUSH] },
  );

  step('push as bob (--dest-creds) is refused: the client says denied/unauthorized, nothing is stored', async (ctx, t) => {
    const mark = ctx.registry.mark();
    const r = await (await sk(ctx)).run(['copy', '--dest-tls-verify=false', '--dest-creds', creds(BOB), small(ctx), docker(ctx, 'bob:v1')], { allowFailure: true });
    t.diagnostic(assertRefused(r, REFUSED, 'push as bob'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('bob'), 'v1'));
  });

  step('push with a wrong password (--dest-creds) is refused', async (ctx, t) => {
    const mark = ctx.registry.mark();
    const r = await (await sk(ctx)).run(['copy', '--dest-tls-verify=false', '--dest-creds', creds(WRONG), small(ctx), docker(ctx, 'wrong:v1')], { allowFailure: true });
    t.diagnostic(assertRefused(r, BAD_PASSWORD, 'push with a wrong password'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('wrong'), 'v1'));
  });

  step('push without credentials (empty --dest-authfile) is refused', async (ctx, t) => {
    const mark = ctx.registry.mark();
    const empty = await emptyAuthFile(ctx.tmp);
    const r = await (await sk(ctx)).run(['copy', '--dest-tls-verify=false', '--dest-authfile', empty, small(ctx), docker(ctx, 'anon:v1')], { allowFailure: true });
    t.diagnostic(assertRefused(r, REFUSED, 'push without credentials'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('anon'), 'v1'));
  });

  step(
    'pull from interop/** without credentials is refused',
    async (ctx, t) => {
      const empty = await emptyAuthFile(ctx.tmp);
      const r = await (await sk(ctx)).run(['copy', '--src-tls-verify=false', '--src-authfile', empty, docker(ctx, 'app:v1'), `dir:${join(ctx.tmp, 'pull-anon')}`], { allowFailure: true });
      t.diagnostic(assertRefused(r, REFUSED, 'anonymous pull from interop/**'));
    },
    { needs: [PUSH] },
  );

  step('public/**: alice pushes, then a pull without credentials works (anonymous pull)', async (ctx) => {
    const s = await sk(ctx);
    await s.copy(small(ctx), `docker://${publicRef(ctx, 'app:v1')}`, ['--dest-authfile', aliceAuth(ctx)]);
    await ctx.registry.expectManifest(publicRepo(ctx, 'app'), 'v1', ctx.images.small.digest);
    const out = join(ctx.tmp, 'pull-public');
    await s.copy(`docker://${publicRef(ctx, 'app:v1')}`, `dir:${out}`, ['--src-authfile', await emptyAuthFile(ctx.tmp)]);
    await checkDirCopy(ctx, out, ctx.images.small);
  });

  step(
    'image pull secret: a .dockerconfigjson with bob\'s credentials as --src-authfile pulls app:v1 (and inspect --authfile)',
    async (ctx) => {
      const secret = await pullSecret(ctx);
      const s = await sk(ctx);
      const out = join(ctx.tmp, 'pull-secret-copy');
      await s.copy(docker(ctx, 'app:v1'), `dir:${out}`, ['--src-authfile', secret]);
      await checkDirCopy(ctx, out, ctx.images.small);
      const info = JSON.parse((await s.run(['inspect', '--tls-verify=false', '--authfile', secret, docker(ctx, 'app:v1')])).stdout) as { Digest: string };
      assert.equal(info.Digest, ctx.images.small.digest);
    },
    { needs: [PUSH] },
  );

  step(
    'skopeo delete: refused for bob (the tag stays), done by alice (404 after)',
    async (ctx, t) => {
      const s = await sk(ctx);
      const repo = ctx.repo('app');
      const r = await s.run(['delete', '--tls-verify=false', '--creds', creds(BOB), docker(ctx, 'app:v1')], { allowFailure: true });
      t.diagnostic(assertRefused(r, REFUSED, 'delete as bob'));
      await ctx.registry.expectManifest(repo, 'v1', ctx.images.small.digest);
      await s.run(['delete', '--tls-verify=false', '--authfile', aliceAuth(ctx), docker(ctx, 'app:v1')]);
      assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/${ctx.images.small.digest}`), 404, 'GET by digest after the delete');
    },
    { needs: [PUSH] },
  );

  step('skopeo logout removes the credentials from the auth file', async (ctx) => {
    await (await sk(ctx)).run(['logout', '--authfile', aliceAuth(ctx), ctx.registry.host]);
    assert.equal(await authEntry(aliceAuth(ctx), ctx.registry.host), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
authSuite('podman', { requires: ['podman'], versions: async () => ({ podman: await versionOf('podman', ['--version']) }) }, ({ step }) => {
  let tool: ContainersTool | undefined;
  const pm = () => {
    if (!tool) throw new Error('podman store not set up');
    return tool;
  };
  const authFile = (ctx: ModeContext, who: string) => join(ctx.tmp, `${who}-auth.json`);
  const login = async (ctx: ModeContext, account: { user: string; password: string }, file: string, allowFailure = false) =>
    pm().run(['login', '--tls-verify=false', '--authfile', file, '-u', account.user, '--password-stdin', ctx.registry.host], { input: account.password, allowFailure });

  step(
    'podman: private store (vfs), registries.conf marking the server insecure; load oci:small',
    async (ctx) => {
      tool = await ContainersTool.create('podman', ctx.tmp, ctx.registry.host);
      ctx.cleanup(async () => tool?.destroy());
      await pm().run(['pull', '-q', `oci:${ctx.images.layout}:small`]);
      await pm().run(['tag', ctx.images.small.config.digest.slice(7), ctx.ref('app:v1')]);
    },
    { critical: true },
  );

  const LOGIN = 'podman login as alice (--authfile, --password-stdin): the auth file holds base64(alice:password)';
  step(
    LOGIN,
    async (ctx) => {
      const r = await login(ctx, ALICE, authFile(ctx, 'alice'));
      assert.match(r.stdout, /Login Succeeded/);
      assert.equal(await authEntry(authFile(ctx, 'alice'), ctx.registry.host), basicAuth(ALICE));
    },
    { critical: true },
  );

  step('podman login with a wrong password is refused (nothing stored)', async (ctx, t) => {
    const file = authFile(ctx, 'wrong');
    t.diagnostic(assertRefused(await login(ctx, WRONG, file, true), BAD_PASSWORD, 'login with a wrong password'));
    assert.equal(await authEntry(file, ctx.registry.host), undefined, 'no credentials stored');
  });

  const PUSH = 'push app:v1 as alice (--authfile; layers recompressed by podman: --digestfile)';
  step(PUSH, async (ctx) => {
    const digestFile = join(ctx.tmp, 'digest.app');
    await pm().run(['push', '--tls-verify=false', '--authfile', authFile(ctx, 'alice'), '--digestfile', digestFile, ctx.ref('app:v1')]);
    const pushed = await readTrimmed(digestFile);
    const m = await ctx.registry.expectManifest<PushedManifest>(ctx.repo('app'), 'v1', pushed);
    assert.equal(m.config.digest, ctx.images.small.config.digest, 'config digest unchanged');
    ctx.set('pushed', pushed);
  });

  const BOB_LOGIN = 'podman login as bob (own auth file)';
  step(BOB_LOGIN, async (ctx) => {
    assert.match((await login(ctx, BOB, authFile(ctx, 'bob'))).stdout, /Login Succeeded/);
  });

  step(
    'push as bob (logged in, pull only) is refused: the client says denied/unauthorized, nothing is stored',
    async (ctx, t) => {
      const mark = ctx.registry.mark();
      await pm().run(['tag', ctx.ref('app:v1'), ctx.ref('bob:v1')]);
      const r = await pm().run(['push', '--tls-verify=false', '--authfile', authFile(ctx, 'bob'), ctx.ref('bob:v1')], { allowFailure: true });
      t.diagnostic(assertRefused(r, REFUSED, 'push as bob'));
      t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('bob'), 'v1'));
    },
    { needs: [BOB_LOGIN] },
  );

  step('push without credentials (empty --authfile) is refused', async (ctx, t) => {
    const mark = ctx.registry.mark();
    await pm().run(['tag', ctx.ref('app:v1'), ctx.ref('anon:v1')]);
    const r = await pm().run(['push', '--tls-verify=false', '--authfile', await emptyAuthFile(ctx.tmp), ctx.ref('anon:v1')], { allowFailure: true });
    t.diagnostic(assertRefused(r, REFUSED, 'push without credentials'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('anon'), 'v1'));
  });

  step('public/**: alice pushes (--creds) -> public app:v1', async (ctx) => {
    await pm().run(['tag', ctx.ref('app:v1'), publicRef(ctx, 'app:v1')]);
    const digestFile = join(ctx.tmp, 'digest.public');
    await pm().run(['push', '--tls-verify=false', '--creds', creds(ALICE), '--digestfile', digestFile, publicRef(ctx, 'app:v1')]);
    await ctx.registry.expectManifest(publicRepo(ctx, 'app'), 'v1', await readTrimmed(digestFile));
    ctx.set('public', await readTrimmed(digestFile));
  });

  /** rmi -a, then pulls `ref` with `extra`; checks the image ID (= config digest) and the digest. */
  const pullBack = async (ctx: ModeContext, ref: string, digest: string, extra: readonly string[]) => {
    await pm().run(['rmi', '-a', '-f']);
    await pm().run(['pull', '-q', '--tls-verify=false', ...extra, ref]);
    assert.equal(`sha256:${await pm().imageId(ref)}`, ctx.images.small.config.digest, 'image ID = config digest');
    assert.equal(await pm().inspectImage(ref, '{{.Digest}}'), digest, 'pulled digest');
  };

  step('rmi -a, then pull app:v1 back as alice (--authfile): image ID and digest', async (ctx) => pullBack(ctx, ctx.ref('app:v1'), ctx.get('pushed'), ['--authfile', authFile(ctx, 'alice')]), { needs: [PUSH] });

  step('rmi -a, then pull app:v1 as bob (--authfile)', async (ctx) => pullBack(ctx, ctx.ref('app:v1'), ctx.get('pushed'), ['--authfile', authFile(ctx, 'bob')]), { needs: [PUSH, BOB_LOGIN] });

  step(
    'pull from interop/** without credentials is refused; from public/** it works (rmi -a first)',
    async (ctx, t) => {
      const empty = await emptyAuthFile(ctx.tmp);
      await pm().run(['rmi', '-a', '-f']);
      const r = await pm().run(['pull', '-q', '--tls-verify=false', '--authfile', empty, ctx.ref('app:v1')], { allowFailure: true });
      t.diagnostic(assertRefused(r, REFUSED, 'anonymous pull from interop/**'));
      await pullBack(ctx, publicRef(ctx, 'app:v1'), ctx.get('public'), ['--authfile', empty]);
    },
    { needs: [PUSH] },
  );

  step(
    'image pull secret: podman pull --authfile <secret>/.dockerconfigjson (bob) of app:v1',
    async (ctx) => pullBack(ctx, ctx.ref('app:v1'), ctx.get('pushed'), ['--authfile', await pullSecret(ctx)]),
    { needs: [PUSH] },
  );

  step('podman logout removes the credentials from the auth file', async (ctx) => {
    await pm().run(['logout', '--authfile', authFile(ctx, 'alice'), ctx.registry.host]);
    assert.equal(await authEntry(authFile(ctx, 'alice'), ctx.registry.host), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
authSuite('buildah', { requires: ['buildah'], versions: async () => ({ buildah: await versionOf('buildah', ['--version']) }) }, ({ step }) => {
  let tool: ContainersTool | undefined;
  const bh = () => {
    if (!tool) throw new Error('buildah store not set up');
    return tool;
  };
  const aliceAuth = (ctx: ModeContext) => join(ctx.tmp, 'alice-auth.json');
  const image = (ctx: ModeContext) => ctx.images.small.config.digest.slice(7);

  step(
    'buildah: private store (vfs), registries.conf marking the server insecure; pull oci:small into it',
    async (ctx) => {
      tool = await ContainersTool.create('buildah', ctx.tmp, ctx.registry.host);
      ctx.cleanup(async () => tool?.destroy());
      await bh().run(['pull', '-q', `oci:${ctx.images.layout}:small`]);
    },
    { critical: true },
  );

  const LOGIN = 'buildah login as alice (--authfile, --password-stdin)';
  step(
    LOGIN,
    async (ctx) => {
      const r = await bh().run(['login', '--tls-verify=false', '--authfile', aliceAuth(ctx), '-u', ALICE.user, '--password-stdin', ctx.registry.host], { input: ALICE.password });
      assert.match(r.stdout, /Login Succeeded/);
      assert.equal(await authEntry(aliceAuth(ctx), ctx.registry.host), basicAuth(ALICE));
    },
    { critical: true },
  );

  step('buildah login with a wrong password is refused', async (ctx, t) => {
    const r = await bh().run(['login', '--tls-verify=false', '--authfile', join(ctx.tmp, 'wrong-auth.json'), '-u', WRONG.user, '--password-stdin', ctx.registry.host], { input: WRONG.password, allowFailure: true });
    t.diagnostic(assertRefused(r, BAD_PASSWORD, 'login with a wrong password'));
  });

  const PUSH = 'push as alice (--authfile) -> app:v1 (--digestfile)';
  step(PUSH, async (ctx) => {
    const digestFile = join(ctx.tmp, 'digest.app');
    await bh().run(['push', '--tls-verify=false', '--authfile', aliceAuth(ctx), '--digestfile', digestFile, image(ctx), `docker://${ctx.ref('app:v1')}`]);
    const pushed = await readTrimmed(digestFile);
    const m = await ctx.registry.expectManifest<PushedManifest>(ctx.repo('app'), 'v1', pushed);
    assert.equal(m.config.digest, ctx.images.small.config.digest, 'config digest unchanged');
    ctx.set('pushed', pushed);
  });

  step('push as bob (--creds) is refused: the client says denied/unauthorized', async (ctx, t) => {
    const mark = ctx.registry.mark();
    const r = await bh().run(['push', '--tls-verify=false', '--creds', creds(BOB), image(ctx), `docker://${ctx.ref('bob:v1')}`], { allowFailure: true });
    t.diagnostic(assertRefused(r, REFUSED, 'push as bob'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('bob'), 'v1'));
  });

  step('push without credentials (empty --authfile) is refused', async (ctx, t) => {
    const mark = ctx.registry.mark();
    const r = await bh().run(['push', '--tls-verify=false', '--authfile', await emptyAuthFile(ctx.tmp), image(ctx), `docker://${ctx.ref('anon:v1')}`], { allowFailure: true });
    t.diagnostic(assertRefused(r, REFUSED, 'push without credentials'));
    t.diagnostic(await assertNotPushed(ctx.registry, mark, ctx.repo('anon'), 'v1'));
  });

  /** rmi -a, then pulls app:v1 with `extra`; checks the image ID (= config digest) and the digest. */
  const pullBack = async (ctx: ModeContext, extra: readonly string[]) => {
    await bh().run(['rmi', '-a', '-f']);
    await bh().run(['pull', '-q', '--tls-verify=false', ...extra, ctx.ref('app:v1')]);
    assert.equal(`sha256:${await bh().imageId(ctx.ref('app:v1'))}`, ctx.images.small.config.digest, 'image ID = config digest');
    assert.equal(await bh().inspectImage(ctx.ref('app:v1'), '{{.FromImageDigest}}'), ctx.get('pushed'), 'pulled digest');
  };

  step('rmi -a, then pull app:v1 back as alice (--authfile): image ID and FromImageDigest', async (ctx) => pullBack(ctx, ['--authfile', aliceAuth(ctx)]), { needs: [PUSH] });

  step('rmi -a, then pull app:v1 as bob (--creds)', async (ctx) => pullBack(ctx, ['--creds', creds(BOB)]), { needs: [PUSH] });
});


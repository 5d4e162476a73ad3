/**
 * The container image, built and run by a real Docker daemon: a private dockerd
 * (own data-root, exec-root, pidfile and socket; overlay2; no bridge, no iptables), the
 * image built by docker/build-image.sh (`npm run image`) on the local base that
 * docker/make-base.sh makes from Debian and npm packages, containers on host
 * networking. Each step needs the previous ones; they run in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir, run, tempDir, which } from '../interop/harness.js';
import { Docker } from '../interop/clients/docker.js';
import { Skopeo } from '../interop/clients/skopeo.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const INSTALL = 'apt-get install -y docker.io skopeo mmdebstrap (or run bash .ci/run)';
const missing = ['dockerd', 'docker', 'skopeo', 'mmdebstrap'].filter((c) => !which(c));
const skip = missing.length > 0 ? `needs ${missing.join(', ')}: ${INSTALL}` : process.getuid?.() !== 0 ? 'needs root (dockerd and mmdebstrap run as root)' : false;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Polls `url` until it answers 200; returns the ms it took. */
async function waitReady(url: string, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);
    if (ok) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${url} not ready within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('container image', { skip, timeout: 40 * 60_000 }, async (t) => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const tmp = await tempDir('ferro-image-');
  let docker: Docker | undefined;
  t.after(async () => {
    if (docker) {
      await docker.docker(['rm', '-f', 'ferro-a', 'ferro-b', 'ferro-self'], { allowFailure: true });
      await docker.stop();
    }
    await removeDir(tmp);
  });
  docker = await Docker.start(tmp, '127.0.0.0/8', 'overlay2');
  const dk = docker;
  const env = { DOCKER_HOST: dk.host, DOCKER_BUILDKIT: '0' };
  const skopeo = await Skopeo.create(tmp);
  const image = `ferro-oci-server:${pkg.version}`;
  const port = await freePort();
  const registry = `127.0.0.1:${port}`;
  // Read-only root, /tmp as tmpfs, data on a named volume, host networking (no bridge here).
  const runArgs = (name: string, ref: string, listen: number, volume: string) => [
    'run', '-d', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp',
    '-v', `${volume}:/var/lib/ferro-oci`, '-e', `FERRO_OCI_LISTEN=127.0.0.1:${listen}`, ref,
  ];

  await t.test('docker/make-base.sh makes the base images from Debian and npm packages', async (st) => {
    const made = await run('bash', [join(ROOT, 'docker/make-base.sh')], { env, timeoutMs: 20 * 60_000 });
    const [slim, build] = made.stdout.trim().split('\n');
    assert.match(slim ?? '', /^ferro-oci-base:node24-bookworm-slim$/);
    assert.match(build ?? '', /^ferro-oci-base:node24-bookworm-build$/);
    const node = await dk.docker(['run', '--rm', '--network', 'none', slim!, 'node', '--version']);
    assert.match(node.stdout, /^v24\./);
    st.diagnostic(`make-base: ${(made.ms / 1000).toFixed(0)} s; ${made.stderr.split('\n').filter((l) => l.startsWith('make-base:')).join('; ')}`);
  });

  await t.test('npm run image builds ferro-oci-server:<version> offline, on the local base when the official one cannot be pulled', async (st) => {
    const built = await run('npm', ['run', '--silent', 'image'], {
      cwd: ROOT,
      env: { ...env, BASE: undefined, BUILD_BASE: undefined },
      timeoutMs: 20 * 60_000,
    });
    assert.match(built.stdout, new RegExp(`image: built ${image.replace(/\./g, '\\.')} \\(\\d+ MB\\) from (ferro-oci-base:node24-bookworm-slim|node:24-bookworm-slim) in \\d+ s`));
    st.diagnostic(built.stdout.trim());
    const config = JSON.parse((await dk.docker(['image', 'inspect', '--format', '{{json .Config}}', image])).stdout) as {
      User: string;
      Labels: Record<string, string>;
      ExposedPorts: Record<string, unknown>;
      Volumes: Record<string, unknown>;
      Healthcheck: { Test: string[] };
      Entrypoint: string[];
    };
    assert.equal(config.User, '65532:65532');
    assert.equal(config.Labels['org.opencontainers.image.version'], pkg.version);
    assert.equal(config.Labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    assert.ok('org.opencontainers.image.source' in config.Labels);
    assert.deepEqual(Object.keys(config.ExposedPorts), ['8080/tcp']);
    assert.deepEqual(Object.keys(config.Volumes), ['/var/lib/ferro-oci']);
    assert.deepEqual(config.Healthcheck.Test, ['CMD', 'ferro-oci-server', 'healthcheck']);
    const version = await dk.docker(['run', '--rm', '--network', 'none', image, '--version']);
    assert.equal(version.stdout, `${pkg.version}\n`);
    // No compiler and no curl made it into the runtime image.
    const tools = await dk.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', 'command -v gcc g++ make curl python3 || true']);
    assert.equal(tools.stdout.trim(), '');
  });

  let digest = '';
  await t.test('the container starts read-only as uid 65532, answers /ready and turns healthy', async (st) => {
    const started = Date.now();
    await dk.docker(runArgs('ferro-a', image, port, 'ferro-data'));
    const afterRun = await waitReady(`http://${registry}/ready`);
    st.diagnostic(`cold start: docker run to /ready 200 in ${Date.now() - started} ms (${afterRun} ms after docker run returned)`);
    const status = (await dk.docker(['exec', 'ferro-a', 'cat', '/proc/1/status'])).stdout;
    assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    const write = await dk.docker(['exec', 'ferro-a', 'touch', '/app/x'], { allowFailure: true });
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    const deadline = Date.now() + 90_000;
    let health = '';
    while (Date.now() < deadline) {
      health = (await dk.docker(['inspect', '--format', '{{.State.Health.Status}}', 'ferro-a'])).stdout.trim();
      if (health === 'healthy') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(health, 'healthy');
  });

  await t.test('docker pushes the image itself into the registry; skopeo pulls it back byte for byte', async () => {
    const ref = `${registry}/ferro/server:${pkg.version}`;
    await dk.docker(['tag', image, ref]);
    const pushed = await dk.docker(['push', ref]);
    digest = Docker.pushedDigest(pushed.stdout);
    // The dir: transport keeps the manifest as served (an oci: layout would convert it).
    const copy = join(tmp, 'copy');
    await skopeo.copy(`docker://${ref}`, `dir:${copy}`);
    const manifestBytes = await readFile(join(copy, 'manifest.json'));
    assert.equal(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, digest, 'skopeo got the manifest docker pushed');
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const imageId = (await dk.docker(['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim();
    assert.equal(manifest.config.digest, imageId, 'the config is the image docker built');
    for (const layer of manifest.layers) {
      const bytes = await readFile(join(copy, layer.digest.split(':')[1]!));
      assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, layer.digest);
    }
  });

  await t.test('skopeo pushes an image, docker pulls it (layers downloaded) with the same image ID', async () => {
    const dir = join(tmp, 'tiny');
    await mkdir(join(dir, 'root'), { recursive: true });
    await writeFile(join(dir, 'root', 'hello.txt'), `pushed by skopeo at ${new Date().toISOString()}\n`);
    await run('tar', ['-C', join(dir, 'root'), '-cf', join(dir, 'tiny.tar'), '.']);
    await dk.docker(['import', join(dir, 'tiny.tar'), 'tiny:1']);
    const id = (await dk.docker(['image', 'inspect', '--format', '{{.Id}}', 'tiny:1'])).stdout.trim();
    await skopeo.copy(`docker-daemon:tiny:1`, `docker://${registry}/ferro/tiny:1`, ['--src-daemon-host', dk.host]);
    assert.deepEqual(await skopeo.listTags(`docker://${registry}/ferro/tiny`), ['1']);
    await dk.docker(['rmi', 'tiny:1']);
    const pulled = await dk.docker(['pull', `${registry}/ferro/tiny:1`]);
    assert.match(pulled.stdout, /Pull complete/);
    assert.equal((await dk.docker(['image', 'inspect', '--format', '{{.Id}}', `${registry}/ferro/tiny:1`])).stdout.trim(), id);
  });

  await t.test('a container runs from the image the registry stores', async (st) => {
    // skopeo loads the registry's copy into the daemon under a new name: its bytes come from the registry.
    await skopeo.copy(`docker://${registry}/ferro/server@${digest}`, 'docker-daemon:ferro-self:from-registry', ['--dest-daemon-host', dk.host]);
    const selfPort = await freePort();
    await dk.docker(runArgs('ferro-self', 'ferro-self:from-registry', selfPort, 'ferro-self-data'));
    st.diagnostic(`the stored image is ready in ${await waitReady(`http://127.0.0.1:${selfPort}/ready`)} ms`);
    await dk.docker(['stop', 'ferro-self']);
  });

  await t.test('docker stop shuts down gracefully (exit 0); the data survives docker rm and a new container', async () => {
    await dk.docker(['stop', 'ferro-a']);
    const state = (await dk.docker(['inspect', '--format', '{{.State.ExitCode}} {{.State.OOMKilled}}', 'ferro-a'])).stdout.trim();
    assert.equal(state, '0 false');
    const logs = (await dk.docker(['logs', 'ferro-a'])).stdout;
    assert.match(logs, /"msg":"shutting down"/);
    assert.match(logs, /"msg":"stopped"/);
    await dk.docker(['rm', 'ferro-a']);
    await dk.docker(runArgs('ferro-b', image, port, 'ferro-data'));
    await waitReady(`http://${registry}/ready`);
    const head = await fetch(`http://${registry}/v2/ferro/server/manifests/${pkg.version}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await skopeo.listTags(`docker://${registry}/ferro/tiny`), ['1']);
    await dk.docker(['stop', 'ferro-b']);
    assert.equal((await dk.docker(['inspect', '--format', '{{.State.ExitCode}}', 'ferro-b'])).stdout.trim(), '0');
  });
});

/**
 * Real clients through the pull-through cache, each pulling its own image
 * cold, so that each pull is checked against the upstream's request count:
 *   docker   `--registry-mirror` (dockerd asks /v2/library/<name>/…: the default upstream)
 *   podman   registries.conf: docker.io mirrored at <host>/docker.io (path prefix)
 *   skopeo   by path prefix (docker://<host>/docker.io/library/<name>)
 *   crane    by path prefix
 *   ctr      a hosts.toml mirror for docker.io (containerd adds ?ns=docker.io)
 * The upstream is Debian's docker-registry on loopback, seeded here with the
 * interop suite's `small` image (images.ts) under one repository per client,
 * behind a counting proxy (support/upstream-proxy.ts). No internet: a client
 * that falls back to the real docker.io fails.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { referenceUnavailable, startReferenceRegistry, type ReferenceRegistry } from '../../support/reference-registry.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { upstream } from '../mirror/helpers.js';
import { removeDir, tempDir, which } from './harness.js';
import { Containerd } from './clients/containerd.js';
import { ContainersTool } from './clients/containers.js';
import { Crane } from './clients/crane.js';
import { Docker } from './clients/docker.js';
import { missingFetched } from './clients/fetched.js';
import { Skopeo } from './clients/skopeo.js';
import { blobPath, ensureImages, MT, type ImageInfo } from './images.js';

const needs = (...cmds: string[]) => (cmds.every((c) => which(c)) ? undefined : `${cmds.join(', ')} missing; install with: apt-get install -y ${cmds[0] === 'dockerd' ? 'docker.io' : cmds[0]}`);
const rootOnly = process.getuid?.() === 0 ? undefined : 'needs root (a private daemon)';

describe('clients through the mirror (upstream: docker-registry on loopback)', { skip: referenceUnavailable() ?? false, timeout: 600_000 }, () => {
  let reference: ReferenceRegistry;
  let proxy: UpstreamProxy;
  let mirror: TestRegistry;
  let dir: string;
  let image: ImageInfo;
  let layout: string;
  const host = () => new URL(mirror.url).host;
  const blobsOf = () => [image.config.digest, ...image.layers.map((l) => l.digest)];
  const bytesOf = (digest: string) => readFile(blobPath(layout, digest));

  /** One upstream manifest GET for `v1` and one GET per blob of the repository `library/<repo>`: the client's pull went through the mirror, cold. */
  const assertFetchedOnce = (repo: string, tag: string) => {
    assert.equal(proxy.count('GET', `/v2/library/${repo}/manifests/${tag}`), 1, `one upstream manifest GET for library/${repo}:${tag}`);
    for (const d of blobsOf()) assert.equal(proxy.count('GET', `/v2/library/${repo}/blobs/${d}`), 1, `one upstream GET of ${d}`);
  };

  before(async () => {
    dir = await tempDir('ferro-mirror-clients-');
    const images = await ensureImages();
    image = images.small;
    layout = images.layout;
    reference = await startReferenceRegistry();
    const seed = new OciClient(reference.url);
    for (const repo of ['busybox', 'podman-app', 'skopeo-app', 'crane-app', 'ctr-app']) {
      for (const d of blobsOf()) await seed.pushBlob(`library/${repo}`, await bytesOf(d));
      const put = await seed.putManifest(`library/${repo}`, repo === 'busybox' ? 'latest' : 'v1', await bytesOf(image.digest), MT.ociManifest);
      assert.equal(put.status, 201, await put.text());
    }
    proxy = await startUpstreamProxy(reference.url);
    mirror = await startRegistry('disk', { mirrors: { upstreams: [upstream(proxy.url, { name: 'hub', namespace: 'docker.io', hosts: ['docker.io'], default: true, timeoutMs: 30_000 })] } });
  });
  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await reference?.stop();
    if (dir) await removeDir(dir);
  });

  it('docker pulls busybox through registry-mirrors (the default upstream, /v2/library/busybox/…)', { skip: rootOnly ?? needs('dockerd', 'docker') }, async () => {
    const docker = await Docker.start(dir, host(), 'vfs', ['--registry-mirror', `http://${host()}`]);
    try {
      await docker.docker(['pull', 'busybox:latest'], { timeoutMs: 180_000 });
      assert.equal(await docker.inspect('busybox:latest', '{{.Id}}'), image.config.digest, 'the image ID is the config digest');
    } finally {
      await docker.stop();
    }
    assertFetchedOnce('busybox', 'latest');
    assert.equal(await mirror.metadataStore.getTag('docker.io/library/busybox', 'latest'), image.digest);
  });

  it('podman pulls docker.io/library/podman-app:v1 through a registries.conf mirror (<host>/docker.io)', { skip: needs('podman') }, async () => {
    const podman = await ContainersTool.create('podman', dir, host());
    await writeFile(
      podman.registriesConf,
      ['unqualified-search-registries = []', 'short-name-mode = "disabled"', '', '[[registry]]', 'prefix = "docker.io"', 'location = "docker.io"', '', '[[registry.mirror]]', `location = "${host()}/docker.io"`, 'insecure = true', ''].join('\n'),
    );
    try {
      await podman.run(['pull', 'docker.io/library/podman-app:v1'], { timeoutMs: 180_000 });
      assert.equal(await podman.imageId('docker.io/library/podman-app:v1'), image.config.digest.slice('sha256:'.length));
    } finally {
      await podman.destroy();
    }
    assertFetchedOnce('podman-app', 'v1');
  });

  it('skopeo copies an image by path prefix, byte for byte', { skip: needs('skopeo') }, async () => {
    const skopeo = await Skopeo.create(dir);
    const out = join(dir, 'skopeo-copy');
    await skopeo.copy(`docker://${host()}/docker.io/library/skopeo-app:v1`, `dir:${out}`);
    for (const d of blobsOf()) assert.ok((await readFile(join(out, d.slice('sha256:'.length)))).equals(await bytesOf(d)));
    assert.ok((await readFile(join(out, 'manifest.json'))).equals(await bytesOf(image.digest)));
    assertFetchedOnce('skopeo-app', 'v1');
  });

  it('crane pulls an image by path prefix into an OCI layout, byte for byte', { skip: missingFetched('crane') }, async () => {
    const crane = await Crane.create(dir);
    const ref = `${host()}/docker.io/library/crane-app:v1`;
    assert.equal(await crane.out(['digest', ref]), image.digest);
    const out = join(dir, 'crane-layout');
    await crane.run(['pull', '--format', 'oci', ref, out]);
    for (const d of [image.digest, ...blobsOf()]) assert.ok((await readFile(blobPath(out, d))).equals(await bytesOf(d)), `crane's layout holds ${d}`);
    assertFetchedOnce('crane-app', 'v1');
  });

  it('ctr fetches docker.io/library/ctr-app:v1 through a hosts.toml mirror, scoped by ns=docker.io', { skip: rootOnly ?? needs('containerd', 'ctr') }, async () => {
    const hostsDir = join(dir, 'hosts');
    await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
    await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), ['server = "https://registry-1.docker.io"', '', `[host."http://${host()}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'));
    const containerd = await Containerd.start(dir, 'mirror');
    try {
      await containerd.ctr(['content', 'fetch', '--hosts-dir', hostsDir, 'docker.io/library/ctr-app:v1']);
      const content = await containerd.contentList();
      for (const d of [image.digest, ...blobsOf()]) assert.ok(content.has(d), `ctr holds ${d}`);
      for (const d of blobsOf()) assert.ok((await containerd.content(d)).equals(await bytesOf(d)));
    } finally {
      await containerd.stop();
    }
    assertFetchedOnce('ctr-app', 'v1');
    const tags = await (await fetch(`${mirror.url}/v2/docker.io/library/ctr-app/tags/list`)).json();
    assert.deepEqual(tags, { name: 'docker.io/library/ctr-app', tags: ['v1'] });
  });
});

/**
 * Real clients through the pull-through cache: skopeo by path prefix, and
 * containerd's ctr with a hosts.toml mirror for docker.io (which sends
 * `?ns=docker.io`). The upstream is a second instance of this registry on
 * loopback, registered as docker.io's mirror target.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startUpstreamProxy, type UpstreamProxy } from '../../support/upstream-proxy.js';
import { upstream } from '../mirror/helpers.js';
import { removeDir, tempDir, which } from './harness.js';
import { Containerd } from './clients/containerd.js';
import { Skopeo } from './clients/skopeo.js';
import { digestOf } from '../../src/oci/digest.js';

describe('clients through the mirror', () => {
  let origin: TestRegistry;
  let proxy: UpstreamProxy;
  let mirror: TestRegistry;
  let dir: string;
  let image: Awaited<ReturnType<OciClient['pushImage']>>;
  const host = () => new URL(mirror.url).host;

  before(async () => {
    dir = await tempDir('ferro-mirror-clients-');
    origin = await startRegistry('memory');
    image = await new OciClient(origin.url).pushImage('library/app', 'v1', { layers: 2, layerSize: 200_000 });
    proxy = await startUpstreamProxy(origin.url);
    mirror = await startRegistry('disk', { mirrors: { upstreams: [upstream(proxy.url, { name: 'hub', namespace: 'docker.io', hosts: ['docker.io'] })] } });
  });
  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await origin?.close();
    if (dir) await removeDir(dir);
  });

  it('skopeo copies an image by path prefix, byte for byte', { skip: which('skopeo') ? undefined : 'skopeo is missing; install it with: apt-get install -y skopeo' }, async () => {
    const skopeo = await Skopeo.create(dir);
    const raw = await skopeo.inspectRaw(`docker://${host()}/docker.io/library/app:v1`);
    assert.equal(digestOf(raw), image.digest);
    const out = join(dir, 'copy');
    await skopeo.copy(`docker://${host()}/docker.io/library/app:v1`, `dir:${out}`);
    for (const layer of image.layers) assert.ok((await readFile(join(out, layer.digest.slice('sha256:'.length)))).equals(layer.bytes));
    for (const layer of image.layers) assert.equal(proxy.count('GET', `/v2/library/app/blobs/${layer.digest}`), 1);
  });

  it('ctr fetches docker.io/library/app:v1 through a hosts.toml mirror, scoped by ns=docker.io (no default upstream here: without ns the name would be local)', { skip: which('containerd') && which('ctr') ? undefined : 'containerd is missing; install it with: apt-get install -y containerd' }, async () => {
    const hostsDir = join(dir, 'hosts');
    await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
    await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), ['server = "https://registry-1.docker.io"', '', `[host."http://${host()}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'));
    const containerd = await Containerd.start(dir, 'mirror');
    try {
      await containerd.ctr(['content', 'fetch', '--hosts-dir', hostsDir, 'docker.io/library/app:v1']);
      const content = await containerd.contentList();
      for (const d of [image.digest, image.configDigest, ...image.layers.map((l) => l.digest)]) assert.ok(content.has(d), `ctr holds ${d}`);
      for (const layer of image.layers) assert.ok((await containerd.content(layer.digest)).equals(layer.bytes));
    } finally {
      await containerd.stop();
    }
    const tags = await (await fetch(`${mirror.url}/v2/docker.io/library/app/tags/list`)).json();
    assert.deepEqual(tags, { name: 'docker.io/library/app', tags: ['v1'] });
  });
});

/**
 * The mirror's upstream auth against real upstreams: this registry in token
 * mode (the WWW-Authenticate Bearer flow, tokens cached per scope), and
 * Debian's docker-registry with htpasswd (basic) mirrored by the server
 * binary configured through its configuration file's `mirrors` section.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { referenceUnavailable, startReferenceRegistry } from '../../support/reference-registry.js';
import { startServer } from '../../support/server-process.js';
import { startUpstreamProxy } from '../../support/upstream-proxy.js';
import { basic, bearer, htpasswdText, startAuthRegistry, tokenFor } from '../auth/helpers.js';
import { pullBlob, pullManifest, upstream } from './helpers.js';

describe('mirror upstream auth', () => {
  it('pulls through an upstream in token mode with configured credentials, never forwarding the client Authorization', async () => {
    const origin = await startAuthRegistry({ mode: 'token' });
    const proxy = await startUpstreamProxy(origin.url);
    const mirror = await startRegistry('memory', { mirrors: { upstreams: [upstream(proxy.url, { credentials: { username: 'alice', password: 'alice-pass' } })] } });
    try {
      const token = await tokenFor(origin, 'alice', 'repository:team-a/app:pull,push');
      const image = await new OciClient(origin.url, { authorization: bearer(token) }).pushImage('team-a/app', 'v1', { layers: 2 });
      const clientAuth = basic('bob');
      const pulled = await fetch(`${mirror.url}/v2/up.test/team-a/app/manifests/v1`, { headers: { authorization: clientAuth, accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(pulled.status, 200);
      assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), image.bytes);
      for (const layer of image.layers) assert.equal((await pullBlob(mirror.url, 'up.test/team-a/app', layer.digest)).status, 200);
      assert.ok(!proxy.authorizations.includes(clientAuth), "the client's own Authorization never reaches the upstream");
      assert.ok(proxy.authorizations.some((a) => a?.startsWith('Bearer ')), 'the upstream got bearer tokens');
      // One challenge, then the cached token for the repository's scope: one unauthorized request in all.
      assert.equal(proxy.authorizations.filter((a) => a === undefined).length, 1);

      // Credentials the upstream refuses: uncached content is unavailable, not a 500.
      const denied = await startRegistry('memory', { mirrors: { upstreams: [upstream(proxy.url, { credentials: { username: 'alice', password: 'wrong' } })] } });
      try {
        const res = (await pullManifest(denied.url, 'up.test/team-a/app', 'v1')).res;
        assert.equal(res.status, 503);
      } finally {
        await denied.close();
      }
    } finally {
      await mirror.close();
      await proxy.close();
      await origin.close();
    }
  });

  it('the server binary mirrors docker-registry with htpasswd, configured by its mirrors section', { skip: referenceUnavailable() }, async () => {
    const reference = await startReferenceRegistry({ htpasswd: htpasswdText({ puller: 'puller-pass' }) });
    const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-mirror-'));
    try {
      const image = await new OciClient(reference.url, { authorization: basic('puller', 'puller-pass') }).pushImage('library/busybox', 'latest', { layers: 2, layerSize: 100_000 });
      await writeFile(join(dir, 'password'), 'puller-pass\n');
      await writeFile(
        join(dir, 'config.yaml'),
        ['mirrors:', '  - name: reference', `    url: ${reference.url}`, '    namespace: docker.io', '    hosts: [docker.io]', '    default: true', '    username: puller', '    passwordFile: password', ''].join('\n'),
      );
      const server = await startServer({ args: ['--config', join(dir, 'config.yaml'), '--storage-dir', join(dir, 'data')] });
      try {
        const byDefault = await pullManifest(server.url, 'library/busybox', 'latest');
        assert.equal(byDefault.res.status, 200);
        assert.deepEqual(byDefault.bytes, image.bytes);
        const byNs = await pullManifest(server.url, 'library/busybox', image.digest, '?ns=docker.io');
        assert.equal(byNs.res.headers.get('oci-namespace'), 'docker.io');
        for (const layer of image.layers) assert.equal((await pullBlob(server.url, 'docker.io/library/busybox', layer.digest)).status, 200);
        // One log line per upstream fetch (a blob's once it is stored).
        const fetched = (kind: string, reference: string) => (l: Record<string, unknown>) => {
          const m = l.mirror as Record<string, unknown> | undefined;
          return m?.kind === kind && m.reference === reference && m.outcome === 'ok';
        };
        await server.waitForLog(fetched('manifest', 'latest'), 5_000);
        for (const layer of image.layers) await server.waitForLog(fetched('blob', layer.digest), 5_000);
        assert.equal((await pullManifest(server.url, 'docker.io/library/busybox', image.digest)).res.status, 200);
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        const value = (name: string) => Number(new RegExp(`^ferro_oci_${name}\\{upstream="reference"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
        assert.equal(value('mirror_misses_total'), 3, 'the manifest and two layers were fetched');
        assert.ok(value('mirror_hits_total') >= 1, 'the manifest by digest came from the cache');
        assert.ok(value('mirror_fetched_bytes_total') >= 200_000);
        assert.equal(value('mirror_upstream_errors_total'), 0);
        assert.match(metrics, /^ferro_oci_mirror_breaker_state\{upstream="reference",state="closed"\} 1$/m);
      } finally {
        await server.stop();
      }
    } finally {
      await reference.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Remembered upstream 404s (notFoundTtlMs) do not pile up: a name asked for
 * once and never again is dropped after its TTL, at the next 404 a minute on.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import { resolveLimits } from '../../src/limits.js';
import { MirrorService } from '../../src/services/mirror/mirror.js';
import { UploadService } from '../../src/services/uploads.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { upstream } from './helpers.js';

describe('mirror: remembered upstream 404s', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('drops expired ones', async () => {
    const meta = new MemoryMetadataStore();
    const uploads = new UploadService(new MemoryBlobStore(), meta, resolveLimits());
    const settings = upstream(url, { notFoundTtlMs: 1_000 });
    const mirror = new MirrorService(meta, uploads, 4 << 20, { upstreams: [settings] });
    const route = (remote: string) => ({ upstream: settings.name, remote });
    const missing = (remote: string) => mirror.manifest(route(remote), `up.test/${remote}`, 'v1').then(() => assert.fail('found'), (err: { code?: string }) => err);
    let now = Date.now();
    mock.method(Date, 'now', () => now);
    try {
      for (let i = 0; i < 50; i++) await missing(`gone/${i}`);
      const remembered = (mirror as unknown as { notFound: Map<string, number> }).notFound;
      assert.equal(remembered.size, 50);
      now += 61_000; // all 50 expired, and a minute since the last sweep
      await missing('gone/last');
      assert.equal(remembered.size, 1);
    } finally {
      mock.restoreAll();
    }
  });
});

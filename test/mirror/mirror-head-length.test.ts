/**
 * HEAD of an uncached blob when the upstream's HEAD answer carries no
 * Content-Length: the mirror must not answer a size of 0, but fetch and
 * store the blob and answer its real size.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { upstream } from './helpers.js';

describe('mirror HEAD of a blob without an upstream Content-Length', () => {
  const bytes = Buffer.alloc(4096, 7);
  const digest = digestOf(bytes);
  let server: Server;
  let mirror: TestRegistry;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url?.endsWith(`/blobs/${digest}`)) {
        if (req.method === 'HEAD') res.writeHead(200, { 'docker-content-digest': digest }).end(); // no Content-Length
        else res.writeHead(200, { 'content-length': bytes.length, 'docker-content-digest': digest }).end(bytes);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    mirror = await startRegistry('memory', { mirrors: { upstreams: [upstream(url, { default: true })] } });
  });
  after(async () => {
    await mirror?.close();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('answers the blob size, not 0', async () => {
    const res = await fetch(`${mirror.url}/v2/up.test/lib/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(bytes.length));
  });
});

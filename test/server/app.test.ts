/** createRegistryServer, healthPlugin and metricsPlugin in-process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import Fastify from 'fastify';
import prom from 'prom-client';
import { createRegistryServer } from '../../src/server/app.js';
import { healthPlugin } from '../../src/server/health.js';
import { metricsPlugin } from '../../src/server/metrics.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';

function stores() {
  return { blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore() };
}

test('request ids: a valid X-Request-Id is echoed, anything else is replaced', async (t) => {
  const app = await createRegistryServer(stores());
  t.after(() => app.close());
  const given = await app.inject({ url: '/v2/', headers: { 'x-request-id': 'abc.DEF-123' } });
  assert.equal(given.headers['x-request-id'], 'abc.DEF-123');
  for (const bad of ['', 'has space', 'x'.repeat(201)]) {
    const res = await app.inject({ url: '/live', headers: { 'x-request-id': bad } });
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, JSON.stringify(bad));
  }
});

test('/ready follows isShuttingDown; /healthz and /live do not', async (t) => {
  let shuttingDown = false;
  const app = await createRegistryServer({ ...stores(), health: { isShuttingDown: () => shuttingDown } });
  t.after(() => app.close());
  assert.equal((await app.inject('/ready')).statusCode, 200);
  shuttingDown = true;
  const ready = await app.inject('/ready');
  assert.equal(ready.statusCode, 503);
  assert.deepEqual(ready.json(), { status: 'unavailable', reason: 'shutting down', checks: {} });
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  assert.equal((await app.inject('/live')).statusCode, 200);
});

test('a closed store makes /ready fail and names it', async (t) => {
  const s = stores();
  const app = await createRegistryServer(s);
  t.after(() => app.close());
  await s.metadataStore.close();
  const res = await app.inject('/ready');
  assert.equal(res.statusCode, 503);
  const body = res.json() as { checks: Record<string, string> };
  assert.equal(body.checks.blobStore, 'ok');
  assert.match(body.checks.metadataStore ?? '', /closed/);
});

test('health checks time out, are aborted, and concurrent probes share one run', async (t) => {
  let runs = 0;
  let aborted: unknown;
  const app = Fastify();
  await app.register(healthPlugin, {
    timeoutMs: 50,
    checks: {
      fine: async () => {
        runs++;
      },
      hangs: (signal) =>
        new Promise<void>((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            reject(signal.reason as Error);
          });
        }),
      throws: async () => {
        throw new Error('disk on fire');
      },
    },
  });
  t.after(() => app.close());
  const [a, b] = await Promise.all([app.inject('/healthz'), app.inject('/healthz')]);
  assert.equal(runs, 1);
  for (const res of [a, b]) {
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(res.json(), { status: 'unavailable', checks: { fine: 'ok', hangs: 'timed out after 50 ms', throws: 'disk on fire' } });
  }
  assert.ok(aborted instanceof Error);
});

test('metrics hooks see the routes of sibling plugins, with bounded route labels', async (t) => {
  const register = new prom.Registry();
  const app = Fastify();
  await app.register(metricsPlugin, { register, prefix: 'x_' });
  await app.register(async (child) => {
    child.get('/items/:id', async () => ({ ok: true }));
    child.post('/echo', async (request) => request.body);
  });
  t.after(() => app.close());
  for (const id of ['1', '2', '3']) assert.equal((await app.inject(`/items/${id}`)).statusCode, 200);
  await app.inject('/nope/1');
  await app.inject({ method: 'POST', url: '/echo', payload: { hello: 'world' } });
  const text = await register.metrics();
  assert.match(text, /^x_http_requests_total\{method="GET",route="\/items\/:id",status="200"\} 3$/m);
  assert.match(text, /^x_http_requests_total\{method="GET",route="unknown",status="404"\} 1$/m);
  assert.match(text, /^x_http_received_bytes_total 17$/m);
  assert.doesNotMatch(text, /nope|items\/1/);
  assert.doesNotMatch(text, /upload_sessions_open/, 'no gauge without a metadata store');
});

test('two servers in one process keep separate metrics', async (t) => {
  const a = await createRegistryServer(stores());
  const b = await createRegistryServer(stores());
  t.after(() => Promise.all([a.close(), b.close()]));
  await a.inject('/v2/');
  const text = (await b.inject('/metrics')).body;
  assert.doesNotMatch(text, /route="base"/);
});

test('health and metrics can be disabled', async (t) => {
  const app = await createRegistryServer({ ...stores(), health: false, metrics: false });
  t.after(() => app.close());
  assert.equal((await app.inject('/metrics')).statusCode, 404);
  assert.equal((await app.inject('/ready')).statusCode, 404);
  assert.equal((await app.inject('/v2/')).statusCode, 200);
});

test('every error answer is the OCI envelope: unknown routes, undecodable paths, unparseable requests', async (t) => {
  const app = await createRegistryServer(stores());
  t.after(() => app.close());
  const notFound = await app.inject('/nowhere');
  assert.equal(notFound.statusCode, 404);
  assert.equal(notFound.json().errors[0].code, 'UNSUPPORTED');
  const badUrl = await app.inject('/v2/%zz/tags/list');
  assert.equal(badUrl.statusCode, 400);
  assert.equal(badUrl.json().errors[0].code, 'NAME_INVALID');
  assert.equal((await app.inject('/%zz')).json().errors[0].code, 'UNSUPPORTED');

  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as import('node:net').AddressInfo;
  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(request, 'latin1'));
      const parts: Buffer[] = [];
      socket.on('data', (c: Buffer) => parts.push(c)).on('error', reject).on('close', () => resolve(Buffer.concat(parts).toString()));
    });
  const malformed = await raw('GET /v2/\x00 HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(malformed, /\r\n\r\n\{"errors":\[\{"code":"UNSUPPORTED","message":"malformed HTTP request/);
  const head = await raw('HEAD /v2/\xe9 HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 400 .*\r\nContent-Length: 0\r\n/s);
  assert.ok(head.endsWith('\r\n\r\n'), 'no body for HEAD');
  const tooLarge = await raw(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(tooLarge, /^HTTP\/1\.1 431 .*"message":"request headers too large"/s);
});

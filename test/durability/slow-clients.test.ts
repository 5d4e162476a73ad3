/**
 * Slow and stuck clients against the server binary with short timeouts
 * (FERRO_OCI_HEADERS_TIMEOUT=1, FERRO_OCI_IDLE_TIMEOUT=1.5): stalled or
 * trickled headers get 408 and the connection closed; a stalled upload body
 * is cut at the idle timeout and its session stays resumable at its last
 * acknowledged offset.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchRaw, startServer, type RunningServer } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

/** A raw connection that records what it receives and when it closes. */
function open(server: RunningServer): { socket: Socket; received: () => string; closed: Promise<number> } {
  const socket = connect(server.port, '127.0.0.1');
  const parts: Buffer[] = [];
  const started = performance.now();
  socket.on('data', (c: Buffer) => parts.push(c));
  socket.on('error', () => undefined); // a reset is a close here
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - started)));
  return { socket, received: () => Buffer.concat(parts).toString('latin1'), closed };
}

describe('slow and stuck clients', () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-slow-'));
    server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir, FERRO_OCI_HEADERS_TIMEOUT: '1', FERRO_OCI_IDLE_TIMEOUT: '1.5' } });
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stalled headers get 408 in the error envelope, then the connection is closed', async (t) => {
    const c = open(server);
    c.socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    const ms = await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
    assert.match(c.received(), /"code":"UNSUPPORTED","message":"request headers not received in time"/);
    assert.ok(ms > 900 && ms < 4000, `closed after ${ms} ms`);
    t.diagnostic(`stalled headers: 408 and closed after ${ms.toFixed(0)} ms`);
  });

  it('headers trickled a byte at a time are cut at the headers timeout', async (t) => {
    const c = open(server);
    const request = `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    let sent = 0;
    let closed = false;
    void c.closed.then(() => (closed = true));
    while (!closed && sent < request.length) {
      c.socket.write(request[sent++]!);
      await sleep(50);
    }
    const ms = await c.closed;
    assert.ok(sent < request.length, 'the request never completed');
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
    assert.ok(ms < 4000, `closed after ${ms} ms`);
    t.diagnostic(`trickled headers: cut after ${sent} bytes, ${ms.toFixed(0)} ms`);
  });

  it('a stalled upload body is cut at the idle timeout, and the session resumes at its acknowledged offset', async (t) => {
    const blob = randomBytes(200_000);
    const post = await fetchRaw(`${server.url}/v2/slow/up/blobs/uploads/`, { method: 'POST' });
    const location = String(post.headers.location);
    const first = await fetchRaw(server.url + location, { method: 'PATCH', headers: { 'Content-Range': '0-49999' }, body: blob.subarray(0, 50_000) });
    assert.equal(first.status, 202);

    const c = open(server);
    c.socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Range: 50000-199999\r\nContent-Length: 150000\r\n\r\n`);
    c.socket.write(blob.subarray(50_000, 120_000)); // then nothing
    const ms = await c.closed;
    assert.ok(ms > 1400 && ms < 5000, `closed after ${ms} ms`);
    assert.doesNotMatch(c.received(), /^HTTP\/1\.1 202/, 'the stalled chunk was not acknowledged');

    await sleep(100); // the aborted append rolls back asynchronously
    const status = await fetchRaw(server.url + location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, '0-49999');
    const rest = await fetchRaw(`${server.url}${location}?digest=${digestOf(blob)}`, {
      method: 'PUT',
      headers: { 'Content-Range': '50000-199999' },
      body: blob.subarray(50_000),
    });
    assert.equal(rest.status, 201, rest.body.toString());
    assert.ok((await fetchRaw(`${server.url}/v2/slow/up/blobs/${digestOf(blob)}`)).body.equals(blob));
    t.diagnostic(`stalled body: connection closed after ${ms.toFixed(0)} ms; the session resumed at 50000 and completed`);
  });
});

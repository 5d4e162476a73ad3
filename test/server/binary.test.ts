/** The ferro-oci-server binary as a real process on a real socket. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchRaw, spawnServer, startServer, type RunningServer } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-bin-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(t: { after: (fn: () => Promise<unknown>) => void }, env: Record<string, string>): Promise<RunningServer> {
  const server = await startServer({ env });
  t.after(() => server.kill());
  return server;
}

/** Yields `count` chunks of `size` random bytes, `intervalMs` apart. */
async function* trickle(count: number, size: number, intervalMs: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    yield randomBytes(size);
    await sleep(intervalMs);
  }
}

/** Resolves once the server has read request body bytes (its metrics count them as they arrive). */
async function bodyArrived(server: RunningServer): Promise<void> {
  for (;;) {
    const metrics = (await fetchRaw(`${server.url}/metrics`)).body.toString();
    if (/^ferro_oci_http_received_bytes_total [1-9]/m.test(metrics)) return;
    await sleep(20);
  }
}

async function openUpload(server: RunningServer, repository: string): Promise<string> {
  const res = await fetchRaw(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202, res.body.toString());
  const location = res.headers.location;
  assert.ok(location, 'POST returns a Location');
  return new URL(location, server.url).toString();
}

test('serves /live, /ready, /v2/ and /metrics, then stops cleanly on SIGTERM', async (t) => {
  const dir = await tempDir(t);
  const server = await started(t, { FERRO_OCI_STORAGE_DIR: dir });
  const listening = server.jsonLogs().find((l) => l.msg === 'listening');
  assert.equal(listening?.address, '127.0.0.1');
  assert.equal(listening?.url, `http://127.0.0.1:${server.port}`);

  const live = await fetchRaw(`${server.url}/live`);
  assert.equal(live.status, 200);
  assert.deepEqual(live.json(), { status: 'ok' });

  const ready = await fetchRaw(`${server.url}/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json(), { status: 'ok', checks: { blobStore: 'ok', metadataStore: 'ok' } });

  const base = await fetchRaw(`${server.url}/v2/`, { headers: { 'X-Request-Id': 'test-id-1' } });
  assert.equal(base.status, 200);
  assert.deepEqual(base.json(), {});
  assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.equal(base.headers['x-request-id'], 'test-id-1');
  const generated = await fetchRaw(`${server.url}/v2/`);
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);

  await fetchRaw(`${server.url}/v2/some/repo/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
  const blob = Buffer.from('twelve bytes');
  const digest = digestOf(blob);
  assert.equal((await fetchRaw(`${server.url}/v2/stats/repo/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob })).status, 201);
  await fetchRaw(`${server.url}/v2/UPPER/tags/list`);
  const metrics = await fetchRaw(`${server.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(String(metrics.headers['content-type']), /^text\/plain/);
  const text = metrics.body.toString();
  assert.match(text, /^ferro_oci_http_requests_total\{method="GET",route="base",status="200"\} 2$/m);
  assert.match(text, /^ferro_oci_http_requests_total\{method="HEAD",route="blob",status="404"\} 1$/m);
  assert.match(text, /^ferro_oci_http_requests_total\{method="GET",route="\/ready",status="200"\} 1$/m);
  assert.match(text, /^ferro_oci_http_request_duration_seconds_count\{method="GET",route="base"\} 2$/m);
  assert.match(text, /^ferro_oci_upload_sessions_open 0$/m);
  assert.match(text, /^ferro_oci_blobs_stored 1$/m);
  assert.match(text, /^ferro_oci_blob_bytes_stored 12$/m);
  assert.match(text, /^ferro_oci_repositories 1$/m);
  assert.match(text, /^ferro_oci_http_requests_total\{method="GET",route="invalid",status="400"\} 1$/m);
  assert.match(text, /^ferro_oci_process_cpu_user_seconds_total /m);
  assert.doesNotMatch(text, /route="\/v2\/some/, 'raw paths never become labels');

  const status = await server.stop('SIGTERM');
  assert.deepEqual(status, { code: 0, signal: null });
  assert.ok(server.jsonLogs().some((l) => l.msg === 'stopped'));
});

test('warns that in-memory storage is lost on exit', async (t) => {
  const server = await started(t, {});
  const warning = server.jsonLogs().find((l) => l.level === 40 && String(l.msg).includes('data will be lost on exit'));
  assert.ok(warning, server.logs.join('\n'));
  assert.deepEqual(await server.stop('SIGINT'), { code: 0, signal: null });
});

test('SIGTERM lets an in-flight upload finish, refuses new connections, exits 0', async (t) => {
  const server = await started(t, { FERRO_OCI_STORAGE_DIR: await tempDir(t) });
  const location = await openUpload(server, 'x');
  const patch = fetchRaw(location, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' }, body: trickle(10, 1000, 100) });
  await bodyArrived(server);
  server.child.kill('SIGTERM');
  await server.waitForLog((l) => l.msg === 'shutting down');
  await assert.rejects(fetchRaw(`${server.url}/live`, { timeoutMs: 2000 }), /ECONNREFUSED|ECONNRESET|socket hang up/);

  const res = await patch;
  assert.equal(res.status, 202, res.body.toString());
  assert.equal(res.headers.range, `0-${10 * 1000 - 1}`);
  assert.equal(res.headers.connection, 'close');
  assert.deepEqual(await server.exited, { code: 0, signal: null });
});

test('the shutdown timeout bounds how long a stuck request may delay exit', async (t) => {
  const server = await started(t, { FERRO_OCI_SHUTDOWN_TIMEOUT: '0.5' });
  const location = await openUpload(server, 'stuck');
  const patch = fetchRaw(location, { method: 'PATCH', body: trickle(1000, 10, 50) });
  patch.catch(() => undefined); // awaited below
  await bodyArrived(server);
  server.child.kill('SIGTERM');
  const begin = Date.now();
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.ok(Date.now() - begin < 5000, 'exits soon after the timeout');
  await assert.rejects(patch);
  assert.ok(server.jsonLogs().some((l) => String(l.msg).includes('shutdown timeout reached')));
});

test('/ready answers 503 naming the failing check when the blob storage breaks', async (t) => {
  const dir = await tempDir(t);
  const server = await started(t, { FERRO_OCI_STORAGE_DIR: dir });
  assert.equal((await fetchRaw(`${server.url}/ready`)).status, 200);

  // A regular file where the blob store's directory was: fails even for root.
  await rm(join(dir, 'blobs'), { recursive: true, force: true });
  await writeFile(join(dir, 'blobs'), 'not a directory');

  for (const path of ['/ready', '/healthz']) {
    const res = await fetchRaw(`${server.url}${path}`);
    assert.equal(res.status, 503, path);
    const body = res.json() as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.metadataStore, 'ok');
    assert.notEqual(body.checks.blobStore, 'ok');
    assert.match(body.checks.blobStore ?? '', /not writable/);
  }
  assert.equal((await fetchRaw(`${server.url}/live`)).status, 200, 'the process itself is alive');
  assert.deepEqual(await server.stop(), { code: 0, signal: null });
});

test('a pushed blob survives a restart on the same storage directory', async (t) => {
  const dir = await tempDir(t);
  const content = randomBytes(4096);
  const digest = digestOf(content);

  const first = await started(t, { FERRO_OCI_STORAGE_DIR: dir });
  const push = await fetchRaw(`${first.url}/v2/r/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': content.length },
    body: content,
  });
  assert.equal(push.status, 201, push.body.toString());
  assert.equal(push.headers['docker-content-digest'], digest);
  assert.deepEqual(await first.stop(), { code: 0, signal: null });

  const second = await started(t, { FERRO_OCI_STORAGE_DIR: dir });
  const res = await fetchRaw(`${second.url}/v2/r/blobs/${digest}`);
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(content), 'same bytes');
  const metrics = (await fetchRaw(`${second.url}/metrics`)).body.toString();
  const sentBytes = /^ferro_oci_http_sent_bytes_total (\d+)$/m.exec(metrics);
  assert.ok(sentBytes && Number(sentBytes[1]) >= content.length, 'sent bytes include the blob');
  assert.deepEqual(await second.stop(), { code: 0, signal: null });
});

test('counts received body bytes', async (t) => {
  const server = await started(t, {});
  const location = await openUpload(server, 'count');
  const res = await fetchRaw(location, { method: 'PATCH', body: randomBytes(12345) });
  assert.equal(res.status, 202);
  const metrics = (await fetchRaw(`${server.url}/metrics`)).body.toString();
  assert.match(metrics, /^ferro_oci_http_received_bytes_total 12345$/m);
  assert.deepEqual(await server.stop(), { code: 0, signal: null });
});

test('startup fails with exit 1 and a clear message when the storage directory is unusable', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const spawned = spawnServer({ env: { FERRO_OCI_STORAGE_DIR: file } });
  t.after(() => spawned.kill());
  const status = await spawned.exited;
  assert.deepEqual(status, { code: 1, signal: null }, spawned.logs.join('\n'));
  const fatal = spawned.jsonLogs().find((l) => l.level === 60);
  assert.ok(fatal, spawned.logs.join('\n'));
  assert.match(String(fatal.msg), /^startup failed: storage .*a-file is not a directory \(a file is in the way\): move the file, or pick another directory with --storage-dir or FERRO_OCI_STORAGE_DIR$/);
});

test('bad configuration exits 2 with the offending setting named', async (t) => {
  const spawned = spawnServer({ env: { FERRO_OCI_LISTEN: '127.0.0.1:99999' } });
  t.after(() => spawned.kill());
  assert.deepEqual(await spawned.exited, { code: 2, signal: null });
  assert.match(spawned.logs.join('\n'), /server\.listen: "127\.0\.0\.1:99999": the port must be a number from 0 to 65535 \(from FERRO_OCI_LISTEN\)/);

  const help = spawnServer({ args: ['--help'] });
  t.after(() => help.kill());
  assert.deepEqual(await help.exited, { code: 0, signal: null });
  assert.match(help.logs.join('\n'), /FERRO_OCI_STORAGE_DIR/);
});

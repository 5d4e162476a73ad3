/** The binary's logs: one access line per request, one "listening" line, and the pretty format for people. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from '../../support/net.js';
import { fetchRaw, spawnServer, startServer, type RunningServer } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(t: { after: (fn: () => Promise<unknown>) => void }, options: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const server = await startServer(options);
  t.after(() => server.kill());
  return server;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Starts a PATCH whose body never ends and destroys the connection 200 ms after its first 4 KiB went out. */
async function abortedPatch(location: string, headers: Record<string, string>): Promise<void> {
  const url = new URL(location);
  await new Promise<void>((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'PATCH', headers });
    req.on('error', () => undefined);
    req.on('close', () => resolve());
    req.write(Buffer.alloc(4096, 1), () => setTimeout(() => req.destroy(), 200));
  });
}

test('one access line per request with method, route, status, duration, bytes, user, repository and request id; "listening" once', async (t) => {
  const dir = await tempDir(t);
  const password = 'log-test-password';
  await writeFile(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync(password, 4)}\n`);
  await writeFile(join(dir, 'config.yaml'), 'auth:\n  mode: basic\n  htpasswd: htpasswd\n  admins: { users: [alice] }\n');
  const server = await started(t, { env: { FERRO_OCI_STORAGE_DIR: join(dir, 'data'), FERRO_OCI_CONFIG: join(dir, 'config.yaml') } });
  const auth = { authorization: basic('alice', password) };

  const blob = Buffer.from('log me, once');
  const digest = digestOf(blob);
  const push = await fetchRaw(`${server.url}/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, headers: { ...auth, 'x-request-id': 'req-push' } });
  assert.equal(push.status, 201, push.body.toString());
  const pull = await fetchRaw(`${server.url}/v2/team/app/blobs/${digest}`, { headers: { ...auth, 'x-request-id': 'req-pull' } });
  assert.equal(pull.status, 200);
  const missing = await fetchRaw(`${server.url}/v2/team/app/manifests/nope`, { headers: { ...auth, 'x-request-id': 'req-missing' } });
  assert.equal(missing.status, 404);
  const anonymous = await fetchRaw(`${server.url}/v2/`, { headers: { 'x-request-id': 'req-anonymous' } });
  assert.equal(anonymous.status, 401);
  const open = await fetchRaw(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: auth });
  await abortedPatch(new URL(String(open.headers.location), server.url).toString(), { ...auth, 'x-request-id': 'req-aborted' });
  await server.waitForLog((l) => l.reqId === 'req-aborted');
  assert.deepEqual(await server.stop(), { code: 0, signal: null });

  const lines = server.jsonLogs();
  const only = (id: string): Record<string, unknown> => {
    const found = lines.filter((l) => l.reqId === id);
    assert.equal(found.length, 1, `one line for ${id}:\n${server.logs.join('\n')}`);
    return found[0]!;
  };
  const [pushLine, pullLine, missingLine, anonymousLine, abortedLine] = ['req-push', 'req-pull', 'req-missing', 'req-anonymous', 'req-aborted'].map(only) as [
    Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>,
  ];
  assert.deepEqual(
    { ...pushLine, time: 0, pid: 0, hostname: '', durationMs: 0 },
    {
      level: 30, time: 0, pid: 0, hostname: '', reqId: 'req-push', msg: 'request', method: 'POST', path: `/v2/team/app/blobs/uploads/?digest=${digest}`,
      route: 'uploads', status: 201, durationMs: 0, bytesSent: 0, bytesReceived: blob.length, user: 'alice', repository: 'team/app',
    },
  );
  assert.equal(typeof pushLine.durationMs, 'number');
  assert.equal(pullLine.route, 'blob');
  assert.equal(pullLine.status, 200);
  assert.equal(pullLine.bytesSent, blob.length);
  assert.equal(missingLine.status, 404);
  assert.equal(missingLine.error, 'MANIFEST_UNKNOWN');
  assert.equal(anonymousLine.status, 401);
  assert.equal(anonymousLine.user, undefined);
  assert.equal(abortedLine.aborted, true);
  assert.equal(abortedLine.method, 'PATCH');
  assert.equal(abortedLine.user, 'alice');
  assert.ok(Number(abortedLine.bytesReceived) > 0, JSON.stringify(abortedLine));

  assert.equal(lines.filter((l) => l.msg === 'listening').length, 1, server.logs.join('\n'));
  const text = server.logs.join('\n');
  for (const gone of ['incoming request', 'request completed', 'Server listening', 'stream closed prematurely']) assert.ok(!text.includes(gone), `no "${gone}" line`);
  assert.ok(!text.includes(password), 'the password never reaches the logs');
});

test('--log-format pretty writes lines for people, one per request', async (t) => {
  const port = await freePort();
  const server = spawnServer({ args: ['--log-format', 'pretty'], env: { FERRO_OCI_LISTEN: `127.0.0.1:${port}` } });
  t.after(() => server.kill());
  await server.waitForLine((l) => / INFO: listening$/.test(l));
  const res = await fetchRaw(`http://127.0.0.1:${port}/v2/`, { headers: { 'x-request-id': 'pretty-1' } });
  assert.equal(res.status, 200);
  await server.waitForLine((l) => l.includes('pretty-1'));
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null });

  const text = server.logs.join('\n');
  for (const line of server.logs) assert.ok(!line.trimStart().startsWith('{'), `not JSON: ${line}`);
  const access = server.logs.filter((l) => l.includes('pretty-1'));
  assert.equal(access.length, 1, text);
  assert.match(access[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v2\/ 200 [\d.]+ ms 2 B sent reqId=pretty-1$/);
  assert.equal(server.logs.filter((l) => / INFO: listening$/.test(l)).length, 1, text);
  assert.ok(server.logs.some((l) => l.trim() === `port: ${port}`), 'fields of other lines follow, one a line');
});

/** `ferro-oci-server --version` and `ferro-oci-server healthcheck`, run as the binary against a real server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SERVER_MAIN, startServer } from '../../support/server-process.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function runBinary(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SERVER_MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('--version prints the version of package.json', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const ran = await runBinary(['--version']);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout, `${pkg.version}\n`);
});

test('healthcheck exits 0 against a ready server, found through FERRO_OCI_LISTEN or --listen', async (t) => {
  const server = await startServer({});
  t.after(() => server.kill());
  const byEnv = await runBinary(['healthcheck'], { FERRO_OCI_LISTEN: `0.0.0.0:${server.port}` });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.match(byEnv.stdout, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/ready: 200 `));
  const byFlag = await runBinary(['healthcheck', '--listen', `127.0.0.1:${server.port}`, '--path', '/live']);
  assert.equal(byFlag.code, 0, byFlag.stderr);
});

test('healthcheck exits 1 naming the reason when nothing answers or the server is not ready', async (t) => {
  const server = await startServer({});
  const port = server.port;
  await server.stop();
  const down = await runBinary(['healthcheck', '--listen', `127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /\/ready: no answer \(ECONNREFUSED\)/);

  // A server that answers 503 (as /ready does while shutting down or when a store fails).
  const unready = createServer((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unavailable"}'));
  await new Promise<void>((r) => unready.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => unready.close(() => r())));
  const answered = await runBinary(['healthcheck', '--listen', `127.0.0.1:${(unready.address() as AddressInfo).port}`]);
  assert.equal(answered.code, 1);
  assert.match(answered.stderr, /\/ready: 503 \{"status":"unavailable"\}/);
});

test('healthcheck refuses bad usage with exit 2', async () => {
  const ran = await runBinary(['healthcheck', '--listen', 'nope']);
  assert.equal(ran.code, 2);
  assert.match(ran.stderr, /invalid --listen "nope"/);
});

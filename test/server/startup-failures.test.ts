/**
 * Startup failures of the binary: one fatal line naming the problem and what
 * to do, the error's stack only at debug level, exit code 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../support/net.js';
import { spawnServer, type SpawnedServer } from '../../support/server-process.js';

/** Runs the binary until it exits; its exit status and the fatal lines it logged. */
async function failedStart(t: { after: (fn: () => Promise<unknown>) => void }, env: Record<string, string>, args: string[] = []): Promise<{ spawned: SpawnedServer; fatal: string[] }> {
  const spawned = spawnServer({ env, args });
  t.after(() => spawned.kill());
  assert.deepEqual(await spawned.exited, { code: 1, signal: null }, spawned.logs.join('\n'));
  return { spawned, fatal: spawned.jsonLogs().filter((l) => l.level === 60).map((l) => String(l.msg)) };
}

test('a port in use names the address and says how to pick another; the stack only at debug level', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => holder.close(resolve)));
  const port = (holder.address() as { port: number }).port;

  const { spawned, fatal } = await failedStart(t, { FERRO_OCI_LISTEN: `127.0.0.1:${port}` });
  assert.deepEqual(fatal, [`startup failed: 127.0.0.1:${port} is already in use (another process listens there): stop it, or pick another address with --listen or FERRO_OCI_LISTEN`]);
  assert.ok(!spawned.logs.join('\n').includes('    at '), 'no stack at the default level');

  const debug = await failedStart(t, { FERRO_OCI_LISTEN: `127.0.0.1:${port}`, FERRO_OCI_LOG_LEVEL: 'debug' });
  const details = debug.spawned.jsonLogs().find((l) => l.msg === 'startup failure details');
  assert.match(String((details?.err as { stack?: string } | undefined)?.stack), /EADDRINUSE[\s\S]*\n\s+at /, debug.spawned.logs.join('\n'));
});

/** A read-only directory: a read-only tmpfs for root (who may write anywhere else), mode 0555 otherwise; undefined when neither can be made. */
async function readOnlyDir(t: { after: (fn: () => Promise<unknown>) => void }): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-ro-'));
  let mounted = false;
  t.after(async () => {
    if (mounted) execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  });
  if (process.getuid?.() !== 0) {
    execFileSync('chmod', ['0555', dir]);
    return dir;
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    mounted = true;
  } catch {
    return undefined;
  }
  return dir;
}

test('a read-only storage directory says so, not ENOENT or EACCES', async (t) => {
  const dir = await readOnlyDir(t);
  if (dir === undefined) {
    t.skip('root cannot mount a read-only tmpfs here (no CAP_SYS_ADMIN); run as a non-root user to test a mode 0555 directory');
    return;
  }
  const { fatal } = await failedStart(t, { FERRO_OCI_STORAGE_DIR: dir });
  assert.equal(fatal.length, 1);
  const expected = process.getuid?.() === 0 ? 'is on a read-only file system: mount it read-write' : 'is not writable by this process';
  assert.ok(fatal[0]!.startsWith(`startup failed: storage ${join(dir, 'blobs')} ${expected}`), fatal[0]);
  assert.match(fatal[0]!, /or pick another directory with --storage-dir or FERRO_OCI_STORAGE_DIR$/);
  assert.doesNotMatch(fatal[0]!, /ENOENT|EACCES|EROFS/);
});

test('PostgreSQL or S3 that cannot be reached: the line says which and where', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-unreachable-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const closed = await freePort();
  const pg = await failedStart(t, { FERRO_OCI_STORAGE_DIR: dir, FERRO_OCI_METADATA_URL: `postgres://registry:secret-pw@127.0.0.1:${closed}/registry` });
  assert.deepEqual(pg.fatal, [
    `startup failed: PostgreSQL postgres://registry:***@127.0.0.1:${closed}/registry cannot be reached (ECONNREFUSED): is PostgreSQL running and listening there? check --metadata-url or FERRO_OCI_METADATA_URL`,
  ]);
  assert.ok(!pg.spawned.logs.join('\n').includes('secret-pw'));

  const s3 = await failedStart(t, {
    FERRO_OCI_STORAGE_DIR: dir,
    FERRO_OCI_S3_BUCKET: 'registry',
    FERRO_OCI_S3_ENDPOINT: `http://127.0.0.1:${closed}`,
    FERRO_OCI_S3_FORCE_PATH_STYLE: 'true',
    FERRO_OCI_S3_ACCESS_KEY: 'key',
    FERRO_OCI_S3_SECRET_KEY: 'secret',
  });
  assert.deepEqual(s3.fatal, [`startup failed: S3 at http://127.0.0.1:${closed} cannot be reached (ECONNREFUSED): is it running? check --s3-endpoint or FERRO_OCI_S3_ENDPOINT`]);
});

/**
 * Disk full (root only): the server binary with its storage on a small tmpfs.
 * Pushes until the volume is full must fail with 507 in the error envelope,
 * leave nothing partial (no blob, no upload data, an unchanged session
 * offset, no manifest), and work again once space is freed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCheck } from '../../support/durability.js';
import { fetchRaw, startServer, type HttpResponse, type RunningServer } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Writes zeros to `path` until the volume is full; resolves with the bytes written. */
async function fillUp(path: string): Promise<number> {
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += (await handle.write(chunk)).bytesWritten;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close().catch(() => undefined);
  }
  return written;
}

function assertStorageFull(res: HttpResponse, what: string): void {
  assert.equal(res.status, 507, `${what}: ${res.status} ${res.body.toString()}`);
  const body = res.json() as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors[0]?.code, 'UNKNOWN');
  assert.match(body.errors[0]!.message, /no storage space left/);
}

test('disk full: pushes fail with 507, leave nothing partial, and work again once space is freed', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a tmpfs');
  const mnt = await mkdtemp(join(tmpdir(), 'ferro-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    await rm(mnt, { recursive: true, force: true });
    return t.skip(`mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
  let server: RunningServer | undefined;
  t.after(async () => {
    await server?.kill();
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  });
  const storage = join(mnt, 'storage');
  server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: storage } });
  const url = server.url;
  const repo = 'full/app';
  const push = (bytes: Buffer) => fetchRaw(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, { method: 'POST', body: bytes });

  // A config to reference from manifests later, then a filler file of our own to free space with.
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  assert.equal((await push(config)).status, 201);
  await writeFile(join(mnt, 'filler-1'), Buffer.alloc(3 * 1024 * 1024));

  // 1. Monolithic blob pushes until the volume is full.
  const stored: Buffer[] = [];
  let failed: Buffer | undefined;
  for (let i = 0; i < 40 && !failed; i++) {
    const blob = randomBytes(512 * 1024);
    const res = await push(blob);
    if (res.status === 201) stored.push(blob);
    else {
      assertStorageFull(res, `blob push ${i}`);
      failed = blob;
    }
  }
  assert.ok(failed, 'the volume filled up');
  assert.equal((await fetchRaw(`${url}/v2/${repo}/blobs/${digestOf(failed)}`, { method: 'HEAD' })).status, 404);
  assert.deepEqual(await readdir(join(storage, 'blobs', 'uploads')), [], 'no upload data left behind');

  // 2. A chunk of an open session fails too, and the session keeps its offset.
  const post = await fetchRaw(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202, post.body.toString());
  const location = String(post.headers.location);
  const chunked = randomBytes(1024 * 1024);
  assertStorageFull(await fetchRaw(url + location, { method: 'PATCH', headers: { 'Content-Range': '0-1048575' }, body: chunked }), 'PATCH');
  assert.equal((await fetchRaw(url + location)).headers.range, '0-0');

  // 3. Metadata writes on a full volume (SQLite) fail with 507 as well, storing nothing.
  const filled = await fillUp(join(mnt, 'filler-2'));
  const manifest = (n: number) =>
    Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [], annotations: { n: String(n), pad: randomBytes(150_000).toString('hex') },
    }));
  let refused: Buffer | undefined;
  for (let i = 0; i < 20 && !refused; i++) {
    const m = manifest(i);
    const res = await fetchRaw(`${url}/v2/${repo}/manifests/m${i}`, { method: 'PUT', headers: { 'Content-Type': MANIFEST }, body: m });
    if (res.status !== 201) {
      assertStorageFull(res, `manifest PUT ${i}`);
      refused = m;
    }
  }
  assert.ok(refused, 'a manifest PUT hit the full volume');
  assert.equal((await fetchRaw(`${url}/v2/${repo}/manifests/${digestOf(refused)}`)).status, 404, 'the refused manifest is not visible');
  const ready = await fetchRaw(`${url}/ready`);

  // 4. Free the space: everything works again, and nothing acknowledged was lost.
  await unlink(join(mnt, 'filler-1'));
  await unlink(join(mnt, 'filler-2'));
  assert.equal((await push(failed)).status, 201);
  assert.equal((await fetchRaw(url + location, { method: 'PATCH', headers: { 'Content-Range': '0-1048575' }, body: chunked })).status, 202);
  assert.equal((await fetchRaw(`${url}${location}?digest=${digestOf(chunked)}`, { method: 'PUT' })).status, 201);
  assert.equal((await fetchRaw(`${url}/v2/${repo}/manifests/again`, { method: 'PUT', headers: { 'Content-Type': MANIFEST }, body: refused })).status, 201);
  for (const blob of [...stored, failed, chunked]) assert.ok((await fetchRaw(`${url}/v2/${repo}/blobs/${digestOf(blob)}`)).body.equals(blob));
  assert.equal((await fetchRaw(`${url}/ready`)).status, 200);
  await server.stop();
  const check = await runCheck(['--storage-dir', storage]);
  assert.equal(check.code, 0, check.output);
  t.diagnostic(`8 MiB tmpfs: ${stored.length} × 512 KiB blobs stored, the next push answered 507; PATCH 507 with the offset kept;`);
  t.diagnostic(`after filling the rest (${filled} bytes), a manifest PUT answered 507; /ready while full: ${ready.status}; after freeing space all pushes succeeded and check passed`);
});

/**
 * The audit log end to end (README "Events and audit"): the server binary on
 * SQLite in basic mode, with a JSON lines file sink and the database: a push,
 * a delete and a refused pull each appear once with the right fields in the
 * file and through GET /admin/audit; retention prunes; a broken sink
 * (/dev/full) and a slow one (a FIFO nobody reads) never fail a request.
 */
import { execFile } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../support/server-process.js';
import { until } from '../../support/poll.js';
import { basic, call, htpasswdText, pushBlob } from '../auth/helpers.js';
import { digestOf } from '../../src/oci/digest.js';

const run = promisify(execFile);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
type Line = Record<string, unknown>;

async function serve(dir: string, audit: Record<string, unknown>): Promise<RunningServer> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ auth: { mode: 'basic', htpasswd: 'htpasswd', admins: { users: ['admin'] } }, audit }));
  return startServer({ env: { FERRO_OCI_STORAGE_DIR: join(dir, 'storage'), FERRO_OCI_CONFIG: config } });
}

async function lines(path: string): Promise<Line[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
}

async function auditQuery(server: RunningServer, query: string): Promise<Line[]> {
  const res = await call(server, 'GET', `/admin/audit?${query}`, { authorization: basic('admin') });
  assert.equal(res.status, 200, res.body.toString());
  return (JSON.parse(res.body.toString()) as { records: Line[] }).records;
}

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = (await call(server, 'GET', '/metrics')).body.toString();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** A one-layer manifest in `repo`, its blobs pushed by admin. */
async function manifestIn(server: RunningServer, repo: string): Promise<Buffer> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = Buffer.from(`layer of ${repo} ${Date.now()}`);
  await pushBlob(server, repo, config, basic('admin'));
  await pushBlob(server, repo, layer, basic('admin'));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }] }));
}

describe('audit log (server binary, SQLite, basic mode)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-audit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records a push, a delete and a refused pull once each, in the file and the database', async () => {
    const sink = join(dir, 'main', 'audit.jsonl');
    const server = await serve(join(dir, 'main'), { sink: 'audit.jsonl', database: true });
    try {
      const bytes = await manifestIn(server, 'apps/web');
      const digest = digestOf(bytes);
      const put = await call(server, 'PUT', '/v2/apps/web/manifests/v1', { authorization: basic('admin'), 'content-type': MANIFEST }, bytes);
      assert.equal(put.status, 201);
      const pull = await call(server, 'GET', '/v2/apps/web/manifests/v1', { authorization: basic('admin') });
      assert.equal(pull.status, 200);
      const refused = await call(server, 'GET', '/v2/apps/web/manifests/v1');
      assert.equal(refused.status, 401);
      const del = await call(server, 'DELETE', `/v2/apps/web/manifests/${digest}`, { authorization: basic('admin') });
      assert.equal(del.status, 202);

      const all = await until(() => lines(sink), (l) => l.length >= 7);
      const byId = (res: { headers: Record<string, unknown> }) => all.filter((l) => l.requestId === res.headers['x-request-id']);
      const base = { address: '127.0.0.1', repository: 'apps/web' };
      assert.deepEqual(byId(put).map(({ time: _t, ...l }) => l), [
        { ...base, actor: 'admin', action: 'manifest.put', outcome: 'ok', reference: 'v1', status: 201, method: 'PUT', requestId: put.headers['x-request-id'] },
      ]);
      assert.deepEqual(byId(del).map(({ time: _t, ...l }) => l), [
        { ...base, actor: 'admin', action: 'manifest.delete', outcome: 'ok', reference: digest, status: 202, method: 'DELETE', requestId: del.headers['x-request-id'] },
      ]);
      assert.deepEqual(byId(refused).map(({ time: _t, ...l }) => l), [
        { ...base, actor: 'anonymous', action: 'manifest.get', outcome: 'refused', reference: 'v1', status: 401, code: 'UNAUTHORIZED', method: 'GET', requestId: refused.headers['x-request-id'] },
      ]);
      assert.deepEqual(byId(pull), [], 'a granted read is not audited');
      assert.deepEqual(all.map((l) => l.action), ['upload.start', 'upload.finish', 'upload.start', 'upload.finish', 'manifest.put', 'manifest.get', 'manifest.delete']);
      assert.ok(all.every((l) => typeof l.time === 'number' && Math.abs((l.time as number) - Date.now()) < 600_000));

      // The same records from the database (its sink has its own queue: wait for it as for the file).
      const fromDb = await until(() => auditQuery(server, 'repository=apps/web&limit=1000'), (r) => r.length >= all.length);
      assert.deepEqual(fromDb.map(({ seq: _s, ...l }) => l), all);
      assert.deepEqual((await auditQuery(server, 'actor=anonymous')).map((l) => l.requestId), [refused.headers['x-request-id']]);
      assert.deepEqual(await auditQuery(server, `since=${new Date(Date.now() + 60_000).toISOString()}`), []);
      const page = await call(server, 'GET', '/admin/audit?repository=apps/web&limit=2', { authorization: basic('admin') });
      const body = JSON.parse(page.body.toString()) as { records: Line[]; next: number };
      assert.equal(body.records.length, 2);
      assert.deepEqual((await auditQuery(server, `repository=apps/web&after=${body.next}`)).map((l) => l.action), all.slice(2).map((l) => l.action));
      // Not for others: the audit log is an admin endpoint (and the refusal is itself recorded).
      assert.equal((await call(server, 'GET', '/admin/audit', { authorization: basic('alice') })).status, 403);
      assert.equal((await call(server, 'GET', '/admin/audit?limit=0', { authorization: basic('admin') })).status, 400);
      const later = await until(() => lines(sink), (l) => l.some((x) => x.actor === 'alice'));
      assert.deepEqual(later.filter((l) => l.actor === 'alice').map((l) => [l.action, l.outcome, l.status]), [['admin.audit.get', 'refused', 403]]);

      // Rotation: rename the file, SIGHUP; the next records go to a new file at the path.
      await rename(sink, `${sink}.1`);
      server.child.kill('SIGHUP');
      await server.waitForLog((l) => l.msg === 'configuration reloaded' && l.trigger === 'SIGHUP');
      const after = await call(server, 'DELETE', '/v2/apps/web/manifests/v1');
      assert.equal(after.status, 401);
      const rotated = await until(() => lines(sink), (l) => l.length > 0);
      assert.deepEqual(rotated.map((l) => [l.requestId, l.action]), [[after.headers['x-request-id'], 'manifest.delete']]);
      assert.ok((await lines(`${sink}.1`)).every((l) => l.requestId !== after.headers['x-request-id']));
    } finally {
      await server.stop();
    }
  });

  it('prunes database records older than the retention period', async () => {
    // 0.00002 days: 1.7 s.
    const server = await serve(join(dir, 'retention'), { database: true, retentionDays: 0.00002 });
    try {
      await pushBlob(server, 'apps/old', Buffer.from('old bytes'), basic('admin'));
      const before = await until(() => auditQuery(server, 'repository=apps/old'), (r) => r.length === 2);
      assert.deepEqual(before.map((r) => r.action), ['upload.start', 'upload.finish']);
      const afterwards = await until(() => auditQuery(server, 'repository=apps/old'), (r) => r.length === 0);
      assert.deepEqual(afterwards, []);
    } finally {
      await server.stop();
    }
  });

  it('a broken sink never fails a request: the failures are counted, the database still gets the records', async () => {
    const server = await serve(join(dir, 'broken'), { sink: '/dev/full', database: true });
    try {
      for (let i = 0; i < 20; i++) assert.equal((await call(server, 'GET', `/v2/apps/web/manifests/t${i}`)).status, 401);
      await pushBlob(server, 'apps/x', Buffer.from('x'), basic('admin'));
      const failed = await until(() => metric(server, 'ferro_oci_audit_failed_total{sink="file"}'), (n) => n >= 22);
      assert.equal(failed, 22);
      assert.equal((await until(() => auditQuery(server, 'actor=anonymous&limit=1000'), (r) => r.length >= 20)).length, 20);
    } finally {
      await server.stop();
    }
  });

  it('a slow sink never holds a request: its queue fills and records are dropped', async (t) => {
    const fifo = join(dir, 'slow.fifo');
    await mkdir(join(dir, 'slow'), { recursive: true });
    try {
      await run('mkfifo', [fifo]);
    } catch {
      return t.skip('mkfifo is not available');
    }
    // A reader that never reads: the pipe's buffer (64 KiB) fills and the server's writes wait.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const server = await serve(join(dir, 'slow'), { sink: fifo, queueSize: 10 });
    try {
      for (let i = 0; i < 800; i++) assert.equal((await call(server, 'GET', `/v2/apps/web/manifests/t${i}`)).status, 401);
      const dropped = await metric(server, 'ferro_oci_audit_dropped_total{sink="file"}');
      assert.ok(dropped > 0, `dropped ${dropped}`);
      assert.equal((await call(server, 'GET', '/v2/apps/web/manifests/t', { authorization: basic('admin') })).status, 404);
    } finally {
      closeSync(reader);
      await server.stop();
    }
  });
});

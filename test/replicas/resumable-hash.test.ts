/**
 * Resumable upload hashes across replicas (docs/replicas.md "Upload hash
 * state"): three server processes on one PostgreSQL and one Ceph RGW bucket.
 * Every request of a chunked upload lands on another replica than the one
 * before; each continues the sha256 from the state saved with the session,
 * so no replica reads the partial upload back (upload_rehash_bytes_total
 * stays 0). A replica SIGKILLed mid-upload, mid-request, costs nothing either.
 * A damaged, missing or transplanted state is never used: the replica re-reads
 * the bytes, and only the digest of the bytes is accepted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { startServer, type RunningServer } from '../../support/server-process.js';
import { startRoundRobinProxy, type RoundRobinProxy } from '../../support/round-robin-proxy.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';
import { digestOf } from '../../src/oci/digest.js';

const MiB = 1024 * 1024;
const skip = postgresUnavailable() ?? (await cephUnavailable());

type Counters = { resumes: number; withoutReread: number; rehashed: number };

/** The upload resume counters of one replica, from its /metrics. */
async function counters(server: RunningServer): Promise<Counters> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^ferro_oci_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { resumes: value('upload_resumes_total'), withoutReread: value('upload_resumes_without_reread_total'), rehashed: value('upload_rehash_bytes_total') };
}

async function total(servers: readonly RunningServer[]): Promise<Counters> {
  const all = await Promise.all(servers.map(counters));
  return all.reduce((a, b) => ({ resumes: a.resumes + b.resumes, withoutReread: a.withoutReread + b.withoutReread, rehashed: a.rehashed + b.rehashed }));
}

const since = (before: Counters, now: Counters): Counters => ({ resumes: now.resumes - before.resumes, withoutReread: now.withoutReread - before.withoutReread, rehashed: now.rehashed - before.rehashed });

/** One chunked upload driven request by request against chosen base URLs. */
class Upload {
  location = '';
  offset = 0;
  constructor(readonly repo: string) {}

  async start(base: string): Promise<void> {
    const res = await fetch(`${base}/v2/${this.repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    assert.equal(res.status, 202, await res.text());
    this.location = res.headers.get('location')!;
  }

  async patch(base: string, chunk: Buffer): Promise<void> {
    const res = await fetch(new URL(this.location, base), {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${this.offset}-${this.offset + chunk.length - 1}`, 'content-length': String(chunk.length) },
      body: chunk,
    });
    assert.equal(res.status, 202, await res.text());
    this.offset += chunk.length;
    assert.equal(res.headers.get('range'), `0-${this.offset - 1}`);
    this.location = res.headers.get('location')!;
  }

  /** PUT ?digest= without a body: the status and the error code, if any. */
  async finish(base: string, digest: string): Promise<{ status: number; code?: string }> {
    const url = new URL(this.location, base);
    url.searchParams.set('digest', digest);
    const res = await fetch(url, { method: 'PUT', headers: { 'content-length': '0' } });
    const body = await res.text();
    return { status: res.status, ...(res.status >= 400 ? { code: (JSON.parse(body) as { errors: Array<{ code: string }> }).errors[0]!.code } : {}) };
  }

  get id(): string {
    return /\/blobs\/uploads\/([^/?]+)/.exec(this.location)![1]!;
  }
}

describe('resumable upload hashes across replicas (PostgreSQL + S3)', { skip: skip ?? false, timeout: 170_000 }, () => {
  let postgres: TestPostgres | undefined;
  let rgw: Rgw | undefined;
  let db: pg.Client;
  const servers: RunningServer[] = [];
  let proxy: RoundRobinProxy;
  const figures: Record<string, unknown> = {};

  before(async () => {
    [postgres, rgw] = await Promise.all([startPostgres(), startRgw('resumable')]);
    await createBucket(rgw, 'resumable');
    const env = replicaEnv(postgres, rgw, 'resumable', 2);
    servers.push(...(await Promise.all([0, 1, 2].map(() => startServer({ env, timeoutMs: 60_000 })))));
    proxy = await startRoundRobinProxy(servers.map((s) => ({ host: '127.0.0.1', port: s.port })), { log: true });
    db = new pg.Client(postgres.config);
    await db.connect();
  });

  after(async () => {
    console.log(`resumable hash figures: ${JSON.stringify(figures)}`);
    await db?.end();
    await proxy?.close();
    await Promise.allSettled(servers.map((s) => s.stop('SIGTERM', 10_000)));
    await Promise.allSettled([postgres?.stop(), rgw?.stop()]);
  });

  const readBack = async (server: RunningServer, repo: string, digest: string, blob: Buffer) => {
    const res = await fetch(`${server.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob), `${server.url} serves the exact bytes`);
  };

  test('a chunked upload crossing replicas at every request reads nothing back and commits the right digest', async () => {
    // Around S3's 5 MiB part minimum: small segments, a big one, tiny tails.
    const sizes = [3 * MiB, 5 * MiB + 1, 2 * MiB, 1000, 6 * MiB, 100];
    const blob = randomBytes(sizes.reduce((a, b) => a + b, 0));
    const digest = digestOf(blob);
    const start = await total(servers);
    const from = proxy.log.length;
    const upload = new Upload('resumable/hop');
    await upload.start(proxy.url);
    for (let at = 0, i = 0; i < sizes.length; at += sizes[i]!, i++) await upload.patch(proxy.url, blob.subarray(at, at + sizes[i]!));
    assert.deepEqual(await upload.finish(proxy.url, digest), { status: 201 });
    const hops = proxy.log.slice(from).map((e) => e.replica);
    for (let i = 1; i < hops.length; i++) assert.notEqual(hops[i], hops[i - 1], `request ${i} stayed on replica ${hops[i]}: ${hops.join(',')}`);
    const used = since(start, await total(servers));
    figures.crossing = { bytes: blob.length, requests: hops.length, ...used };
    assert.equal(used.rehashed, 0, 'no byte of the partial upload is read back');
    assert.ok(used.resumes >= sizes.length, `every request after the POST resumed the writer (${used.resumes})`);
    assert.equal(used.withoutReread, used.resumes, 'every resume read nothing back');
    for (const s of servers) await readBack(s, 'resumable/hop', digest, blob);
  });

  test('a damaged, missing or transplanted state is not used: the bytes are re-read and only their digest is accepted', async () => {
    const [a, b, c] = servers as [RunningServer, RunningServer, RunningServer];
    const first = randomBytes(2 * MiB);
    const rest = randomBytes(MiB);
    const setState = (id: string, state: Buffer | null) => db.query('UPDATE registry.uploads SET hash_state = $2 WHERE id = $1', [id, state]);
    const stateOf = async (id: string) => (await db.query<{ hash_state: Buffer | null }>('SELECT hash_state FROM registry.uploads WHERE id = $1', [id])).rows[0]!.hash_state;

    const damaged = async (what: string, spoil: (state: Buffer, id: string) => Promise<unknown>, wrongDigest?: string) => {
      const upload = new Upload(`resumable/${what}`);
      await upload.start(a.url);
      await upload.patch(b.url, first);
      const saved = await stateOf(upload.id);
      assert.ok(saved, 'the session carries the state of its acknowledged offset');
      await spoil(saved, upload.id);
      const start = await counters(c);
      await upload.patch(c.url, rest);
      const used = since(start, await counters(c));
      assert.deepEqual(used, { resumes: 1, withoutReread: 0, rehashed: first.length }, `${what}: the acknowledged bytes are read back once`);
      const blob = Buffer.concat([first, rest]);
      if (wrongDigest !== undefined) {
        assert.deepEqual(await upload.finish(a.url, wrongDigest), { status: 400, code: 'DIGEST_INVALID' }, `${what}: the digest the state would give is refused`);
        return;
      }
      assert.deepEqual(await upload.finish(a.url, digestOf(blob)), { status: 201 }, what);
      await readBack(b, `resumable/${what}`, digestOf(blob), blob);
    };

    await damaged('flipped', (state, id) => setState(id, Buffer.from(state.map((x, i) => (i === 40 ? x ^ 0x10 : x)))));
    await damaged('missing', (_state, id) => setState(id, null)); // e.g. a session of an older version
    // The intact state of another upload of the same length, whose bytes differ: used, it would make the
    // upload hash to a digest its bytes do not have.
    const other = new Upload('resumable/other');
    const otherFirst = randomBytes(first.length);
    await other.start(a.url);
    await other.patch(b.url, otherFirst);
    const foreign = await stateOf(other.id);
    const wouldBe = digestOf(Buffer.concat([otherFirst, rest]));
    await damaged('transplanted', (_state, id) => setState(id, foreign), wouldBe);
    assert.equal((await fetch(`${a.url}/v2/resumable/transplanted/blobs/${wouldBe}`, { method: 'HEAD' })).status, 404);
  });

  test('a replica SIGKILLed in the middle of a PATCH: the upload continues on another one without reading back', async () => {
    const [a, b, c] = servers as [RunningServer, RunningServer, RunningServer];
    const chunks = [randomBytes(3 * MiB), randomBytes(6 * MiB), randomBytes(2 * MiB), randomBytes(4 * MiB)];
    const blob = Buffer.concat(chunks);
    const upload = new Upload('resumable/killed');
    await upload.start(a.url);
    await upload.patch(b.url, chunks[0]!);
    await upload.patch(c.url, chunks[1]!);
    // Half of the next chunk reaches C, then C dies.
    const half = chunks[2]!.subarray(0, MiB);
    let sent!: () => void;
    const halfSent = new Promise<void>((resolve) => (sent = resolve));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(half);
        sent();
      },
    });
    const cut = fetch(new URL(upload.location, c.url), {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${upload.offset}-${upload.offset + chunks[2]!.length - 1}`, 'content-length': String(chunks[2]!.length) },
      body,
      duplex: 'half',
    } as RequestInit).catch((err: unknown) => err);
    await halfSent;
    await new Promise((r) => setTimeout(r, 200));
    await c.kill();
    assert.ok((await cut) instanceof Error, 'the cut PATCH was not acknowledged');
    const survivors = [a, b];
    const start = await total(survivors);
    const status = await fetch(new URL(upload.location, a.url));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${upload.offset - 1}`, 'the acknowledged offset, not the cut bytes');
    await upload.patch(b.url, chunks[2]!);
    await upload.patch(a.url, chunks[3]!);
    assert.deepEqual(await upload.finish(b.url, digestOf(blob)), { status: 201 });
    const used = since(start, await total(survivors));
    figures.killed = used;
    assert.equal(used.rehashed, 0, 'nothing read back after the kill');
    assert.ok(used.resumes >= 3 && used.withoutReread === used.resumes, JSON.stringify(used));
    for (const s of survivors) await readBack(s, 'resumable/killed', digestOf(blob), blob);
  });
});

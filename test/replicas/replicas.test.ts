/**
 * Several server processes behind a round-robin proxy, sharing one PostgreSQL
 * database (metadata) and one Ceph RGW bucket (blobs): the deployment of
 * docs/replicas.md, with real processes and real servers.
 *
 * - A chunked upload whose POST, each PATCH and the PUT land on a different
 *   replica than the request before succeeds; the blob reads back from every replica.
 * - Image pushes and pulls through the proxy; tags/list and the catalog agree on every replica.
 * - One replica is SIGKILLed in the middle of a concurrent push workload:
 *   every acknowledged write (201) reads back with the right bytes afterwards.
 *
 * The proxy (support/round-robin-proxy.ts, one connection per request,
 * markDead) forwards each request to the next live replica, streaming bodies
 * both ways and rewriting nothing but the Host header. A connection error
 * marks the replica dead; the request is retried on the next replica only
 * when it has no body or its body was not yet sent, else it fails (502).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../support/postgres.js';
import { cephUnavailable, startRgw, type Rgw } from '../../support/ceph.js';
import { startServer, type RunningServer } from '../../support/server-process.js';
import { OciClient, imageManifest } from '../../support/oci-client.js';
import { startRoundRobinProxy, type ProxyLogEntry, type RoundRobinProxy } from '../../support/round-robin-proxy.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';
import { digestOf } from '../../src/oci/digest.js';

const REPLICAS = 3;
const BUCKET = 'replicas';
const MiB = 1024 * 1024;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

const run = promisify(execFile);
const skip = postgresUnavailable() ?? (await cephUnavailable());

/** GET a URL; the status and the body bytes. */
async function get(url: string, accept?: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** The upload id in an upload URL (path or absolute URL). */
function uploadIdOf(location: string): string | undefined {
  return /\/blobs\/uploads\/([^/?]+)/.exec(location)?.[1];
}

describe('replicas sharing PostgreSQL and S3 behind a round-robin proxy', { skip: skip ?? false, timeout: 170_000 }, () => {
  let pg: TestPostgres | undefined;
  let rgw: Rgw | undefined;
  const servers: (RunningServer | undefined)[] = [];
  let proxy: RoundRobinProxy;
  const figures: Record<string, number | string> & { replicaCrossingUploads: number; kills: number } = { replicaCrossingUploads: 0, kills: 0, acknowledgedWrites: 0, lostWrites: 0, failedPushes: 0, proxy502s: 0, proxyRetries: 0 };

  before(async () => {
    [pg, rgw] = await Promise.all([startPostgres(), startRgw('replicas')]);
    await createBucket(rgw, BUCKET);
    const env = replicaEnv(pg, rgw, BUCKET, 2);
    // All at once: the schema migration is serialized by the store's advisory lock.
    servers.push(...(await Promise.all(Array.from({ length: REPLICAS }, () => startServer({ env, timeoutMs: 60_000 })))));
    for (const s of servers) {
      const opened = await s!.waitForLog((l) => l.msg === 'storage opened');
      assert.equal(opened.storage, 's3');
      assert.equal(JSON.stringify(s!.logs).includes(rgw.credentials.secretAccessKey), false, 'the S3 secret key is never logged');
    }
    proxy = await startRoundRobinProxy(servers.map((s) => ({ host: '127.0.0.1', port: s!.port })), { markDead: true, log: true });
  });

  after(async () => {
    console.log(`replicas figures: ${JSON.stringify(figures)}`);
    await proxy?.close();
    await Promise.allSettled(servers.map((s) => s?.stop('SIGTERM', 10_000)));
    await Promise.allSettled([pg?.stop(), rgw?.stop()]);
  });

  const live = (): RunningServer[] => servers.filter((s, i): s is RunningServer => s !== undefined && !proxy.dead.has(i) && s.child.exitCode === null && s.child.signalCode === null);

  test('a chunked upload hopping replica to replica at every request commits, and every replica serves the blob', async () => {
    // Chunk sizes around the 5 MiB S3 part minimum: small segments, a big one, a tiny tail.
    const patterns = [
      [1 * MiB, 3 * MiB, 6 * MiB, 1000],
      [5 * MiB, 5 * MiB + 1, 7],
      [100, 200, 300, 400, 500],
    ];
    for (const chunks of patterns) {
      const blob = randomBytes(chunks.reduce((a, b) => a + b, 0));
      const digest = digestOf(blob);
      const from = proxy.log.length;
      const start = await fetch(`${proxy.url}/v2/hop/chunked/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
      assert.equal(start.status, 202, await start.text());
      let location = start.headers.get('location')!;
      let offset = 0;
      for (const size of chunks) {
        const chunk = blob.subarray(offset, offset + size);
        const patch = await fetch(new URL(location, proxy.url), {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + size - 1}`, 'content-length': String(size) },
          body: chunk,
        });
        assert.equal(patch.status, 202, await patch.text());
        assert.equal(patch.headers.get('range'), `0-${offset + size - 1}`);
        offset += size;
        location = patch.headers.get('location')!;
      }
      const url = new URL(location, proxy.url);
      url.searchParams.set('digest', digest);
      const put = await fetch(url, { method: 'PUT', headers: { 'content-length': '0' } });
      assert.equal(put.status, 201, await put.text());
      const hops = proxy.log.slice(from).map((e) => e.replica);
      assert.equal(hops.length, chunks.length + 2);
      for (let i = 1; i < hops.length; i++) assert.notEqual(hops[i], hops[i - 1], `request ${i} of the upload stayed on replica ${hops[i]}: ${hops.join(',')}`);
      assert.equal(new Set(hops).size, REPLICAS);
      figures.replicaCrossingUploads++;
      for (const s of live()) {
        const read = await get(`${s.url}/v2/hop/chunked/blobs/${digest}`);
        assert.equal(read.status, 200);
        assert.ok(read.body.equals(blob), `replica ${s.url} serves the exact bytes`);
      }
    }
  });

  test('images pushed and pulled through the proxy; tags/list and catalog agree on every replica', async () => {
    const client = new OciClient(proxy.url);
    const from = proxy.log.length;
    const pushed: Array<{ repo: string; tag: string; image: Awaited<ReturnType<OciClient['pushImage']>> }> = [];
    for (let i = 0; i < 6; i++) {
      const repo = `team/app-${i % 3}`;
      const tag = `v${i}`;
      pushed.push({ repo, tag, image: await client.pushImage(repo, tag, { layers: 2, layerSize: 64 * 1024 }) });
    }
    // Every upload was a POST on one replica and a PUT on the next.
    figures.replicaCrossingUploads += countCrossingUploads(proxy.log.slice(from));
    for (const { repo, tag, image } of pushed) {
      for (let k = 0; k < REPLICAS; k++) {
        // Pulls through the proxy (each request lands on the next replica).
        const manifest = await get(`${proxy.url}/v2/${repo}/manifests/${tag}`, MANIFEST_TYPE);
        assert.equal(manifest.status, 200);
        assert.ok(manifest.body.equals(image.bytes));
        for (const layer of image.layers) {
          const blob = await get(`${proxy.url}/v2/${repo}/blobs/${layer.digest}`);
          assert.equal(blob.status, 200);
          assert.ok(blob.body.equals(layer.bytes));
        }
      }
    }
    const views = await Promise.all(
      live().map(async (s) => {
        const catalog = await (await fetch(`${s.url}/v2/_catalog`)).json();
        const tags = await Promise.all([0, 1, 2].map(async (i) => (await fetch(`${s.url}/v2/team/app-${i}/tags/list`)).json()));
        return JSON.stringify({ catalog, tags });
      }),
    );
    assert.equal(new Set(views).size, 1, `replicas disagree:\n${views.join('\n')}`);
    const { catalog, tags } = JSON.parse(views[0]!) as { catalog: { repositories: string[] }; tags: Array<{ name: string; tags: string[] }> };
    assert.deepEqual(catalog.repositories, ['hop/chunked', 'team/app-0', 'team/app-1', 'team/app-2']);
    assert.deepEqual(tags.map((t) => t.tags), [['v0', 'v3'], ['v1', 'v4'], ['v2', 'v5']]);
  });

  test('skopeo copies an image in and out through the proxy', { skip: onPath('skopeo') ? false : 'skopeo is not installed' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferro-replicas-skopeo-'));
    try {
      const layout = await writeOciLayout(join(dir, 'src'));
      const host = new URL(proxy.url).host;
      const from = proxy.log.length;
      await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(dir, 'src')}:v1`, `docker://${host}/skopeo/small:v1`], { timeout: 60_000 });
      await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/skopeo/small:v1`, `oci:${join(dir, 'back')}:v1`], { timeout: 60_000 });
      figures.replicaCrossingUploads += countCrossingUploads(proxy.log.slice(from));
      figures.skopeo = `copied in and out through the proxy, ${proxy.log.length - from} requests on ${new Set(proxy.log.slice(from).map((e) => e.replica)).size} replicas`;
      // skopeo copies OCI to OCI verbatim: same manifest digest back.
      const back = JSON.parse(await readFile(join(dir, 'back', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      assert.equal(back.manifests[0]!.digest, layout.manifestDigest);
      for (const s of live()) {
        const read = await get(`${s.url}/v2/skopeo/small/manifests/v1`, MANIFEST_TYPE);
        assert.equal(read.status, 200);
        assert.equal(digestOf(read.body), layout.manifestDigest);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('SIGKILL of a replica during a concurrent push workload loses no acknowledged write', async () => {
    const blobs: Array<{ repo: string; digest: string; bytes: Buffer }> = [];
    const manifests: Array<{ repo: string; tag: string; digest: string; bytes: Buffer }> = [];
    let failed = 0;
    let stop = false;
    const victim = REPLICAS - 1;
    const from = proxy.log.length;

    /** Monolithic or two-chunk push of one blob; records it when acknowledged (201). */
    const pushBlob = async (repo: string, bytes: Buffer): Promise<string | undefined> => {
      const digest = digestOf(bytes);
      const start = await fetch(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
      if (start.status !== 202) return undefined;
      let location = start.headers.get('location')!;
      const half = bytes.length >> 1;
      if (bytes.length % 2 === 0) {
        const patch = await fetch(new URL(location, proxy.url), {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}`, 'content-length': String(half) },
          body: bytes.subarray(0, half),
        });
        if (patch.status !== 202) return undefined;
        location = patch.headers.get('location')!;
      }
      const rest = bytes.length % 2 === 0 ? bytes.subarray(half) : bytes;
      const url = new URL(location, proxy.url);
      url.searchParams.set('digest', digest);
      const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(rest.length) }, body: rest });
      if (put.status !== 201) return undefined;
      blobs.push({ repo, digest, bytes });
      return digest;
    };

    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const repo = `load/w${w}`;
        try {
          const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', w, i }));
          const layer = randomBytes(16 * 1024 + Math.floor(Math.random() * 512 * 1024));
          const configDigest = await pushBlob(repo, config);
          const layerDigest = await pushBlob(repo, layer);
          if (configDigest === undefined || layerDigest === undefined) {
            failed++;
            continue;
          }
          const manifest = imageManifest({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
          const tag = `t${i}`;
          const put = await fetch(`${proxy.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MANIFEST_TYPE }, body: manifest });
          await put.arrayBuffer();
          if (put.status === 201) manifests.push({ repo, tag, digest: digestOf(manifest), bytes: manifest });
          else failed++;
        } catch {
          failed++; // a request cut by the kill (connection reset): not acknowledged
        }
      }
    };

    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    // Kill once the workload is well under way, with requests in flight on every replica.
    const deadline = Date.now() + 20_000;
    while (blobs.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const killed = servers[victim]!;
    await killed.kill();
    figures.kills++;
    const killedAt = blobs.length + manifests.length;
    // Keep pushing through the survivors for a while.
    const deadline2 = Date.now() + 20_000;
    while (blobs.length + manifests.length < killedAt + 60 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(workers);
    assert.ok(proxy.dead.has(victim), 'the proxy noticed the dead replica');
    assert.ok(blobs.length + manifests.length > killedAt, 'writes were acknowledged after the kill');

    figures.acknowledgedWrites = blobs.length + manifests.length;
    figures.failedPushes = failed;
    figures.proxy502s = proxy.stats.failed;
    figures.proxyRetries = proxy.stats.retried;
    figures.replicaCrossingUploads += countCrossingUploads(proxy.log.slice(from));

    // Every acknowledged write reads back, with the right bytes, from every survivor.
    const lost: string[] = [];
    const survivors = live();
    assert.equal(survivors.length, REPLICAS - 1);
    for (const s of survivors) {
      for (const b of blobs) {
        const read = await get(`${s.url}/v2/${b.repo}/blobs/${b.digest}`);
        if (read.status !== 200 || !read.body.equals(b.bytes)) lost.push(`${s.url} blob ${b.repo}@${b.digest}: ${read.status}`);
      }
      for (const m of manifests) {
        for (const ref of [m.tag, m.digest]) {
          const read = await get(`${s.url}/v2/${m.repo}/manifests/${ref}`, MANIFEST_TYPE);
          if (read.status !== 200 || !read.body.equals(m.bytes)) lost.push(`${s.url} manifest ${m.repo}:${ref}: ${read.status}`);
        }
      }
    }
    figures.lostWrites = lost.length;
    assert.deepEqual(lost, [], 'acknowledged writes lost');
  });
});

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, bin)));
}

/** A one-layer OCI image layout at `dir`, tagged v1 (layer: a gzipped tar made with tar(1)). */
async function writeOciLayout(dir: string): Promise<{ manifestDigest: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const content = join(dir, '..', 'content');
  await mkdir(content, { recursive: true });
  await writeFile(join(content, 'hello.txt'), `hello from the replicas test ${randomBytes(8).toString('hex')}\n`);
  const tarball = join(dir, '..', 'layer.tar.gz');
  await run('tar', ['-czf', tarball, '-C', content, 'hello.txt']);
  const layer = await readFile(tarball);
  const diffId = digestOf(gunzipSync(layer));
  const put = async (bytes: Buffer): Promise<string> => {
    const digest = digestOf(bytes);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
    return digest;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(layer), size: layer.length }],
    }),
  );
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MANIFEST_TYPE, digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  return { manifestDigest };
}

/** Uploads (by id) whose requests were answered by more than one replica. */
function countCrossingUploads(entries: readonly ProxyLogEntry[]): number {
  const replicasOf = new Map<string, Set<number>>();
  for (const e of entries) {
    const id = uploadIdOf(e.path) ?? (e.method === 'POST' && e.location ? uploadIdOf(e.location) : undefined);
    if (id === undefined) continue;
    const set = replicasOf.get(id) ?? new Set<number>();
    set.add(e.replica);
    replicasOf.set(id, set);
  }
  return [...replicasOf.values()].filter((s) => s.size > 1).length;
}

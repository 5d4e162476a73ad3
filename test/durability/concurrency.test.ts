/**
 * Concurrency on filesystem + SQLite: requests held at a barrier mid-body so
 * that they really overlap. The same blob pushed by 32 clients is stored
 * once; racing PATCHes on one session never interleave (all but one get
 * 416); racing tag updates leave the tag on one fully readable manifest.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkStores } from '../../src/services/check.js';
import { listTree } from '../../support/durability.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { fetchRaw, type HttpResponse } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Resolves every waiter once `count` have arrived. */
function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    if (++arrived === count) release();
    return all;
  };
}

/** A body that sends `bytes` in two halves with `between()` awaited in the middle. */
async function* twoHalves(bytes: Buffer, between: () => Promise<unknown>): AsyncGenerator<Uint8Array> {
  const half = Math.floor(bytes.length / 2);
  yield bytes.subarray(0, half);
  await between();
  yield bytes.subarray(half);
}

describe('concurrency [disk]', () => {
  let registry: TestRegistry;
  let url: string;
  before(async () => {
    registry = await startRegistry('disk');
    url = registry.url;
  });
  after(() => registry.close());

  const request = (path: string, options: Parameters<typeof fetchRaw>[1] = {}) => fetchRaw(url + path, { timeoutMs: 30_000, ...options });

  it('32 clients pushing the same blob at once all succeed, and it is stored once', async (t) => {
    const blob = randomBytes(1024 * 1024);
    const digest = digestOf(blob);
    const meet = barrier(32);
    const results = await Promise.all(
      Array.from({ length: 32 }, async (_, i): Promise<HttpResponse> => {
        const repo = `same/r${i % 4}`; // four repositories, eight clients each
        const body = twoHalves(blob, meet);
        const length = { 'Content-Length': blob.length };
        if (i % 2 === 0) return request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: length, body });
        const post = await request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
        return request(`${post.headers.location}?digest=${digest}`, { method: 'PUT', headers: length, body });
      }),
    );
    assert.deepEqual(results.map((r) => r.status), Array(32).fill(201), results.map((r) => r.body.toString()).join('\n'));
    const files = (await listTree(join(registry.dir!, 'blobs', 'blobs'))).filter((p) => !p.endsWith('/'));
    assert.deepEqual(files, [`sha256/${digest.slice(7, 9)}/${digest.slice(7)}`]);
    assert.deepEqual(await readdir(join(registry.dir!, 'blobs', 'uploads')), []);
    for (let r = 0; r < 4; r++) assert.ok((await request(`/v2/same/r${r}/blobs/${digest}`)).body.equals(blob));
    t.diagnostic(`32 concurrent pushes of one 1 MiB blob: 32 × 201, ${files.length} file under blobs/`);
  });

  it('racing PATCHes on one session never interleave: one is appended, the others get 416', async (t) => {
    const post = await request('/v2/race/patch/blobs/uploads/', { method: 'POST' });
    const location = String(post.headers.location);
    const first = randomBytes(4096);
    assert.equal((await request(location, { method: 'PATCH', headers: { 'Content-Range': '0-4095' }, body: first })).status, 202);
    const bodies = Array.from({ length: 8 }, () => randomBytes(256 * 1024));
    let refused = 0;
    const results = await Promise.all(
      bodies.map(async (bytes) => {
        // Each racer holds its second half until the refused ones have been answered (or 1 s passed).
        const hold = async () => {
          const deadline = Date.now() + 1000;
          while (refused < bodies.length - 1 && Date.now() < deadline) await sleep(10);
        };
        const res = await request(location, {
          method: 'PATCH',
          headers: { 'Content-Range': `4096-${4096 + bytes.length - 1}`, 'Content-Length': bytes.length },
          body: twoHalves(bytes, hold),
        });
        if (res.status === 416) refused++;
        return res;
      }),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [202, ...Array(7).fill(416)]);
    for (const r of results.filter((x) => x.status === 416)) assert.equal(r.headers.range, '0-4095', 'a refused PATCH reports the acknowledged offset');
    const winner = bodies[results.findIndex((r) => r.status === 202)]!;
    const whole = Buffer.concat([first, winner]);
    const put = await request(`${location}?digest=${digestOf(whole)}`, { method: 'PUT' });
    assert.equal(put.status, 201, put.body.toString());
    assert.ok((await request(`/v2/race/patch/blobs/${digestOf(whole)}`)).body.equals(whole), 'exactly the winner’s bytes after the first chunk');
    t.diagnostic(`8 racing PATCHes on one session: ${statuses.join(' ')}; the blob is the winner's bytes only`);
  });

  it('racing PUTs of different manifests to one tag leave the tag on one fully readable manifest', async (t) => {
    const repo = 'race/tag';
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(10_000);
    for (const b of [config, layer]) assert.equal((await request(`/v2/${repo}/blobs/uploads/?digest=${digestOf(b)}`, { method: 'POST', body: b })).status, 201);
    const manifests = Array.from({ length: 24 }, (_, i) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
          annotations: { racer: String(i) },
        }),
      ),
    );
    const meet = barrier(manifests.length);
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        manifests.map((m) => request(`/v2/${repo}/manifests/latest`, { method: 'PUT', headers: { 'Content-Type': MANIFEST, 'Content-Length': m.length }, body: twoHalves(m, round === 0 ? meet : async () => {}) })),
      );
      assert.deepEqual(results.map((r) => r.status), Array(manifests.length).fill(201));
      const tagged = await request(`/v2/${repo}/manifests/latest`);
      assert.equal(tagged.status, 200);
      const digest = String(tagged.headers['docker-content-digest']);
      assert.ok(manifests.some((m) => digestOf(m) === digest && m.equals(tagged.body)), 'the tag resolves to one of the pushed manifests, byte for byte');
      for (const m of manifests) assert.ok((await request(`/v2/${repo}/manifests/${digestOf(m)}`)).body.equals(m));
      assert.ok((await request(`/v2/${repo}/blobs/${digestOf(layer)}`)).body.equals(layer));
      if (round === 0) t.diagnostic(`24 racing tag PUTs: all 201; the tag resolves to racer ${JSON.parse(tagged.body.toString()).annotations.racer}`);
    }
    assert.deepEqual((await request(`/v2/${repo}/tags/list`)).json(), { name: repo, tags: ['latest'] });
    const report = await checkStores(registry.blobStore, registry.metadataStore);
    assert.deepEqual(report.problems, []);
  });
});

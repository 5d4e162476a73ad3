/**
 * Hostile input: at least FUZZ_REQUESTS (default 10,000) generated requests
 * (fuzz-requests.ts) over real HTTP to the server binary, whose storage is
 * inside a fresh sandbox directory that is also its working directory.
 * Asserted for every answer: no 5xx, no hang, every 4xx (but HEAD's) in the
 * spec's error envelope with a spec error code; upload sessions behave as
 * the model says; at the end the server is up with bounded memory, a session
 * hit by cut bodies kept its offset, and no file appeared outside storage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { listTree, rssOf } from '../../support/durability.js';
import { fetchRaw, startServer } from '../../support/server-process.js';
import { keepAlive, rawRequestArb, requestArb, send, sendRaw, type FuzzRequest, type FuzzResponse, type RawRequest, type Seed } from './fuzz-requests.js';
import { digestOf } from '../../src/oci/digest.js';

const TARGET = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const REQUEST_TIMEOUT_MS = 10_000;
const SPEC_CODES = new Set([
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID', 'MANIFEST_UNKNOWN',
  'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
]);

type Step =
  | { kind: 'patch'; startDelta: number; len: number; bodyDelta: number; range: boolean }
  | { kind: 'put'; digest: 'right' | 'wrong' | 'none' | 'bad'; len: number; range: boolean }
  | { kind: 'delete' }
  | { kind: 'get' };
interface Scenario {
  readonly repo: string;
  readonly steps: Step[];
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('patch' as const),
    startDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.integer({ min: -3, max: 3 })),
    len: fc.nat({ max: 400 }),
    bodyDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.integer({ min: -2, max: 2 })),
    range: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('put' as const), digest: fc.constantFrom('right', 'wrong', 'none', 'bad'), len: fc.nat({ max: 200 }), range: fc.boolean() }),
  fc.constant({ kind: 'delete' as const }),
  fc.constant({ kind: 'get' as const }),
);
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({ repo: fc.constantFrom('fuzz/up', 'fuzz/base'), steps: fc.array(stepArb, { minLength: 1, maxLength: 6 }) });

type Item = { http: FuzzRequest } | { raw: RawRequest } | { upload: Scenario };

test(`hostile input: ${TARGET} generated requests get no 5xx and spec error envelopes`, { timeout: 240_000 }, async (t) => {
  const sandbox = await mkdtemp(join(tmpdir(), 'ferro-fuzz-'));
  t.after(() => rm(sandbox, { recursive: true, force: true }));
  const storage = join(sandbox, 'storage');
  const before = await listTree(sandbox);
  const server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: storage, FERRO_OCI_LOG_LEVEL: 'info' }, cwd: sandbox });
  t.after(() => server.kill());
  t.after(() => keepAlive.destroy());
  const base = new URL(server.url);

  // Seed: an image in fuzz/base, and a session with 100 acknowledged bytes that cut bodies aim at.
  const push = async (bytes: Buffer) => {
    const res = await fetchRaw(`${server.url}/v2/fuzz/base/blobs/uploads/?digest=${digestOf(bytes)}`, { method: 'POST', body: bytes });
    assert.equal(res.status, 201);
    return { digest: digestOf(bytes), size: bytes.length };
  };
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layers = [await push(randomBytes(3000)), await push(randomBytes(1))];
  await push(config);
  const manifestBytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  }));
  assert.equal((await fetchRaw(`${server.url}/v2/fuzz/base/manifests/v1`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifestBytes })).status, 201);
  const seed: Seed = { repo: 'fuzz/base', blobs: layers, manifest: digestOf(manifestBytes), configDigest: digestOf(config), configSize: config.length };
  const cutSession = String((await fetchRaw(`${server.url}/v2/fuzz/base/blobs/uploads/`, { method: 'POST' })).headers.location);
  assert.equal((await fetchRaw(server.url + cutSession, { method: 'PATCH', body: randomBytes(100) })).status, 202);

  let requests = 0;
  const histogram = new Map<string, number>();
  let maxRss = (await rssOf(server.child.pid)) ?? 0;
  const startRss = maxRss;
  const sampler = setInterval(() => void rssOf(server.child.pid).then((r) => (maxRss = Math.max(maxRss, r ?? 0))), 200);
  t.after(() => clearInterval(sampler));

  /** Records an answer; returns what is wrong with it, if anything. */
  const judge = (what: string, method: string, res: FuzzResponse): string | undefined => {
    requests++;
    histogram.set(String(res.status), (histogram.get(String(res.status)) ?? 0) + 1);
    const fail = (why: string) => `${what} -> ${res.status}: ${why}; body ${JSON.stringify(res.body.toString('latin1').slice(0, 300))}`;
    if (res.status < 100 || res.status >= 500) return fail('a 5xx or no status line');
    if (method === 'HEAD') return res.body.length === 0 ? undefined : fail('HEAD answer with a body');
    if (res.status < 400) return undefined;
    let envelope: { errors?: Array<{ code?: unknown; message?: unknown }> };
    try {
      envelope = JSON.parse(res.body.toString('utf8')) as typeof envelope;
    } catch {
      return fail('4xx without a JSON body');
    }
    const errors = envelope.errors;
    if (!Array.isArray(errors) || errors.length === 0) return fail('no errors array');
    for (const e of errors) {
      if (typeof e.code !== 'string' || !SPEC_CODES.has(e.code)) return fail(`error code ${String(e.code)} is not a spec code`);
      if (typeof e.message !== 'string') return fail('error without a message');
    }
    return undefined;
  };

  const http = async (r: FuzzRequest): Promise<FuzzResponse> => {
    const what = `${r.method} ${r.path.slice(0, 200)} ${JSON.stringify(r.headers).slice(0, 200)} body ${r.body?.length ?? '-'}`;
    const res = await send(base, r, REQUEST_TIMEOUT_MS).catch((err: unknown) => {
      throw new Error(`${what}: ${String(err)}`);
    });
    const wrong = judge(what, r.method, res);
    if (wrong) throw new Error(wrong);
    return res;
  };

  /** One upload session driven through `steps`, each answer checked against the session model. */
  const upload = async (s: Scenario): Promise<void> => {
    const post = await http({ method: 'POST', path: `/v2/${s.repo}/blobs/uploads/`, headers: {} });
    assert.equal(post.status, 202);
    const location = String(post.headers.location);
    let content = Buffer.alloc(0);
    let open = true;
    for (const step of s.steps) {
      let expected: number;
      let res: FuzzResponse;
      if (step.kind === 'patch' || step.kind === 'put') {
        const start = Math.max(0, content.length + (step.kind === 'patch' ? step.startDelta : 0));
        const body = randomBytes(Math.max(0, step.len + (step.kind === 'patch' ? step.bodyDelta : 0)));
        const headers: Record<string, string> = step.range ? { 'Content-Range': `${start}-${start + step.len - 1}` } : {};
        const digest = { right: digestOf(Buffer.concat([content, body])), wrong: digestOf(Buffer.from('wrong')), none: undefined, bad: 'sha256:zz' }[step.kind === 'put' ? step.digest : 'none'];
        const query = step.kind === 'put' && digest ? `?digest=${digest}` : '';
        res = await http({ method: step.kind.toUpperCase(), path: location + query, headers, body });
        // The handler parses the digest, then Content-Range, then looks the session up.
        if (step.kind === 'put' && (step.digest === 'none' || step.digest === 'bad')) expected = 400;
        else if (step.range && step.len === 0) expected = 416; // an inverted range
        else if (!open) expected = 404;
        else if (step.range && start !== content.length) expected = 416;
        else if (step.range && body.length !== step.len) expected = 400;
        else if (step.kind === 'patch') expected = 202;
        else {
          expected = step.digest === 'right' ? 201 : 400; // a wrong digest also ends the session
          open = false;
        }
        if (res.status === 202) content = Buffer.concat([content, body]);
        if (res.status === 202 && res.headers.range !== `0-${Math.max(content.length - 1, 0)}`) throw new Error(`${location}: Range ${res.headers.range} after ${content.length} bytes`);
      } else {
        res = await http({ method: step.kind === 'get' ? 'GET' : 'DELETE', path: location, headers: {} });
        expected = open ? 204 : 404;
        if (step.kind === 'delete') open = false;
      }
      if (res.status !== expected) throw new Error(`upload model: ${step.kind} ${JSON.stringify(step)} on ${location} answered ${res.status}, expected ${expected}: ${res.body.toString().slice(0, 200)}`);
    }
    if (open) await http({ method: 'DELETE', path: location, headers: {} });
  };

  const run = async (item: Item): Promise<void> => {
    if ('http' in item) await http(item.http);
    else if ('upload' in item) await upload(item.upload);
    else {
      const raw = { ...item.raw, raw: Buffer.from(item.raw.raw.toString('latin1').replace('/v2/fuzz/base/blobs/uploads/SESSION', cutSession), 'latin1') };
      const res = await sendRaw(base, raw, REQUEST_TIMEOUT_MS).catch((err: unknown) => {
        // The server may close the socket on a cut body before reading it all.
        if (raw.hangUp) return undefined;
        throw new Error(`raw ${JSON.stringify(raw.raw.toString('latin1').slice(0, 120))}: ${String(err)}`);
      });
      if (res === undefined) {
        requests++;
        histogram.set('cut', (histogram.get('cut') ?? 0) + 1);
        return;
      }
      const wrong = judge(`raw ${JSON.stringify(raw.raw.toString('latin1').slice(0, 120))}`, raw.raw.toString('latin1').startsWith('HEAD') ? 'HEAD' : 'GET', res);
      if (wrong) throw new Error(wrong);
    }
  };

  const itemArb: fc.Arbitrary<Item> = fc.oneof(
    { arbitrary: requestArb(seed).map((http) => ({ http })), weight: 12 },
    { arbitrary: rawRequestArb(seed).map((raw) => ({ raw })), weight: 1 },
    { arbitrary: scenarioArb.map((upload) => ({ upload })), weight: 2 },
  );
  const property = fc.asyncProperty(fc.array(itemArb, { minLength: 8, maxLength: 8 }), async (batch) => {
    const queue = [...batch];
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let item = queue.shift(); item; item = queue.shift()) await run(item);
    }));
  });

  const started = performance.now();
  while (requests < TARGET) {
    const run = await fc.check(property, { numRuns: 50 });
    // Counterexamples hold megabytes of body: report the (shrunk) failing request's description only.
    if (run.failed) assert.fail(`seed ${run.seed}, path ${run.counterexamplePath}: ${String(run.errorInstance).slice(0, 3000)}`);
  }
  const elapsed = performance.now() - started;

  // Still up, bounded memory, the cut-at session kept its offset, nothing outside storage.
  assert.equal((await fetchRaw(`${server.url}/ready`)).status, 200);
  const status = await fetchRaw(server.url + cutSession);
  assert.equal(status.status, 204);
  assert.equal(status.headers.range, '0-99', 'bodies cut short were not appended');
  maxRss = Math.max(maxRss, (await rssOf(server.child.pid)) ?? 0);
  await server.stop();
  const after = await listTree(sandbox);
  assert.deepEqual(after.filter((p) => !p.startsWith('storage/') && p !== 'storage/'), before);
  const allowed = /^(storage\/)?(metadata\.db(-wal|-shm)?|blobs\/((blobs|uploads|tmp)\/)?|blobs\/blobs\/sha(256|512)\/([0-9a-f]{2}\/([0-9a-f]{64}|[0-9a-f]{128})?)?|blobs\/uploads\/[0-9a-f-]{36})?$/;
  assert.deepEqual(after.filter((p) => !allowed.test(p.replace(/^storage\//, ''))), [], 'unexpected files in the storage directory');

  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  const sorted = [...histogram].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ');
  t.diagnostic(`requests: ${requests} in ${(elapsed / 1000).toFixed(1)} s; 5xx: ${[...histogram].filter(([k]) => k.startsWith('5')).reduce((n, [, v]) => n + v, 0)}`);
  t.diagnostic(`status histogram: ${sorted}`);
  t.diagnostic(`server RSS: ${mib(startRss)} at start, max ${mib(maxRss)}`);
  assert.ok(maxRss < 512 * 1024 * 1024, `server RSS reached ${mib(maxRss)}`);
});

/**
 * Generators of hostile requests for the fuzz test (fast-check), and the two
 * ways of sending them: node:http with a raw path (nothing normalized), or a
 * raw socket for what node:http refuses to send (NUL, raw UTF-8, bad methods,
 * a body cut short).
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { digestOf } from '../../src/oci/digest.js';

export interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

/** Bytes for a raw socket: a whole request, or one whose body is cut before Content-Length and the socket closed. */
export interface RawRequest {
  readonly raw: Buffer;
  /** No response is expected: the socket is closed after sending. */
  readonly hangUp?: boolean;
}

export interface Seed {
  readonly repo: string;
  readonly blobs: readonly { digest: string; size: number }[];
  readonly manifest: string;
  readonly configDigest: string;
  readonly configSize: number;
}

export interface FuzzResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

// ---- path parts ---------------------------------------------------------------

const SEGMENTS = [
  '..', '.', '%2e%2e', '%2E', '.%2e', '%2F', '%2f..%2f', '\\', '..\\..', '%5c', '%00', '%C3%A9', '\xe9', '', '%', '%zz', '%ff',
  'UPPER', 'a', '_catalog', 'blobs', 'manifests', 'uploads', 'tags', 'list', 'referrers', 'v2', '~', 'a..b', '-a', 'a-', 'a__b',
  'metadata.db', '%2e%2e%2fmetadata.db', '%u002e', '%252e%252e', ';', 'a;b=c', '*', '&', '=', '#x', '?',
];
const segment = fc.oneof({ arbitrary: fc.constantFrom(...SEGMENTS), weight: 3 }, fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.string({ unit: 'binary', maxLength: 6 }).map(encodeURIComponent));

export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('fuzz/base', 'fuzz/new', 'a', 'a/b/c'), weight: 3 },
  { arbitrary: fc.array(segment, { minLength: 0, maxLength: 5 }).map((s) => s.join('/')), weight: 4 },
  fc.constantFrom('a'.repeat(256), 'a'.repeat(300), 'a/'.repeat(150) + 'a', `${'ab.'.repeat(120)}c`, 'fuzz//base', '/fuzz/base', 'fuzz/base/'),
);

function digestArb(seed: Seed): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(seed.manifest, seed.configDigest, ...seed.blobs.map((b) => b.digest)),
    fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`),
    fc.stringMatching(/^[0-9a-f]{128}$/).map((h) => `sha512:${h}`),
    fc.constantFrom(
      'sha256:', 'sha256', ':', `sha256:${'A'.repeat(64)}`, `sha256:${'0'.repeat(63)}`, `sha256:${'0'.repeat(65)}`, `md5:${'0'.repeat(32)}`,
      `sha384:${'0'.repeat(96)}`, `SHA256:${'0'.repeat(64)}`, `sha256:${'g'.repeat(64)}`, `sha256%3a${'0'.repeat(64)}`, `sha256:..%2f..%2f${'0'.repeat(58)}`,
      `sha256+b64:${'A'.repeat(43)}=`, `${'x'.repeat(400)}:${'0'.repeat(64)}`,
    ),
  );
}

function referenceArb(seed: Seed): fc.Arbitrary<string> {
  return fc.oneof(
    digestArb(seed),
    fc.constantFrom('v1', 'latest', '..', '.', '%2e%2e', 'a'.repeat(128), 'a'.repeat(129), '-x', '.x', 'a%2Fb', 'a\\b', '%00', '\xe9', 'a:b', 'tag%3Av'),
    fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,20}$/),
  );
}

const queryValue = fc.oneof(
  fc.constantFrom('', '-1', '0', '1', '10000', '10001', '1e3', '0x10', '99999999999999999999', '1.5', 'abc', '%00', '%FF', '..', 'a'.repeat(2000)),
  fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent),
);
const queryArb = fc
  .array(fc.tuple(fc.constantFrom('n', 'last', 'digest', 'mount', 'from', 'artifactType', 'digest-algorithm', 'n[]', '__proto__', 'constructor'), queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

export function pathArb(seed: Seed): fc.Arbitrary<string> {
  const name = nameArb;
  const ref = referenceArb(seed);
  return fc.oneof(
    fc.tuple(name, ref, queryArb).map(([n, r, q]) => `/v2/${n}/manifests/${r}${q}`),
    fc.tuple(name, digestArb(seed), queryArb).map(([n, d, q]) => `/v2/${n}/blobs/${d}${q}`),
    fc.tuple(name, queryArb).map(([n, q]) => `/v2/${n}/tags/list${q}`),
    fc.tuple(name, digestArb(seed), queryArb).map(([n, d, q]) => `/v2/${n}/referrers/${d}${q}`),
    fc.tuple(name, queryArb).map(([n, q]) => `/v2/${n}/blobs/uploads/${q}`),
    fc.tuple(name, fc.constantFrom(randomUUID(), '..', '%2e%2e%2fmetadata.db', '..%2f..%2fmetadata.db', 'a'.repeat(300), '%00', 'x', ''), queryArb).map(([n, id, q]) => `/v2/${n}/blobs/uploads/${id}${q}`),
    queryArb.map((q) => `/v2/_catalog${q}`),
    fc.constantFrom('/', '/v2', '/v2/', '//v2//', '/v2/../../etc/passwd', '/v2/%2e%2e/%2e%2e/metadata.db', '/V2/', '/v2/_catalog/', '/live', '/ready', '/v3/', '/v2/;', '/v2/?', '/%2e%2e/'),
    fc.array(segment, { maxLength: 8 }).map((s) => `/v2/${s.join('/')}`),
  );
}

// ---- bodies -------------------------------------------------------------------

function manifestBodyArb(seed: Seed): fc.Arbitrary<{ body: Buffer; type: string }> {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: seed.configDigest, size: seed.configSize };
  const layers = seed.blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.size }));
  const valid = { schemaVersion: 2, mediaType: MANIFEST, config, layers };
  const json = (doc: unknown, type = MANIFEST) => ({ body: Buffer.from(JSON.stringify(doc)), type });
  const deep = (n: number, open: string, close: string) => Buffer.from(`{"schemaVersion":2,"mediaType":"${MANIFEST}","config":${open.repeat(n)}${close.repeat(n)}}`);
  return fc.oneof(
    fc.nat({ max: 1000 }).map((n) => json({ ...valid, annotations: { n: String(n) } })),
    fc.nat({ max: 300 }).map((cut) => ({ body: Buffer.from(JSON.stringify(valid)).subarray(0, cut), type: MANIFEST })),
    fc.constantFrom(
      { body: deep(10_000, '[', ']'), type: MANIFEST },
      { body: deep(10_000, '{"a":', '}'), type: MANIFEST },
      { body: Buffer.from('['.repeat(10_000)), type: MANIFEST },
      { body: Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), type: MANIFEST },
    ),
    fc.constant(json({ ...valid, config: { ...config, size: config.size + 1 } })),
    fc.constant(json({ ...valid, layers: [{ ...layers[0], size: 0 }] })),
    fc.constant(json(valid, INDEX)),
    fc.constant(json({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: seed.manifest, size: 1 }] }, MANIFEST)),
    fc.constant(json({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: INDEX, digest: digestOf(Buffer.from('self')), size: 10 }] }, INDEX)),
    fc.constant(json({ ...valid, subject: { mediaType: MANIFEST, digest: seed.manifest, size: 1 } })),
    fc.constantFrom(1, 3, '2', null, 2.5, -2).map((v) => json({ ...valid, schemaVersion: v })),
    fc.constantFrom(1e300, -1, 1.5, '10', null, 2 ** 53).map((size) => json({ ...valid, config: { ...config, size } })),
    fc.constantFrom('layers', 'config', 'mediaType').map((k) => json({ ...valid, [k]: 'oops' })),
    fc.constant(json({ ...valid, annotations: { a: 1 } })),
    fc.constant(json({ __proto__: { schemaVersion: 2 }, constructor: { prototype: {} } })),
    fc.uint8Array({ maxLength: 200 }).map((b) => ({ body: Buffer.from(b), type: MANIFEST })),
    fc.string({ unit: 'binary', maxLength: 100 }).map((s) => ({ body: Buffer.from(s), type: MANIFEST })),
  );
}

const contentTypeArb = fc.constantFrom(
  MANIFEST, INDEX, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/octet-stream', 'text/plain', '', ';', `${MANIFEST}; charset=utf-8`, 'application/json', 'x'.repeat(500), 'a/b/c',
);

const contentRangeArb = fc.oneof(
  fc.tuple(fc.nat({ max: 300 }), fc.nat({ max: 300 })).map(([a, b]) => `${a}-${b}`),
  fc.constantFrom('', '-', '5-', '-5', 'bytes 0-9/10', 'bytes=0-9', '0-99999999999999999', '99999999999999999999-1', 'a-b', '0-0,1-2', '1e3-2e3'),
);

const rangeArb = fc.constantFrom(
  'bytes=0-0', 'bytes=5-2', 'bytes=-0', 'bytes=-1', 'bytes=0-', 'bytes=99999999999999999999-', 'bytes=0-99999999999999999999', 'bytes=1-2,3-4',
  'items=0-1', 'bytes=', 'bytes=-', 'bytes=abc', `bytes=${'9'.repeat(400)}-`, 'bytes=9007199254740993-9007199254740994',
);

export function requestArb(seed: Seed): fc.Arbitrary<FuzzRequest> {
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'FOO');
  const headers = fc.record(
    {
      'Content-Type': contentTypeArb,
      'Content-Range': contentRangeArb,
      Range: rangeArb,
      Accept: fc.constantFrom('*/*', MANIFEST, 'x'.repeat(1000), ''),
      'If-None-Match': fc.constantFrom('*', `"${seed.manifest}"`, '""'),
      'X-Request-Id': fc.constantFrom('a'.repeat(300), 'id\xff', '..'),
    },
    { requiredKeys: [] },
  );
  const body = fc.option(fc.oneof(fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)), manifestBodyArb(seed).map((m) => m.body)), { nil: undefined });
  const generic = fc.record({ method, path: pathArb(seed), headers, body }).map((r) => (r.body === undefined ? { method: r.method, path: r.path, headers: r.headers } : r));
  const repo = fc.oneof({ arbitrary: fc.constant(seed.repo), weight: 2 }, nameArb);
  const manifestPut = fc.tuple(repo, referenceArb(seed), manifestBodyArb(seed), fc.option(contentTypeArb, { nil: undefined })).map(([n, ref, m, type]) => ({
    method: 'PUT',
    path: `/v2/${n}/manifests/${ref}`,
    headers: { 'Content-Type': type ?? m.type },
    body: m.body,
  }));
  const rangeGet = fc.tuple(fc.constantFrom(...seed.blobs.map((b) => b.digest)), rangeArb, fc.constantFrom('GET', 'HEAD')).map(([d, range, m]) => ({
    method: m,
    path: `/v2/${seed.repo}/blobs/${d}`,
    headers: { Range: range },
  }));
  return fc.oneof({ arbitrary: generic, weight: 6 }, { arbitrary: manifestPut, weight: 3 }, { arbitrary: rangeGet, weight: 1 }).map(bodyIfParseable);
}

/**
 * A request line the HTTP parser rejects (method FOO, raw bytes over 0x7e in
 * the path) is answered 400 and the connection closed at once, which a client
 * still sending a body sees as a reset: such requests go without a body.
 */
function bodyIfParseable(r: FuzzRequest): FuzzRequest {
  return r.body !== undefined && (r.method === 'FOO' || /[^\x21-\x7e]/.test(r.path)) ? { method: r.method, path: r.path, headers: r.headers } : r;
}

/** Requests node:http will not send: raw bytes in the request line and headers, bad methods and framing, cut bodies. */
export function rawRequestArb(seed: Seed): fc.Arbitrary<RawRequest> {
  const target = fc.oneof(
    fc.constantFrom('/v2/fuzz\x00/tags/list', '/v2/\xc3\xa9/tags/list', '/v2/é/tags/list', '/v2/a b/tags/list', '/v2/\t/', 'http://x/v2/', '*', '/v2/\x7f', '../v2/'),
    pathArb(seed),
  );
  const line = fc.tuple(fc.constantFrom('GET', 'PUT', 'PATCH', 'BREW', 'G\x00T', ''), target, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1\x00', ''));
  const extra = fc.constantFrom('', 'X: \x00\r\n', 'Bad Header: x\r\n', 'Content-Length: -1\r\n', 'Content-Length: 1\r\nContent-Length: 2\r\n', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', `X-Long: ${'a'.repeat(20_000)}\r\n`);
  const whole = fc.tuple(line, extra).map(([[m, t, v], x]) => ({ raw: Buffer.from(`${m} ${t} ${v}\r\nHost: fuzz\r\nConnection: close\r\n${x}\r\n`, 'latin1') }));
  const cut = fc.tuple(fc.constantFrom('PATCH', 'PUT', 'POST'), fc.nat({ max: 999 })).map(([m, sent]) => {
    const path = m === 'PUT' ? `/v2/${seed.repo}/manifests/cut` : m === 'POST' ? `/v2/${seed.repo}/blobs/uploads/?digest=${digestOf(Buffer.from('x'))}` : '/v2/fuzz/base/blobs/uploads/SESSION';
    return { raw: Buffer.concat([Buffer.from(`${m} ${path} HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 1000\r\n\r\n`), Buffer.alloc(sent, 0x61)]), hangUp: true };
  });
  return fc.oneof({ arbitrary: whole, weight: 3 }, cut);
}

// ---- sending ------------------------------------------------------------------

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

/** Sends over the keep-alive agent; rejects on socket errors and after `timeoutMs`. */
export function send(base: URL, r: FuzzRequest, timeoutMs: number): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body) headers['Content-Length'] = r.body.length;
    const req = httpRequest({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent: keepAlive }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Sends raw bytes on a fresh socket; resolves with the parsed response (undefined for a hang-up request). */
export function sendRaw(base: URL, r: RawRequest, timeoutMs: number): Promise<FuzzResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    const parts: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    socket.on('error', reject);
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('close', () => {
      if (r.hangUp) return resolve(undefined);
      const data = Buffer.concat(parts);
      const end = data.indexOf('\r\n\r\n');
      const head = data.subarray(0, end === -1 ? data.length : end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const headers: IncomingHttpHeaders = {};
      for (const h of head.slice(1)) {
        const colon = h.indexOf(':');
        if (colon > 0) headers[h.slice(0, colon).toLowerCase()] = h.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      const body = end === -1 ? Buffer.alloc(0) : data.subarray(end + 4, Number.isFinite(length) ? end + 4 + length : undefined);
      resolve({ status, headers, body });
    });
    socket.write(r.raw, () => {
      if (r.hangUp) socket.destroy();
    });
  });
}

/**
 * A blob GET over node:http that measures what a puller sees: time to the
 * response headers, time to the first body byte, total time, and the sha256
 * of the bytes (hashed while streaming, never held whole).
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface TimedPull {
  readonly status: number;
  readonly bytes: number;
  readonly digest: string;
  /** Milliseconds from sending the request to the first body byte. */
  readonly firstByteMs: number;
  /** Milliseconds from sending the request to the end of the body. */
  readonly totalMs: number;
}

export function timedPull(host: string, port: number, path: string): Promise<TimedPull> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = NaN;
    const req = http.request({ host, port, method: 'GET', path, agent: false }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        if (bytes === 0) first = performance.now() - t0;
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, digest: `sha256:${hash.digest('hex')}`, firstByteMs: first, totalMs: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Pushes `size` pseudo-random bytes as one blob (POST, then one streamed PUT ?digest=) and returns its digest; the bytes are generated twice (once to hash, once to send), never held whole. */
export async function pushRandomBlob(host: string, port: number, repo: string, size: number, seed: number): Promise<string> {
  const hash = createHash('sha256');
  for (const c of pieces(size, seed)) hash.update(c);
  const digest = `sha256:${hash.digest('hex')}`;
  const start = await request(host, port, 'POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': 0 });
  const location = new URL(start.headers.location ?? '', `http://${host}:${port}`);
  location.searchParams.set('digest', digest);
  const put = await request(host, port, 'PUT', location.pathname + location.search, { 'content-length': size, 'content-type': 'application/octet-stream' }, pieces(size, seed));
  if (put.statusCode !== 201) throw new Error(`push of ${size} bytes to ${repo} answered ${put.statusCode}`);
  return digest;
}

/** The blob of `seed` in 1 MiB pieces: xorshift bytes, cheap and distinct per seed (the same buffer is reused). */
function* pieces(size: number, seed: number): Generator<Buffer> {
  const piece = Buffer.alloc(1 << 20);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let off = 0; off < size; off += piece.length) {
    for (let o = 0; o < piece.length; o += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      piece.writeUInt32LE(x >>> 0, o);
    }
    yield piece.subarray(0, Math.min(piece.length, size - off));
  }
}

function request(host: string, port: number, method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Iterator<Buffer>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
      res.on('error', reject);
    });
    req.on('error', reject);
    const pump = (): void => {
      for (let next = body?.next(); next && !next.done; next = body!.next()) {
        if (!req.write(Buffer.from(next.value))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/**
 * The floor for the monolithic push: a minimal node:http server that only
 * hashes the body, writes it to a temporary file, fsyncs it and renames it
 * into place. No registry logic, no metadata, no framework. It speaks just
 * enough of the API for the benchmark's monolithic push:
 *
 *   GET  /v2/                                  200 {}
 *   POST /v2/<name>/blobs/uploads/             202, Location: …/uploads/<id>
 *   PUT  /v2/<name>/blobs/uploads/<id>?digest= 201 (400 on a digest mismatch)
 *
 * Env: BARE_LISTEN=host:port, BARE_DIR=<dir>.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const listen = process.env.BARE_LISTEN ?? '127.0.0.1:0';
const dir = process.env.BARE_DIR ?? '/tmp/bare-server';
const sep = listen.lastIndexOf(':');
const host = listen.slice(0, sep);
const port = Number(listen.slice(sep + 1));
mkdirSync(join(dir, 'tmp'), { recursive: true });
mkdirSync(join(dir, 'blobs'), { recursive: true });

const UPLOADS = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/;

function reply(res: http.ServerResponse, status: number, headers: Record<string, string> = {}, body = ''): void {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function putBlob(req: http.IncomingMessage, res: http.ServerResponse, name: string, id: string, expected: string): Promise<void> {
  const tmp = join(dir, 'tmp', id);
  const hash = createHash('sha256');
  try {
    await pipeline(
      req,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flush: true }), // flush: fsync before close
    );
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== expected) {
    await unlink(tmp).catch(() => undefined);
    reply(res, 400, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: `got ${digest}` }] }));
    return;
  }
  await rename(tmp, join(dir, 'blobs', digest.slice('sha256:'.length)));
  reply(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://bare');
  const fail = (err: unknown) => {
    if (!res.headersSent) reply(res, 500, {}, String(err));
    else res.destroy();
  };
  if (url.pathname === '/v2/' && (req.method === 'GET' || req.method === 'HEAD')) {
    req.resume();
    reply(res, 200, { 'Content-Type': 'application/json' }, '{}');
    return;
  }
  const m = UPLOADS.exec(url.pathname);
  if (m && req.method === 'POST' && m[2] === '') {
    req.resume();
    const id = randomUUID();
    reply(res, 202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, Range: '0-0', 'Docker-Upload-UUID': id });
    return;
  }
  const digest = url.searchParams.get('digest');
  if (m && req.method === 'PUT' && m[2] !== '' && digest) {
    putBlob(req, res, m[1]!, m[2]!, digest).catch(fail);
    return;
  }
  req.resume();
  reply(res, 404, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"UNSUPPORTED","message":"bare server"}]}');
});
server.keepAliveTimeout = 60_000;
server.listen(port, host);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

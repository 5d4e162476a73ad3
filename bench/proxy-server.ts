/**
 * The round-robin proxy in front of the replicas of `--targets replicas`,
 * run as its own process (so that its CPU counts neither as the load
 * generator's nor as a replica's). The same forwarding as the proxy of
 * test/replicas/replicas.test.ts: each request goes to the next replica,
 * bodies stream both ways, nothing but the Host header is rewritten; a
 * request without a body that fails before an answer is retried on the next
 * replica, anything else answers 502. Unlike the test's proxy it keeps
 * connections to the replicas alive (as nginx' upstream keepalive would) and
 * never marks a replica dead: the benchmark kills none.
 *
 * Env: PROXY_LISTEN=host:port, PROXY_TARGETS=host:port,host:port,…
 * Prints one JSON line {"msg":"listening","port":N} once it listens.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const listen = process.env.PROXY_LISTEN ?? '127.0.0.1:0';
const sep = listen.lastIndexOf(':');
const targets = (process.env.PROXY_TARGETS ?? '')
  .split(',')
  .filter(Boolean)
  .map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)), agent: new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'fifo' }) };
  });
if (targets.length === 0) throw new Error('PROXY_TARGETS is empty');

/** True when a request carries a body (Content-Length > 0 or chunked). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

let next = 0;
const stats = { requests: 0, retried: 0, failed: 0 };

function forward(req: IncomingMessage, res: ServerResponse, attempt: number): void {
  const replica = next;
  next = (next + 1) % targets.length;
  const target = targets[replica]!;
  let answered = false;
  const upstream = http.request({
    host: target.host,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: `${target.host}:${target.port}` },
    agent: target.agent,
  });
  if (hasBody(req)) req.pipe(upstream);
  else upstream.end();
  upstream.on('response', (up) => {
    answered = true;
    res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
    up.pipe(res);
    up.on('error', () => res.destroy());
    up.on('aborted', () => res.destroy());
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (answered) {
      res.destroy();
      return;
    }
    req.unpipe(upstream);
    // A keep-alive socket the replica closed meanwhile, or a replica gone: retry what can be retried.
    if (!hasBody(req) && attempt < targets.length + 1) {
      stats.retried++;
      forward(req, res, attempt + 1);
      return;
    }
    stats.failed++;
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`replica ${replica}: ${err.message}`);
    else res.destroy();
    req.resume();
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
}

const server = http.createServer((req, res) => {
  stats.requests++;
  forward(req, res, 1);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(listen.slice(sep + 1)), listen.slice(0, sep), () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});
process.once('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'stopping', ...stats })}\n`);
  server.closeAllConnections();
  server.close(() => process.exit(0));
});

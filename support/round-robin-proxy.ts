/**
 * A round-robin HTTP proxy in front of registry replicas, for the replica
 * test and the benchmark's replica target. Each request goes to the next
 * replica; bodies stream both ways and nothing but the Host header is
 * rewritten. A connection error before an answer retries the request on the
 * next replica when it has no body, or its body was not sent yet (the
 * connection was refused); otherwise the client gets 502.
 *
 * Options: `keepAlive` keeps connections to the replicas open (as nginx'
 * upstream keepalive does; a stale pooled connection costs one more retry);
 * `markDead` skips a replica for good after a connection error (the test
 * kills replicas, the benchmark does not); `log` records every answer.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

export interface ProxyLogEntry {
  readonly replica: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The Location of the answer (upload URLs). */
  readonly location?: string;
}

export interface RoundRobinProxyOptions {
  readonly keepAlive?: boolean;
  readonly markDead?: boolean;
  readonly log?: boolean;
  /** Where to listen; default 127.0.0.1 and a free port. */
  readonly host?: string;
  readonly port?: number;
}

export interface RoundRobinProxy {
  readonly url: string;
  readonly port: number;
  /** Every answer, in order (only with `log`). */
  readonly log: ProxyLogEntry[];
  /** Replicas marked dead (only with `markDead`). */
  readonly dead: Set<number>;
  readonly stats: { requests: number; retried: number; failed: number };
  close(): Promise<void>;
}

/** True when a request carries a body (Content-Length > 0 or chunked). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

export async function startRoundRobinProxy(targets: readonly ProxyTarget[], options: RoundRobinProxyOptions = {}): Promise<RoundRobinProxy> {
  if (targets.length === 0) throw new Error('a round-robin proxy needs at least one target');
  const keepAlive = options.keepAlive === true;
  const agents = targets.map(() => (keepAlive ? new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'fifo' }) : false));
  const maxAttempts = keepAlive ? targets.length + 1 : targets.length;
  const log: ProxyLogEntry[] = [];
  const dead = new Set<number>();
  const stats = { requests: 0, retried: 0, failed: 0 };
  let next = 0;

  const pick = (): number | undefined => {
    for (let i = 0; i < targets.length; i++) {
      const candidate = (next + i) % targets.length;
      if (!dead.has(candidate)) {
        next = (candidate + 1) % targets.length;
        return candidate;
      }
    }
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, attempt: number): void => {
    const replica = pick();
    if (replica === undefined) {
      stats.failed++;
      res.writeHead(502, { 'content-type': 'text/plain' }).end('no live replica');
      return;
    }
    const target = targets[replica]!;
    let bodySent = false;
    let answered = false;
    const upstream = httpRequest({
      host: target.host,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: `${target.host}:${target.port}` },
      agent: agents[replica]!,
    });
    upstream.on('socket', (socket) => {
      const send = (): void => {
        if (!hasBody(req)) {
          upstream.end();
          return;
        }
        bodySent = true;
        req.pipe(upstream);
      };
      if (socket.connecting) socket.once('connect', send);
      else send();
    });
    upstream.on('response', (up) => {
      answered = true;
      if (options.log === true) {
        const location = up.headers.location;
        log.push({ replica, method: req.method ?? 'GET', path: req.url ?? '', status: up.statusCode ?? 0, ...(location ? { location } : {}) });
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
      up.pipe(res);
      up.on('error', () => res.destroy());
      up.on('aborted', () => res.destroy());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) {
        res.destroy(); // the answer was cut short: the client sees a broken response
        return;
      }
      if (options.markDead === true) dead.add(replica);
      req.unpipe(upstream);
      if ((!hasBody(req) || (!bodySent && err.code === 'ECONNREFUSED')) && attempt < maxAttempts) {
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
  };

  const server = createServer((req, res) => {
    stats.requests++;
    forward(req, res, 1);
  });
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    log,
    dead,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        for (const agent of agents) if (agent !== false) agent.destroy();
      }),
  };
}

/**
 * A proxy in front of an upstream registry for the mirror tests: it counts
 * the requests it forwards (method and path, query left out) and can stand
 * in for an upstream in trouble. Modes (settable at any time):
 *   pass     forward (bodies of answers paced by `chunkDelayMs` per 64 KiB when set)
 *   refuse   close every new connection at once (connection reset)
 *   status   answer `status` (e.g. 503, 429 with Retry-After) without forwarding
 *   cut      forward, but cut blob answers (GET …/blobs/…) after `cutAfterBytes`
 *   redirect answer blob GETs with 307 to the same path at the upstream itself
 *            (another origin: what a registry that redirects to blob storage does)
 * Nothing but the Host header is rewritten.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ProxyMode = { kind: 'pass' } | { kind: 'refuse' } | { kind: 'status'; status: number; retryAfter?: number } | { kind: 'cut'; cutAfterBytes: number } | { kind: 'redirect' };

export interface UpstreamProxy {
  readonly url: string;
  /** `host:port` of the proxy. */
  readonly host: string;
  mode: ProxyMode;
  /** Pacing of forwarded answer bodies: this many ms before each 64 KiB (0: none). */
  chunkDelayMs: number;
  /** Every request seen, as `METHOD /path` (query stripped), in arrival order. */
  readonly requests: string[];
  /** The Authorization header of each request (undefined when none), in the same order. */
  readonly authorizations: Array<string | undefined>;
  /** How many requests of `method` had exactly this path. */
  count(method: string, path: string): number;
  close(): Promise<void>;
}

export async function startUpstreamProxy(target: string): Promise<UpstreamProxy> {
  const upstream = new URL(target);
  const requests: string[] = [];
  const authorizations: Array<string | undefined> = [];
  const sockets = new Set<Socket>();
  const state: { mode: ProxyMode; chunkDelayMs: number } = { mode: { kind: 'pass' }, chunkDelayMs: 0 };

  const forward = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    const mode = state.mode;
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } });
    out.on('response', async (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      const isBlob = req.method === 'GET' && /\/blobs\/sha/.test(path);
      let sent = 0;
      try {
        for await (const chunk of up as AsyncIterable<Buffer>) {
          for (let i = 0; i < chunk.length; i += 65_536) {
            const part = chunk.subarray(i, i + 65_536);
            if (state.chunkDelayMs > 0) await sleep(state.chunkDelayMs);
            if (mode.kind === 'cut' && isBlob && sent + part.length > mode.cutAfterBytes) {
              res.write(part.subarray(0, Math.max(0, mode.cutAfterBytes - sent)));
              res.destroy();
              up.destroy();
              return;
            }
            sent += part.length;
            if (!res.write(part)) await new Promise((r) => res.once('drain', r));
          }
        }
        res.end();
      } catch {
        res.destroy();
      }
    });
    out.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    requests.push(`${req.method} ${(req.url ?? '/').split('?', 1)[0]}`);
    authorizations.push(req.headers.authorization);
    const mode = state.mode;
    if (mode.kind === 'status') {
      req.resume();
      res.writeHead(mode.status, { 'content-type': 'text/plain', ...(mode.retryAfter !== undefined ? { 'retry-after': String(mode.retryAfter) } : {}) }).end('upstream trouble');
      return;
    }
    if (mode.kind === 'redirect' && req.method === 'GET' && /\/blobs\/sha/.test(req.url ?? '')) {
      req.resume();
      res.writeHead(307, { location: new URL(req.url ?? '/', upstream).href }).end();
      return;
    }
    forward(req, res);
  });
  server.on('connection', (socket) => {
    if (state.mode.kind === 'refuse') {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: ProxyMode) {
      state.mode = m;
      // Pooled connections from before would keep working in `refuse`: drop them.
      if (m.kind === 'refuse') for (const s of sockets) s.destroy();
    },
    get chunkDelayMs() {
      return state.chunkDelayMs;
    },
    set chunkDelayMs(ms: number) {
      state.chunkDelayMs = ms;
    },
    requests,
    authorizations,
    count: (method, path) => requests.filter((r) => r === `${method} ${path}`).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * One HTTP exchange with an upstream over node:http / node:https, with a
 * keep-alive agent per upstream. The body is the Node stream of the
 * response as the socket delivers it: no web-stream layer between the
 * upstream socket and the mirror's two readers (client and store).
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface UpstreamResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** The body; it errors when the connection is cut or the request's signal aborts. */
  readonly body: Readable;
  /** Drops the body (the connection is closed, never reused half-read). */
  cancel(): void;
}

export interface Exchange {
  readonly url: string;
  readonly method: 'GET' | 'HEAD';
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/**
 * Wraps every exchange (tracing): calls `send` once, with `ex` or a copy
 * with headers added, and passes its outcome back unchanged.
 */
export type AroundExchange = (ex: Exchange, send: (ex: Exchange) => Promise<UpstreamResponse>) => Promise<UpstreamResponse>;

export class UpstreamTransport {
  private readonly agent: http.Agent;

  constructor(
    secure: boolean,
    private readonly around?: AroundExchange,
  ) {
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /** Resolves once the response headers arrived (any status); rejects on connection failure or abort. */
  send(ex: Exchange): Promise<UpstreamResponse> {
    return this.around ? this.around(ex, (e) => this.exchange(e)) : this.exchange(ex);
  }

  private exchange(ex: Exchange): Promise<UpstreamResponse> {
    const url = new URL(ex.url);
    const module = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = module.request(url, { method: ex.method, headers: ex.headers, agent: this.agent, signal: ex.signal }, (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', () => undefined); // its reader (stream.finished, the iterator) sees the error; none is no crash
        if (ex.method === 'HEAD') res.resume(); // no body: the socket goes back to the agent
        resolve({
          status,
          ok: status >= 200 && status < 300,
          headers: { get: (name) => header(res.headers[name.toLowerCase()]) },
          body: res,
          cancel: () => void res.destroy(),
        });
      });
      req.on('error', reject);
      req.end();
    });
  }
}

function header(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

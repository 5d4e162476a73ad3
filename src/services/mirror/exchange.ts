/**
 * One HTTP exchange with an upstream over undici's `request()` (the HTTP/1.1
 * client behind Node's fetch, without the web-stream layer), one keep-alive
 * dispatcher per upstream. The body is undici's Node Readable as the socket
 * delivers it: nothing between the upstream socket and the mirror's two
 * readers (client and store). Redirects are followed (up to 5): a registry
 * may answer a blob GET with 307 to its blob storage; undici drops the
 * Authorization header when the redirect leaves the upstream's origin.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** undici is loaded when the first upstream is configured (about 0.1 s), not by every server's start. */
let undici: Promise<typeof import('undici')> | undefined;

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
  private readonly client: Promise<{ request: (typeof import('undici'))['request']; dispatcher: Dispatcher }>;

  constructor(private readonly around?: AroundExchange) {
    undici ??= import('undici');
    // No timeouts of undici's own: the caller's signal bounds the headers, the flight's idle timer the body.
    this.client = undici.then(({ Agent, interceptors, request }) => ({
      request,
      dispatcher: new Agent({ headersTimeout: 0, bodyTimeout: 0 }).compose(interceptors.redirect({ maxRedirections: 5 })),
    }));
    this.client.catch(() => undefined); // a failed load is each exchange's rejection, never an unhandled one
  }

  /** Resolves once the response headers arrived (any status); rejects on connection failure or abort. */
  send(ex: Exchange): Promise<UpstreamResponse> {
    return this.around ? this.around(ex, (e) => this.exchange(e)) : this.exchange(ex);
  }

  private async exchange(ex: Exchange): Promise<UpstreamResponse> {
    const { request, dispatcher } = await this.client;
    const res = await request(ex.url, { method: ex.method, headers: ex.headers, signal: ex.signal, dispatcher });
    const status = res.statusCode;
    const body = res.body as unknown as Readable;
    body.on('error', () => undefined); // its reader (stream.finished, the iterator) sees the error; none is no crash
    if (ex.method === 'HEAD') body.resume(); // no body: the connection goes back to the dispatcher
    return {
      status,
      ok: status >= 200 && status < 300,
      headers: { get: (name) => header(res.headers[name.toLowerCase()]) },
      body,
      cancel: () => void body.destroy(),
    };
  }
}

function header(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

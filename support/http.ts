/**
 * The raw HTTP client of the tests (fetchRaw: node:http, one connection per
 * request, the path sent as given) and the one check of an OCI error
 * envelope (expectError), for fetchRaw's and fetch's responses alike.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Every header line as sent, in order, names lower-cased (repeated headers stay separate). */
  readonly headerLines: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  /** The body parsed as JSON (throws when it is not JSON). */
  json(): unknown;
}

export interface FetchRawOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  timeoutMs?: number;
  /** Send the path exactly as written in `url`: no dot-segment removal, no percent-encoding (for path-confusion tests). */
  rawPath?: boolean;
  /** With rawPath: send this request target instead of url's path, as written (e.g. absolute-form `http://host/path`). */
  target?: string;
}

/** The origin and the path of `url` as written (WHATWG URL parsing would normalise the path). */
function splitRaw(url: string): { host: string; port: string; path: string } {
  const match = /^https?:\/\/[^/?#]+/.exec(url);
  if (match === null) throw new Error(`not an http URL: ${url}`);
  const { hostname, port } = new URL(match[0]);
  return { host: hostname.replace(/^\[|\]$/g, ''), port, path: url.slice(match[0].length) || '/' };
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool, so nothing
 * lingers after a server stops). `body` may be an async iterable to stream it
 * (chunked unless Content-Length is given). Rejects on socket errors and
 * after `timeoutMs` (default 10 s).
 */
export function fetchRaw(url: string, options: FetchRawOptions = {}): Promise<HttpResponse> {
  const method = options.method ?? 'GET';
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(parts);
        const headerLines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headerLines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, headerLines, body, json: () => JSON.parse(body.toString('utf8')) as unknown });
      });
    };
    const common = { method, headers: options.headers, agent: false } as const;
    const raw = options.rawPath === true ? { ...splitRaw(url), ...(options.target !== undefined ? { path: options.target } : {}) } : undefined;
    const req = raw ? httpRequest({ ...raw, ...common }, onResponse) : httpRequest(url, common, onResponse);
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    const body = options.body;
    if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      } catch (err) {
        req.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}

export interface ErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>;
}

/**
 * Asserts `status` and an error envelope whose first code is `code` with a
 * message. A HEAD answer has no body: an empty body passes when the response
 * has no Content-Type or announces a non-zero Content-Length.
 */
function checkErrorEnvelope(actual: number, head: { type?: string; length?: string }, text: string, status: number, code: string, what: string): ErrorBody {
  const label = what === '' ? '' : `${what}: `;
  assert.equal(actual, status, `${label}expected ${status} ${code}, got ${actual}: ${text.slice(0, 300)}`);
  if (text === '' && (head.type === undefined || (head.length !== undefined && head.length !== '0'))) return { errors: [] };
  const body = JSON.parse(text) as ErrorBody;
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `${label}no errors array in ${text}`);
  assert.equal(body.errors[0]!.code, code, `${label}expected code ${code} in ${text}`);
  assert.ok(body.errors[0]!.message.length > 0, `${label}error message must say what was wrong`);
  return body;
}

/**
 * Asserts that a response is an OCI error with `status` and `code`. A
 * fetchRaw response is checked at once (the call throws); a fetch Response
 * is read first, so await the result.
 */
export function expectError(res: Response | HttpResponse, status: number, code: string, what = ''): Promise<ErrorBody> {
  if (res instanceof Response) {
    const head = { type: res.headers.get('content-type') ?? undefined, length: res.headers.get('content-length') ?? undefined };
    return res.text().then((text) => checkErrorEnvelope(res.status, head, text, status, code, what));
  }
  const head = { type: res.headers['content-type'], length: res.headers['content-length'] };
  return Promise.resolve(checkErrorEnvelope(res.status, head, res.body.toString('utf8'), status, code, what));
}

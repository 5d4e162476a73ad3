/**
 * What the metrics and the access log both observe about a request: its route
 * label and its body bytes in both directions.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '../http/paths.js'; // FastifyRequest.ociRoute

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;
type Write = (this: unknown, ...args: unknown[]) => unknown;

function byteLength(chunk: unknown, encoding?: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}

/** The /v2 route kind (request.ociRoute), else the Fastify route pattern, else 'unknown': never the raw path. */
export function routeOf(request: FastifyRequest): string {
  return request.ociRoute ?? request.routeOptions.url ?? 'unknown';
}

function hasBody(request: FastifyRequest): boolean {
  const { headers } = request;
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/**
 * Calls `onReceived(n)` for request body bytes as they are delivered to whoever
 * reads the stream. Every chunk a Readable hands out (flowing mode or read())
 * passes through emit('data'); wrapping emit observes them without attaching a
 * 'data' listener, which would switch the stream to flowing mode and drop the
 * bytes that arrive before the handler starts reading.
 */
export function countReceived(request: FastifyRequest, onReceived: (n: number) => void): void {
  if (!hasBody(request)) return;
  const raw = request.raw as unknown as { emit: Emit };
  const emit = raw.emit;
  raw.emit = function (this: unknown, event: string | symbol, chunk?: unknown) {
    if (event === 'data') {
      const n = byteLength(chunk);
      if (n > 0) onReceived(n);
    }
    return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
  };
}

/** Calls `onSent(n)` for response body bytes handed to write()/end(). HEAD, 204 and 304 responses carry none. */
export function countSent(request: FastifyRequest, reply: FastifyReply, onSent: (n: number) => void): void {
  if (request.method === 'HEAD') return;
  const res = reply.raw as unknown as { write: Write; end: Write; statusCode: number };
  const { write, end } = res;
  const add = (chunk: unknown, encoding: unknown) => {
    if (res.statusCode === 204 || res.statusCode === 304) return;
    const n = byteLength(chunk, encoding);
    if (n > 0) onSent(n);
  };
  res.write = function (this: unknown, chunk?: unknown, encoding?: unknown) {
    add(chunk, encoding);
    return write.apply(this, arguments as unknown as unknown[]);
  };
  res.end = function (this: unknown, chunk?: unknown, encoding?: unknown) {
    if (typeof chunk !== 'function') add(chunk, encoding);
    return end.apply(this, arguments as unknown as unknown[]);
  };
}

/**
 * The access log: exactly one line per request of a server built by
 * createRegistryServer (or createOperationsServer), at info with msg
 * "request": `method`, `path` (query secrets masked), `route` (the route kind
 * or pattern, as the metrics label it), `status`, `durationMs`, `bytesSent`
 * (response body), `bytesReceived` (request body), `user` and `repository`
 * when known, `error` (the OCI error code) when the answer was one, and the
 * logger's `reqId` (the X-Request-Id) and, with tracing on, `traceId`
 * (tracing.ts binds both to every line of the request). It is written when the response has
 * ended, or when the connection closed first: then with `aborted: true` (and
 * `status` only when headers went out). Fastify's own "incoming request" and
 * "request completed" lines are off (AccessLogController).
 */
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { redactUrl } from '../auth/redact.js';
import { ociErrorCode } from '../http/error-handler.js';
import { countReceived, countSent, routeOf } from './request-facts.js';

/** The msg of an access line. */
export const ACCESS_MSG = 'request';
/** The fields of an access line besides reqId. */
export const ACCESS_FIELDS = ['method', 'path', 'route', 'status', 'durationMs', 'bytesSent', 'bytesReceived', 'user', 'repository', 'error', 'aborted'] as const;

/**
 * Fastify's request log lines, all but the ones the access log replaces: no
 * "incoming request" (at debug level a short "request received" instead),
 * "request completed" or "stream closed prematurely" (an aborted request's
 * access line says so). Pass an instance as Fastify's `logController`.
 */
export class AccessLogController extends LogController {
  /** At debug level only: "request received" with `method` and `path` when a request arrives (before any hook). */
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, path: redactUrl(request.url).slice(0, 500) }, 'request received');
  }
  override requestCompleted(): void {}
  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    super.streamError(error, request, reply);
  }
}

/** Writes the access line of every request of `app` (register it on the root instance, before the routes). */
export function accessLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    let sent = 0;
    let received = 0;
    countReceived(request, (n) => (received += n));
    countSent(request, reply, (n) => (sent += n));
    reply.raw.once('close', () => {
      const aborted = !reply.raw.writableFinished;
      const error = ociErrorCode(request);
      request.log.info(
        {
          method: request.method,
          path: redactUrl(request.url).slice(0, 500),
          route: routeOf(request),
          ...(aborted && !reply.raw.headersSent ? {} : { status: reply.statusCode }),
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
          bytesSent: sent,
          bytesReceived: received,
          ...(request.ociUser !== undefined ? { user: request.ociUser } : {}),
          ...(request.ociRepository !== undefined ? { repository: request.ociRepository } : {}),
          ...(error !== undefined ? { error } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        ACCESS_MSG,
      );
    });
  });
}

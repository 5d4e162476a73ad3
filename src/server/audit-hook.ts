/**
 * Where the audit log observes requests (README "Events and audit"): once per
 * request of a server built by createRegistryServer, when the response has
 * ended (or the connection closed first), a record is handed to the
 * AuditRecorder for every mutating request (any method but GET, HEAD and
 * OPTIONS), every refused one (401, 403, 429) and every /admin request.
 * Nothing here waits: the recorder writes in the background.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ociErrorCode } from '../http/error-handler.js';
import { resolveV2Route } from '../http/paths.js';
import type { AuditRecord } from '../storage/meta/types.js';
import type { AuditRecorder } from '../services/audit/recorder.js';
import type {} from './tracing.js'; // FastifyRequest.ociTraceId

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REFUSALS = new Set([401, 403, 429]);
/** The /v2 upload verbs by method. */
const UPLOAD_VERBS: Record<string, string> = { POST: 'start', PATCH: 'chunk', PUT: 'finish', DELETE: 'cancel', GET: 'status' };

/** The action of a request: `<route kind>.<verb>` for /v2 (manifest.put, upload.start, …), else the route's path segments and the method (admin.gc.post). */
export function auditAction(request: FastifyRequest): string {
  const method = request.method.toLowerCase();
  const kind = request.ociRoute;
  if (kind === 'uploads' || kind === 'upload') return `upload.${UPLOAD_VERBS[request.method] ?? method}`;
  if (kind !== undefined) return `${kind}.${method}`;
  const url = request.routeOptions.url;
  const path = url === undefined ? 'unknown' : url.split('/').filter((s) => s !== '' && !s.startsWith(':') && s !== '*').join('.') || 'root';
  return `${path}.${method}`;
}

/** The record of a finished request, or undefined when it is not audited. */
export function auditRecordOf(request: FastifyRequest, reply: FastifyReply): AuditRecord | undefined {
  const sent = reply.raw.headersSent;
  const status = sent ? reply.statusCode : undefined;
  const refused = status !== undefined && REFUSALS.has(status);
  const admin = request.routeOptions.url?.startsWith('/admin/') === true;
  if (READS.has(request.method) && !refused && !admin) return undefined;
  const finished = reply.raw.writableFinished;
  const ref = request.ociRoute !== undefined && request.ociRoute !== 'invalid' ? resolveV2Route(request).path?.ref : undefined;
  const code = ociErrorCode(request);
  return {
    time: Date.now(),
    actor: request.ociUser ?? 'anonymous',
    action: auditAction(request),
    outcome: refused ? 'refused' : finished && status !== undefined && status < 400 ? 'ok' : 'failed',
    ...(request.ociRepository !== undefined ? { repository: request.ociRepository } : {}),
    ...(ref !== undefined ? { reference: ref } : {}),
    address: request.ip,
    ...(status !== undefined ? { status } : {}),
    ...(code !== undefined ? { code } : {}),
    method: request.method,
    requestId: request.id,
    ...(request.ociTraceId !== undefined ? { traceId: request.ociTraceId } : {}),
  };
}

/** Records the audited requests of `app` (register on the root instance, before the routes). */
export function auditHook(app: FastifyInstance, recorder: AuditRecorder): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.raw.once('close', () => {
      const record = auditRecordOf(request, reply);
      if (record !== undefined) recorder.record(record);
    });
  });
}

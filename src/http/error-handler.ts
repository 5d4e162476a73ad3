/**
 * The one place errors become responses: the spec's `{"errors":[…]}`
 * envelope with the status from the error table. Unknown errors are 500
 * (logged with the request id); errors Fastify raises about the request
 * itself are client errors.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { fromStoreError } from '../services/store-errors.js';

function fromFastifyError(err: FastifyError): RegistryError | undefined {
  if (typeof err.statusCode !== 'number' || err.statusCode >= 500) return undefined;
  if (err.statusCode === 413) return new RegistryError('BLOB_TOO_LARGE', err.message);
  if (err.statusCode === 408) return new RegistryError('REQUEST_TIMEOUT', err.message);
  return new RegistryError('UNSUPPORTED', err.message);
}

/** Maps any error thrown while handling a request to a RegistryError. */
export function toRegistryError(err: unknown): RegistryError {
  const mapped = fromStoreError(err);
  if (mapped instanceof RegistryError) return mapped;
  if (mapped instanceof Error && 'statusCode' in mapped) {
    const fromFastify = fromFastifyError(mapped as FastifyError);
    if (fromFastify) return fromFastify;
  }
  return new RegistryError('INTERNAL', 'internal server error', { cause: err });
}

export async function registryErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = toRegistryError(err);
  if (error.status >= 500) request.log.error({ err }, 'request failed');
  else request.log.info({ code: error.code, status: error.status, msg: error.message }, 'client error');
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  const body = JSON.stringify(error.toEnvelope());
  reply.code(error.status).headers(error.headers).header('Content-Type', 'application/json').header('Content-Length', Buffer.byteLength(body));
  await reply.send(request.method === 'HEAD' ? undefined : body);
}

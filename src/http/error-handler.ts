/**
 * The one place errors become responses: the spec's `{"errors":[…]}`
 * envelope with the status from the error table. Unknown errors are 500
 * (logged with the request id); errors Fastify raises about the request
 * itself are client errors.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
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
  else request.log.info({ code: error.code, status: error.status, reason: error.message }, 'client error');
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  const body = JSON.stringify(error.toEnvelope());
  reply.code(error.status).headers(error.headers).header('Content-Type', 'application/json').header('Content-Length', Buffer.byteLength(body));
  await reply.send(request.method === 'HEAD' ? undefined : body);
}

/**
 * For the HTTP server's 'clientError' (Fastify's clientErrorHandler): a
 * request that never reached a handler (bad request line or headers, headers
 * timeout or overflow) gets the envelope too, then the connection is closed.
 */
export function registryClientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new RegistryError('HEADERS_TIMEOUT')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new RegistryError('HEADERS_TOO_LARGE')
        : new RegistryError('MALFORMED_REQUEST', `malformed HTTP request (${err.code ?? err.message})`);
  // A HEAD request gets no body (the client would read it as the next response).
  const head = Buffer.isBuffer(err.rawPacket) && err.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  const body = head ? '' : JSON.stringify(error.toEnvelope());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

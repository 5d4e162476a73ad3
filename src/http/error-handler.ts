/**
 * The one place errors become responses: the spec's `{"errors":[…]}`
 * envelope with the status from the error table, Retry-After when the
 * error carries one, and the headers its typed values stand for (an upload's
 * Range and Location: upload-headers.ts). It is also the one place store errors
 * (src/storage/errors.ts) are translated: services let them pass. Errors
 * Fastify raises about the request itself are client errors. Unknown errors
 * are 500, logged at error with their stack (a bug); other 5xx answers (an
 * outage, a full disk) are expected conditions, logged at warn without a stack;
 * 4xx answers at debug (the access log names their code: ociErrorCode).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import {
  ConcurrentWriteError,
  DigestMismatchError,
  LengthMismatchError,
  SizeLimitError,
  StorageFullError,
  StoreUnavailableError,
} from '../storage/errors.js';
import { uploadErrorHeaders } from './upload-headers.js';

/** The RegistryError for a store error, or undefined. */
function fromStoreError(err: unknown): RegistryError | undefined {
  if (err instanceof DigestMismatchError) {
    return new RegistryError('DIGEST_INVALID', `uploaded content has digest ${err.actual}, not the ${err.expected} given`, { cause: err });
  }
  if (err instanceof ConcurrentWriteError) {
    return new RegistryError('BLOB_UPLOAD_OUT_OF_ORDER', `upload ${err.id} was changed by another request meanwhile; GET the upload URL for its offset and resume`, { cause: err });
  }
  if (err instanceof LengthMismatchError) {
    return new RegistryError('SIZE_INVALID', `received ${err.actual} bytes but the request announced ${err.expected}`, { cause: err });
  }
  if (err instanceof SizeLimitError) {
    return new RegistryError('BLOB_TOO_LARGE', `upload would exceed the limit of ${err.limit} bytes`, { cause: err });
  }
  if (err instanceof StorageFullError) {
    return new RegistryError('STORAGE_FULL', 'the registry has no storage space left; nothing was stored', { cause: err });
  }
  if (err instanceof StoreUnavailableError) {
    return new RegistryError('UNAVAILABLE', `${err.message}; retry later`, { cause: err });
  }
  return undefined;
}

function fromFastifyError(err: FastifyError): RegistryError | undefined {
  if (typeof err.statusCode !== 'number' || err.statusCode >= 500) return undefined;
  if (err.statusCode === 413) return new RegistryError('BLOB_TOO_LARGE', err.message);
  if (err.statusCode === 408) return new RegistryError('REQUEST_TIMEOUT', err.message);
  return new RegistryError('UNSUPPORTED', err.message);
}

/** Maps any error thrown while handling a request to a RegistryError. */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const fromStore = fromStoreError(err);
  if (fromStore) return fromStore;
  if (err instanceof Error && 'statusCode' in err) {
    const fromFastify = fromFastifyError(err as FastifyError);
    if (fromFastify) return fromFastify;
  }
  return new RegistryError('INTERNAL', 'internal server error', { cause: err });
}

/** The messages of an error's cause chain after the first, joined: what a warn line says instead of a stack. */
function causes(error: Error): string | undefined {
  const parts: string[] = [];
  for (let c = error.cause; c !== undefined && c !== null && parts.length < 4; c = (c as { cause?: unknown }).cause) {
    parts.push(c instanceof Error ? c.message || c.name : String(c));
  }
  return parts.length === 0 ? undefined : parts.join(' <- ');
}

/**
 * Log fields for a failure: `{ err }` (with its stack) for an unknown error,
 * a bug; `{ reason, cause }` without a stack for an expected condition (an
 * outage, a full disk). For background work as much as for requests.
 */
export function failureLogFields(err: unknown): Record<string, unknown> {
  const error = toRegistryError(err);
  return error.kind === 'INTERNAL' ? { err } : { reason: error.message, cause: causes(error) };
}

const ANSWERED_CODES = new WeakMap<FastifyRequest, string>();

/** The OCI error code `request` was answered with by registryErrorHandler, if any. */
export function ociErrorCode(request: FastifyRequest): string | undefined {
  return ANSWERED_CODES.get(request);
}

export async function registryErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const error = toRegistryError(err);
  const fields = { code: error.code, status: error.status, reason: error.message };
  ANSWERED_CODES.set(request, error.code);
  if (error.kind === 'INTERNAL') request.log.error({ err }, 'request failed');
  else if (error.status >= 500) request.log.warn({ ...fields, cause: causes(error) }, 'request failed');
  else request.log.debug(fields, 'client error');
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  const body = JSON.stringify(error.toEnvelope());
  reply.code(error.status).headers(error.headers).headers(uploadErrorHeaders(error)).header('Content-Type', 'application/json').header('Content-Length', Buffer.byteLength(body));
  if (error.retryAfter !== undefined) reply.header('Retry-After', String(error.retryAfter));
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

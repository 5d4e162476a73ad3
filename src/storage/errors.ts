/**
 * Errors a store may throw. Stores know nothing of HTTP or OCI codes: the
 * services let these pass (or act on them), and the HTTP error handler
 * (src/http/error-handler.ts) is the one place they become RegistryErrors.
 */

/** BlobWriter.commit: the written bytes do not hash to the expected digest. Nothing was stored. */
export class DigestMismatchError extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`content digest ${actual} does not match ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

/** BlobWriter.append: the source delivered a different number of bytes than announced. Nothing was appended. */
export class LengthMismatchError extends Error {
  constructor(readonly expected: number, readonly actual: number) {
    super(`received ${actual} bytes, expected ${expected}`);
    this.name = 'LengthMismatchError';
  }
}

/** BlobWriter.append: the upload would grow past its size limit. Nothing was appended. */
export class SizeLimitError extends Error {
  constructor(readonly limit: number) {
    super(`upload exceeds the limit of ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/** The storage volume is full (ENOSPC / EDQUOT). Nothing was written. */
export class StorageFullError extends Error {
  constructor(cause?: unknown) {
    super('storage volume is full', cause === undefined ? undefined : { cause });
    this.name = 'StorageFullError';
  }
}

/**
 * A backend cannot serve the call right now: unreachable, connection lost,
 * no answer in time, out of connections or file handles, or it reported
 * itself down or overloaded. Expected during outages; retrying later may
 * succeed. The effect of a write whose connection was lost after it was sent
 * is unknown (it was not acknowledged); anything else wrote nothing.
 * `store` names the backend for people, e.g. "PostgreSQL metadata store".
 */
export class StoreUnavailableError extends Error {
  constructor(readonly store: string, readonly reason: string, cause?: unknown) {
    super(`the ${store} is unavailable (${reason})`, cause === undefined ? undefined : { cause });
    this.name = 'StoreUnavailableError';
  }
}

/** Node socket and DNS error codes that mean a networked backend cannot be reached now. */
const NETWORK_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection lost',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  EAI_AGAIN: 'name resolution failed',
};

/** The reason when `err` is a socket or DNS failure (also inside an AggregateError), else undefined. */
export function networkFailure(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown } | null;
  const reason = typeof e?.code === 'string' ? NETWORK_FAILURES[e.code] : undefined;
  if (reason !== undefined || !Array.isArray(e?.errors)) return reason;
  return (e.errors as unknown[]).map(networkFailure).find((r) => r !== undefined);
}

/**
 * BlobWriter.append/commit: another writer (another request, another
 * replica) changed the upload since this writer last saw it. Nothing was
 * written by this call; resume the upload to continue from its current state.
 */
export class ConcurrentWriteError extends Error {
  constructor(readonly id: string, detail = '') {
    super(`upload ${id} was changed by another writer${detail}; resume it`);
    this.name = 'ConcurrentWriteError';
  }
}

/** A method was called on a writer that was committed or cancelled. */
export class WriterClosedError extends Error {
  constructor(id: string) {
    super(`upload ${id} is already committed or cancelled`);
    this.name = 'WriterClosedError';
  }
}

/**
 * Errors a store may throw. Stores know nothing of HTTP or OCI codes; the
 * registry services translate these into RegistryErrors.
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

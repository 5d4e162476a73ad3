/** Translation of store-level errors into RegistryErrors, for the services. */
import { RegistryError } from '../oci/errors.js';
import { ConcurrentWriteError, DigestMismatchError, LengthMismatchError, SizeLimitError, StorageFullError } from '../storage/errors.js';

/** Returns the RegistryError for a store error, or the error unchanged. */
export function fromStoreError(err: unknown): unknown {
  if (err instanceof RegistryError) return err;
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
  return err;
}

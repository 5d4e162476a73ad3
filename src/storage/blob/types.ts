/**
 * The BlobStore port: content-addressed, streaming storage of immutable blobs,
 * plus an upload area where blobs are assembled before they are committed.
 *
 * Contracts shared by every implementation (checked by test/contract/blob-store.ts):
 * - A blob is visible (stat/read) only after a successful `commit`; it is then
 *   complete and its bytes hash to its digest. Nothing half-written is visible.
 * - Committing a digest that already exists keeps one copy (deduplication).
 * - Upload data is keyed by an opaque upload id chosen by the caller and is
 *   independent of repositories; it survives a restart for persistent stores.
 * - No method holds a whole blob in memory (the in-memory store aside).
 * - Every method accepts an AbortSignal; an aborted call rejects with the
 *   signal's reason and leaves the store as it was before the call.
 * - Digests are `Digest`s (src/oci/digest.ts): parsed once by the caller, so
 *   a store never validates one again; it reads their parts.
 */
import type { Readable } from 'node:stream';
import type { Digest, DigestAlgorithm } from '../../oci/digest.js';

export interface BlobInfo {
  readonly size: number;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface UploadInfo {
  readonly id: string;
  readonly size: number;
  /** Last time bytes were appended (or the upload was created), in ms since the epoch. */
  readonly modifiedAt: number;
}

export interface AppendOptions {
  /** When set, the source must yield exactly this many bytes, else LengthMismatchError. */
  readonly expectedLength?: number;
  /** The upload's total size may not exceed this, else SizeLimitError. */
  readonly maxTotalSize?: number;
  readonly signal?: AbortSignal;
}

export interface UploadOptions {
  /**
   * Hash with a sha256 whose state hashState() exports (./sha256.ts; slower
   * than node:crypto's), for sessions another process may continue.
   */
  readonly resumableHash?: boolean;
}

export interface ResumeOptions extends UploadOptions {
  /**
   * hashState() of a writer of this upload at exactly `offset` bytes: the
   * writer continues from it without reading the upload back (resumable).
   * A state that is not intact for `offset` is ignored: the bytes are re-read.
   */
  readonly hashState?: Uint8Array;
}

export interface RedirectOptions {
  /** Lifetime of the link; default the store's own. */
  readonly expiresSeconds?: number;
  readonly signal?: AbortSignal;
}

/**
 * An open upload. `append` is atomic: the whole source is appended, or (on
 * error, length mismatch, size limit, abort) the upload is left exactly as
 * before the call. A writer serves one caller at a time; callers serialize.
 */
export interface BlobWriter {
  readonly id: string;
  /** Bytes in the upload so far. */
  readonly size: number;
  /** Bytes read back from storage to rebuild the sha256 when this writer was resumed (0: new, or resumed from a hash state). */
  readonly rehashedBytes: number;
  /** The sha256 state after `size` bytes, for resumeUpload; undefined unless the writer hashes resumably. */
  hashState(): Uint8Array | undefined;
  /** Streams `source` to the end of the upload; resolves with the number of bytes appended. */
  append(source: AsyncIterable<Uint8Array>, options?: AppendOptions): Promise<number>;
  /**
   * The digest of the bytes so far, with `algorithm`. Cheap for the algorithm
   * the writer hashes while streaming (sha256); other algorithms re-read the data.
   */
  digest(algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<Digest>;
  /**
   * Verifies that the content hashes to `expectedDigest`, makes it durable
   * (fsync for disk stores), moves it to its content address and removes the
   * upload data. Throws DigestMismatchError (upload left intact and open) when
   * the content does not match. After success the writer is closed.
   */
  commit(expectedDigest: Digest, signal?: AbortSignal): Promise<BlobInfo>;
  /** Discards the upload data. Idempotent; never throws for an already-closed writer. */
  cancel(signal?: AbortSignal): Promise<void>;
}

export interface BlobStore {
  /** Size of a committed blob, or undefined. Never reads content. */
  stat(digest: Digest, signal?: AbortSignal): Promise<BlobInfo | undefined>;
  /**
   * Streams a committed blob, or the inclusive `range` of it (the caller
   * ensures start ≤ end < size). Resolves undefined when the blob is absent.
   */
  read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable | undefined>;
  /** Removes a committed blob. Resolves false when it was absent. Idempotent. */
  delete(digest: Digest, signal?: AbortSignal): Promise<boolean>;
  /** Every committed digest, in no particular order. */
  list(signal?: AbortSignal): AsyncIterable<Digest>;

  /** Opens a new, empty upload under `id`. Throws when `id` already exists. */
  createUpload(id: string, signal?: AbortSignal, options?: UploadOptions): Promise<BlobWriter>;
  /**
   * Reopens an existing upload, truncated to `offset` bytes when it holds more
   * (bytes past the last acknowledged offset were never acknowledged). Resolves
   * undefined when no data exists for `id` or it holds fewer than `offset` bytes.
   * Reads the kept bytes back to rebuild the sha256, unless options.hashState
   * is a valid state for `offset`.
   */
  resumeUpload(id: string, offset: number, signal?: AbortSignal, options?: ResumeOptions): Promise<BlobWriter | undefined>;
  /** Removes an upload's data. Idempotent. */
  deleteUpload(id: string, signal?: AbortSignal): Promise<void>;
  /** Every upload area, with its size and last modification. */
  listUploads(signal?: AbortSignal): AsyncIterable<UploadInfo>;

  /**
   * A time-limited URL from which a client can GET the committed blob
   * directly (e.g. a presigned object-store URL), or undefined when the store
   * cannot serve blobs elsewhere; the caller then streams the blob itself.
   */
  redirectUrl(digest: Digest, options?: RedirectOptions): Promise<string | undefined>;

  /** Resolves when the store is usable for writes; throws with the reason otherwise. */
  checkHealth(signal?: AbortSignal): Promise<void>;
  /** Releases resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * An in-memory BlobStore for tests and embedding. Blobs and uploads live in
 * Buffers and vanish with the process; otherwise it keeps every contract of
 * the port (see types.ts), including upload id validation, so tests that use
 * it behave like production. The validation and abort helpers exported here
 * are shared with the filesystem store.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { tryParseDigest, type DigestAlgorithm } from '../../oci/digest.js';
import { ConcurrentWriteError, DigestMismatchError, LengthMismatchError, SizeLimitError, WriterClosedError } from '../errors.js';
import type { AppendOptions, BlobInfo, BlobStore, BlobWriter, ByteRange, UploadInfo } from './types.js';

/** Upload ids accepted by every store: 1 to 128 of [A-Za-z0-9_-]. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface Upload {
  chunks: Buffer[];
  size: number;
  modifiedAt: number;
}

interface State {
  closed: boolean;
  readonly blobs: Map<string, Buffer>;
  readonly uploads: Map<string, Upload>;
}

/** Throws a plain Error unless `id` matches UPLOAD_ID (so it is safe as a file name). */
export function checkUploadId(id: string): void {
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) {
    throw new Error(`invalid upload id ${JSON.stringify(String(id).slice(0, 140))}: expected 1-128 of [A-Za-z0-9_-]`);
  }
}

/** Throws RangeError unless `value` is undefined or a non-negative safe integer. */
export function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

function checkOpen(state: State): void {
  if (state.closed) throw new Error('blob store is closed');
}

/** `next`, or a rejection with the signal's reason as soon as it aborts. Holds nothing once settled. */
function untilAborted<T>(next: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    next.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Iterates `source`, rejecting with the signal's reason as soon as it aborts,
 * even while the source stalls. Each step races the abort with its own
 * short-lived promise: racing one long-lived promise instead would retain
 * every chunk through its reaction list (the whole blob, for an upload).
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  signal?.throwIfAborted();
  if (signal === undefined) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  let stalled = false;
  try {
    for (;;) {
      stalled = true;
      const step = await untilAborted(it.next(), signal);
      stalled = false;
      if (step.done === true) return;
      yield step.value;
      signal.throwIfAborted();
    }
  } finally {
    const destroy = (source as { destroy?: (err?: unknown) => void }).destroy;
    if (stalled && typeof destroy === 'function') destroy.call(source, signal.reason);
    // A pending next() would block an async generator's return(); do not wait for it then.
    const done = Promise.resolve(it.return?.()).catch(() => undefined);
    if (!stalled) await done;
  }
}

class MemoryBlobWriter implements BlobWriter {
  #size: number;
  #hash: Hash;
  #closed = false;

  constructor(
    private readonly state: State,
    readonly id: string,
    private readonly upload: Upload,
    size: number,
    hash: Hash,
  ) {
    this.#size = size;
    this.#hash = hash;
  }

  get size(): number {
    return this.#size;
  }

  /** The upload record, when this writer may still use it. */
  #live(): Upload {
    if (this.#closed || this.state.uploads.get(this.id) !== this.upload) throw new WriterClosedError(this.id);
    checkOpen(this.state);
    if (this.upload.size !== this.#size) {
      throw new ConcurrentWriteError(this.id, ` (${this.upload.size} bytes, expected ${this.#size})`);
    }
    return this.upload;
  }

  async append(source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const { expectedLength, maxTotalSize, signal } = options;
    const upload = this.#live();
    signal?.throwIfAborted();
    checkCount('expectedLength', expectedLength);
    checkCount('maxTotalSize', maxTotalSize);
    const start = this.#size;
    if (maxTotalSize !== undefined && expectedLength !== undefined && start + expectedLength > maxTotalSize) {
      throw new SizeLimitError(maxTotalSize);
    }
    const hash = this.#hash.copy();
    const added: Buffer[] = [];
    let received = 0;
    for await (const chunk of abortable(source, signal)) {
      received += chunk.byteLength;
      if (expectedLength !== undefined && received > expectedLength) throw new LengthMismatchError(expectedLength, received);
      if (maxTotalSize !== undefined && start + received > maxTotalSize) throw new SizeLimitError(maxTotalSize);
      hash.update(chunk);
      added.push(Buffer.from(chunk));
    }
    if (expectedLength !== undefined && received !== expectedLength) throw new LengthMismatchError(expectedLength, received);
    signal?.throwIfAborted();
    this.#live();
    upload.chunks.push(...added);
    upload.size = start + received;
    upload.modifiedAt = Date.now();
    this.#size = upload.size;
    this.#hash = hash;
    return received;
  }

  async digest(algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<string> {
    const upload = this.#live();
    signal?.throwIfAborted();
    const hash = algorithm === 'sha256' ? this.#hash.copy() : createHash(algorithm);
    if (algorithm !== 'sha256') for (const chunk of upload.chunks) hash.update(chunk);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  async commit(expectedDigest: string, signal?: AbortSignal): Promise<BlobInfo> {
    const upload = this.#live();
    signal?.throwIfAborted();
    const parsed = tryParseDigest(expectedDigest);
    const actual = await this.digest(parsed?.algorithm ?? 'sha256', signal);
    if (parsed === undefined || actual !== parsed.digest) throw new DigestMismatchError(expectedDigest, actual);
    signal?.throwIfAborted();
    if (!this.state.blobs.has(parsed.digest)) this.state.blobs.set(parsed.digest, Buffer.concat(upload.chunks));
    this.state.uploads.delete(this.id);
    this.#closed = true;
    return { size: this.#size };
  }

  async cancel(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return;
    signal?.throwIfAborted();
    if (this.state.uploads.get(this.id) === this.upload) this.state.uploads.delete(this.id);
    this.#closed = true;
  }
}

export class MemoryBlobStore implements BlobStore {
  readonly #state: State = { closed: false, blobs: new Map(), uploads: new Map() };

  async stat(digest: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const blob = this.#state.blobs.get(digest);
    return blob === undefined ? undefined : { size: blob.length };
  }

  /** Throws RangeError for a range outside the blob. */
  async read(digest: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable | undefined> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const blob = this.#state.blobs.get(digest);
    if (blob === undefined) return undefined;
    let bytes = blob;
    if (range !== undefined) {
      const { start, end } = range;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= blob.length) {
        throw new RangeError(`range ${start}-${end} is outside the blob of ${blob.length} bytes`);
      }
      bytes = blob.subarray(start, end + 1);
    }
    return Readable.from([Buffer.from(bytes)], { objectMode: false });
  }

  async delete(digest: string, signal?: AbortSignal): Promise<boolean> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    return this.#state.blobs.delete(digest);
  }

  async *list(signal?: AbortSignal): AsyncIterable<string> {
    checkOpen(this.#state);
    for (const digest of [...this.#state.blobs.keys()]) {
      signal?.throwIfAborted();
      yield digest;
    }
  }

  /** Throws a plain Error for an invalid or existing id. */
  async createUpload(id: string, signal?: AbortSignal): Promise<BlobWriter> {
    checkOpen(this.#state);
    checkUploadId(id);
    signal?.throwIfAborted();
    if (this.#state.uploads.has(id)) throw new Error(`upload ${id} already exists`);
    const upload: Upload = { chunks: [], size: 0, modifiedAt: Date.now() };
    this.#state.uploads.set(id, upload);
    return new MemoryBlobWriter(this.#state, id, upload, 0, createHash('sha256'));
  }

  /** Throws a plain Error for an invalid id, RangeError for a bad offset. */
  async resumeUpload(id: string, offset: number, signal?: AbortSignal): Promise<BlobWriter | undefined> {
    checkOpen(this.#state);
    checkUploadId(id);
    checkCount('offset', offset);
    signal?.throwIfAborted();
    const upload = this.#state.uploads.get(id);
    if (upload === undefined || upload.size < offset) return undefined;
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let left = offset;
    for (const chunk of upload.chunks) {
      if (left === 0) break;
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      kept.push(part);
      hash.update(part);
      left -= part.length;
    }
    if (upload.size > offset) {
      upload.chunks = kept;
      upload.size = offset;
      upload.modifiedAt = Date.now();
    }
    return new MemoryBlobWriter(this.#state, id, upload, offset, hash);
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<void> {
    checkOpen(this.#state);
    checkUploadId(id);
    signal?.throwIfAborted();
    this.#state.uploads.delete(id);
  }

  async *listUploads(signal?: AbortSignal): AsyncIterable<UploadInfo> {
    checkOpen(this.#state);
    for (const [id, upload] of [...this.#state.uploads]) {
      signal?.throwIfAborted();
      yield { id, size: upload.size, modifiedAt: upload.modifiedAt };
    }
  }

  async checkHealth(signal?: AbortSignal): Promise<void> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
  }

  /** Idempotent; afterwards every method rejects with "blob store is closed". */
  async close(): Promise<void> {
    this.#state.closed = true;
  }
}

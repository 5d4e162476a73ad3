/**
 * An in-memory BlobStore for tests and embedding. Blobs and uploads live in
 * Buffers and vanish with the process; otherwise it keeps every contract of
 * the port (see types.ts), including upload id validation, so tests that use
 * it behave like production.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestAlgorithm, digestFromHex, type Digest, type DigestAlgorithm } from '../../oci/digest.js';
import { ConcurrentWriteError, DigestMismatchError, WriterClosedError } from '../errors.js';
import { AppendBounds, abortable, checkCount, checkUploadId } from './stream.js';
import { newSha256, resumedSha256, saveSha256, type RunningSha256 } from './sha256.js';
import type { AppendOptions, BlobInfo, BlobStore, BlobWriter, ByteRange, RedirectOptions, ResumeOptions, UploadInfo, UploadOptions } from './types.js';

interface Upload {
  chunks: Buffer[];
  size: number;
  modifiedAt: number;
}

interface State {
  closed: boolean;
  readonly blobs: Map<Digest, Buffer>;
  readonly uploads: Map<string, Upload>;
}

function checkOpen(state: State): void {
  if (state.closed) throw new Error('blob store is closed');
}

class MemoryBlobWriter implements BlobWriter {
  #size: number;
  #hash: RunningSha256;
  #closed = false;

  constructor(
    private readonly state: State,
    readonly id: string,
    private readonly upload: Upload,
    size: number,
    hash: RunningSha256,
    readonly rehashedBytes = 0,
  ) {
    this.#size = size;
    this.#hash = hash;
  }

  get size(): number {
    return this.#size;
  }

  hashState(): Uint8Array | undefined {
    return saveSha256(this.#hash, this.id);
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
    const { signal } = options;
    const upload = this.#live();
    const start = this.#size;
    const bounds = new AppendBounds(start, options);
    const hash = this.#hash.copy();
    const added: Buffer[] = [];
    for await (const chunk of abortable(source, signal)) {
      bounds.add(chunk.byteLength);
      hash.update(chunk);
      added.push(Buffer.from(chunk));
    }
    bounds.checkComplete();
    const { received } = bounds;
    signal?.throwIfAborted();
    this.#live();
    upload.chunks.push(...added);
    upload.size = start + received;
    upload.modifiedAt = Date.now();
    this.#size = upload.size;
    this.#hash = hash;
    return received;
  }

  async digest(algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<Digest> {
    const upload = this.#live();
    signal?.throwIfAborted();
    const hash: RunningSha256 = algorithm === 'sha256' ? this.#hash.copy() : createHash(algorithm);
    if (algorithm !== 'sha256') for (const chunk of upload.chunks) hash.update(chunk);
    return digestFromHex(algorithm, hash.digest('hex'));
  }

  async commit(expectedDigest: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    const upload = this.#live();
    signal?.throwIfAborted();
    const actual = await this.digest(digestAlgorithm(expectedDigest), signal);
    if (actual !== expectedDigest) throw new DigestMismatchError(expectedDigest, actual);
    signal?.throwIfAborted();
    if (!this.state.blobs.has(expectedDigest)) this.state.blobs.set(expectedDigest, Buffer.concat(upload.chunks));
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

  async stat(digest: Digest, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const blob = this.#state.blobs.get(digest);
    return blob === undefined ? undefined : { size: blob.length };
  }

  /** Throws RangeError for a range outside the blob. */
  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable | undefined> {
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

  async delete(digest: Digest, signal?: AbortSignal): Promise<boolean> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    return this.#state.blobs.delete(digest);
  }

  async *list(signal?: AbortSignal): AsyncIterable<Digest> {
    checkOpen(this.#state);
    for (const digest of [...this.#state.blobs.keys()]) {
      signal?.throwIfAborted();
      yield digest;
    }
  }

  /** Throws a plain Error for an invalid or existing id. */
  async createUpload(id: string, signal?: AbortSignal, options: UploadOptions = {}): Promise<BlobWriter> {
    checkOpen(this.#state);
    checkUploadId(id);
    signal?.throwIfAborted();
    const hash = await newSha256(options.resumableHash === true);
    if (this.#state.uploads.has(id)) throw new Error(`upload ${id} already exists`);
    const upload: Upload = { chunks: [], size: 0, modifiedAt: Date.now() };
    this.#state.uploads.set(id, upload);
    return new MemoryBlobWriter(this.#state, id, upload, 0, hash);
  }

  /** Throws a plain Error for an invalid id, RangeError for a bad offset. */
  async resumeUpload(id: string, offset: number, signal?: AbortSignal, options: ResumeOptions = {}): Promise<BlobWriter | undefined> {
    checkOpen(this.#state);
    checkUploadId(id);
    checkCount('offset', offset);
    signal?.throwIfAborted();
    const { hash, restored } = await resumedSha256(options, offset, id);
    const upload = this.#state.uploads.get(id);
    if (upload === undefined || upload.size < offset) return undefined;
    const kept: Buffer[] = [];
    let left = offset;
    for (const chunk of upload.chunks) {
      if (left === 0) break;
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      kept.push(part);
      if (!restored) hash.update(part);
      left -= part.length;
    }
    if (upload.size > offset) {
      upload.chunks = kept;
      upload.size = offset;
      upload.modifiedAt = Date.now();
    }
    return new MemoryBlobWriter(this.#state, id, upload, offset, hash, restored ? 0 : offset);
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

  /** Always undefined: blobs are served only through read(). */
  async redirectUrl(_digest: Digest, options: RedirectOptions = {}): Promise<undefined> {
    checkOpen(this.#state);
    options.signal?.throwIfAborted();
    return undefined;
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

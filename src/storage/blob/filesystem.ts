/**
 * A BlobStore on a local filesystem. Layout under the root:
 *
 *   <root>/blobs/sha256/ab/abcdef…   committed blobs, named by digest (first two hex chars fan out)
 *   <root>/blobs/sha512/cd/cdef01…
 *   <root>/uploads/<id>              upload data being assembled, one file per upload id
 *   <root>/tmp/                      scratch (health probes); emptied at open
 *
 * All directories live on one filesystem, so commit is an atomic link(2) of the
 * upload file to its content address: a blob either exists complete or not at
 * all, and an existing blob is never replaced (deduplication). Upload ids and
 * digests are validated before they become path components, so no caller
 * string reaches outside the root. Content is always streamed, never buffered
 * whole. ENOSPC/EDQUOT surface as StorageFullError; EIO, EROFS, EMFILE and
 * the like as StoreUnavailableError.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, mkdir, open, opendir, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { digestAlgorithm, digestEncoded, digestFromHex, tryParseDigest, type Digest, type DigestAlgorithm } from '../../oci/digest.js';
import { DigestMismatchError, StorageFullError, StoreUnavailableError, WriterClosedError } from '../errors.js';
import { FileReadStream } from './file-read-stream.js';
import { checkUploadSize, errno, hashFile, syncDir, writevAll } from './filesystem-io.js';
import { AppendBounds, abortable, checkCount, checkUploadId, UPLOAD_ID } from './stream.js';
import { newSha256, resumedSha256, saveSha256, type RunningSha256 } from './sha256.js';
import type { AppendOptions, BlobInfo, BlobStore, BlobWriter, ByteRange, RedirectOptions, ResumeOptions, UploadInfo, UploadOptions } from './types.js';

const ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];
const WRITE_BATCH = 1024 * 1024;

interface State {
  closed: boolean;
  readonly root: string;
}

const isMissing = (err: unknown): boolean => errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR';

/** The promise's value, or undefined when it fails because the path does not exist. */
async function ifExists<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw storageError(err);
  }
}

/** errno codes of a volume that cannot serve now: failing, read-only (e.g. remounted after errors), out of file handles, a gone network mount. */
const UNAVAILABLE = new Set(['EIO', 'EROFS', 'EMFILE', 'ENFILE', 'ESTALE', 'ENOTCONN', 'ETIMEDOUT', 'EHOSTDOWN']);

/** The store's error boundary: a full volume becomes StorageFullError, an unusable one StoreUnavailableError; anything else passes unchanged. */
function storageError(err: unknown): unknown {
  const code = errno(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StorageFullError(err);
  if (code !== undefined && UNAVAILABLE.has(code)) return new StoreUnavailableError('filesystem blob store', code, err);
  return err;
}

function checkOpen(state: State): void {
  if (state.closed) throw new Error('blob store is closed');
}

const uploadPath = (root: string, id: string): string => join(root, 'uploads', id);
/** One plain path component: no separator, no dot-segment, no NUL. */
const isComponent = (part: string): boolean => part !== '' && part !== '.' && part !== '..' && !/[/\\\0]/.test(part);

/**
 * The file of a blob. The Digest type says the digest was parsed; this store
 * does not parse it again, but one forged past the type (a cast, a JavaScript
 * caller) still never names a path outside blobs/: undefined, no such blob.
 */
function blobPath(root: string, digest: Digest): string | undefined {
  const algorithm = digestAlgorithm(digest);
  const encoded = digestEncoded(digest);
  if (!isComponent(algorithm) || !isComponent(encoded)) return undefined;
  return join(root, 'blobs', algorithm, encoded.slice(0, 2), encoded);
}

class FilesystemBlobWriter implements BlobWriter {
  #size: number;
  #hash: RunningSha256;
  #closed = false;
  readonly #file: string;

  constructor(
    private readonly state: State,
    readonly id: string,
    size: number,
    hash: RunningSha256,
    readonly rehashedBytes = 0,
  ) {
    this.#file = uploadPath(state.root, id);
    this.#size = size;
    this.#hash = hash;
  }

  get size(): number {
    return this.#size;
  }

  hashState(): Uint8Array | undefined {
    return saveSha256(this.#hash, this.id);
  }

  #checkOpen(): void {
    if (this.#closed) throw new WriterClosedError(this.id);
    checkOpen(this.state);
  }

  /** The upload file opened read-write; WriterClosedError when it is gone. */
  async #openFile(): Promise<FileHandle> {
    try {
      return await open(this.#file, 'r+');
    } catch (err) {
      throw isMissing(err) ? new WriterClosedError(this.id) : storageError(err);
    }
  }

  async append(source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const { signal } = options;
    this.#checkOpen();
    const start = this.#size;
    const bounds = new AppendBounds(start, options);
    const handle = await this.#openFile();
    const hash = this.#hash.copy();
    // Chunks are gathered into batches of WRITE_BATCH bytes, written with one writev each;
    // one batch is written while the next is received.
    let inFlight: Promise<void> = Promise.resolve();
    try {
      await checkUploadSize(handle, this.id, start);
      try {
        let batch: Uint8Array[] = [];
        let batchBytes = 0;
        let written = 0;
        const flush = async (): Promise<void> => {
          const buffers = batch;
          const position = start + written;
          written += batchBytes;
          batch = [];
          batchBytes = 0;
          await inFlight;
          inFlight = writevAll(handle, buffers, position);
          inFlight.catch(() => undefined);
        };
        for await (const chunk of abortable(source, signal)) {
          bounds.add(chunk.byteLength);
          hash.update(chunk);
          batch.push(chunk);
          batchBytes += chunk.byteLength;
          if (batchBytes >= WRITE_BATCH) await flush();
        }
        if (batchBytes > 0) await flush();
        await inFlight;
        bounds.checkComplete();
        signal?.throwIfAborted();
      } catch (err) {
        // Roll back to the state before the call; the running hash was only updated on a copy.
        // The batch still being written must land first, or it would land past the rollback.
        await inFlight.catch(() => undefined);
        await handle.truncate(start).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw storageError(err);
    } finally {
      await handle.close().catch(() => undefined);
    }
    this.#size = start + bounds.received;
    this.#hash = hash;
    return bounds.received;
  }

  async digest(algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<Digest> {
    this.#checkOpen();
    signal?.throwIfAborted();
    if (algorithm === 'sha256') return digestFromHex('sha256', this.#hash.copy().digest('hex'));
    try {
      return digestFromHex(algorithm, (await hashFile(this.#file, this.#size, createHash(algorithm), signal)).digest('hex'));
    } catch (err) {
      throw isMissing(err) ? new WriterClosedError(this.id) : err;
    }
  }

  async commit(expectedDigest: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    this.#checkOpen();
    signal?.throwIfAborted();
    const actual = await this.digest(digestAlgorithm(expectedDigest), signal);
    if (actual !== expectedDigest) throw new DigestMismatchError(expectedDigest, actual);
    const handle = await this.#openFile();
    try {
      await checkUploadSize(handle, this.id, this.#size);
      await handle.sync();
    } catch (err) {
      throw storageError(err);
    } finally {
      await handle.close().catch(() => undefined);
    }
    signal?.throwIfAborted(); // last point where the store is still unchanged
    const target = blobPath(this.state.root, expectedDigest)!; // it hashed to the digest: a valid one
    const fanout = dirname(target);
    try {
      const created = await mkdir(fanout, { recursive: true });
      try {
        await link(this.#file, target);
      } catch (err) {
        const code = errno(err);
        if (code === 'EEXIST') {
          // Deduplication: the blob is already there; keep it and drop the upload.
        } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
          // No hard links on this filesystem: rename, unless another commit won the race.
          if ((await stat(target).catch(() => undefined)) === undefined) await rename(this.#file, target);
        } else {
          throw err;
        }
      }
      await rm(this.#file, { force: true });
      await syncDir(fanout);
      if (created !== undefined) await syncDir(dirname(fanout));
      // The upload file's removal need not be durable: a resurrected one is an orphan the sweep removes.
    } catch (err) {
      throw storageError(err);
    }
    this.#closed = true;
    return { size: this.#size };
  }

  async cancel(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return;
    signal?.throwIfAborted();
    await rm(this.#file, { force: true });
    this.#closed = true;
  }
}

export class FilesystemBlobStore implements BlobStore {
  readonly #state: State;

  /** Use openFilesystemBlobStore, which also creates the layout and clears tmp. */
  constructor(root: string) {
    this.#state = { closed: false, root: resolve(root) };
  }

  /** The absolute root directory. */
  get root(): string {
    return this.#state.root;
  }

  async stat(digest: Digest, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const path = blobPath(this.root, digest);
    const info = path === undefined ? undefined : await ifExists(stat(path));
    return info?.isFile() === true ? { size: info.size } : undefined;
  }

  /** The stream reads the blob as it was when opened, even if it is deleted meanwhile. RangeError for a range outside the blob. */
  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable | undefined> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const path = blobPath(this.root, digest);
    const handle = path === undefined ? undefined : await ifExists(open(path, 'r'));
    if (handle === undefined) return undefined;
    let size: number;
    try {
      size = (await handle.stat()).size;
      if (range !== undefined) {
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= size) {
          throw new RangeError(`range ${start}-${end} is outside the blob of ${size} bytes`);
        }
      }
      signal?.throwIfAborted();
    } catch (err) {
      await handle.close();
      throw err;
    }
    const stream = range === undefined ? new FileReadStream(handle, 0, size - 1) : new FileReadStream(handle, range.start, range.end);
    return signal === undefined ? stream : addAbortSignal(signal, stream);
  }

  async delete(digest: Digest, signal?: AbortSignal): Promise<boolean> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const path = blobPath(this.root, digest);
    return path !== undefined && ((await ifExists(unlink(path).then(() => true))) ?? false);
  }

  /** File names that are no valid digest (strays) are skipped: the one place this store parses a digest. */
  async *list(signal?: AbortSignal): AsyncIterable<Digest> {
    checkOpen(this.#state);
    for (const algorithm of ALGORITHMS) {
      const dir = join(this.root, 'blobs', algorithm);
      for (const fanout of (await ifExists(readdir(dir))) ?? []) {
        if (!/^[0-9a-f]{2}$/.test(fanout)) continue;
        for await (const entry of (await ifExists(opendir(join(dir, fanout)))) ?? []) {
          signal?.throwIfAborted();
          const digest = entry.isFile() && entry.name.startsWith(fanout) ? tryParseDigest(`${algorithm}:${entry.name}`) : undefined;
          if (digest !== undefined) yield digest.digest;
        }
      }
    }
  }

  /** Throws a plain Error for an invalid or existing id. */
  async createUpload(id: string, signal?: AbortSignal, options: UploadOptions = {}): Promise<BlobWriter> {
    checkOpen(this.#state);
    checkUploadId(id);
    signal?.throwIfAborted();
    try {
      await (await open(uploadPath(this.root, id), 'wx')).close();
    } catch (err) {
      if (errno(err) === 'EEXIST') throw new Error(`upload ${id} already exists`, { cause: err });
      throw storageError(err);
    }
    return new FilesystemBlobWriter(this.#state, id, 0, await newSha256(options.resumableHash === true));
  }

  /** Reads the kept `offset` bytes once to rebuild the hash, unless given its state. Plain Error for an invalid id, RangeError for a bad offset. */
  async resumeUpload(id: string, offset: number, signal?: AbortSignal, options: ResumeOptions = {}): Promise<BlobWriter | undefined> {
    checkOpen(this.#state);
    checkUploadId(id);
    checkCount('offset', offset);
    signal?.throwIfAborted();
    const file = uploadPath(this.root, id);
    const handle = await ifExists(open(file, 'r+'));
    if (handle === undefined) return undefined;
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size < offset) return undefined;
      const { hash, restored } = await resumedSha256(options, offset, id);
      if (!restored) await hashFile(file, offset, hash, signal);
      signal?.throwIfAborted();
      if (info.size > offset) await handle.truncate(offset);
      return new FilesystemBlobWriter(this.#state, id, offset, hash, restored ? 0 : offset);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<void> {
    checkOpen(this.#state);
    checkUploadId(id);
    signal?.throwIfAborted();
    await rm(uploadPath(this.root, id), { force: true });
  }

  async *listUploads(signal?: AbortSignal): AsyncIterable<UploadInfo> {
    checkOpen(this.#state);
    const dir = join(this.root, 'uploads');
    for await (const entry of await opendir(dir)) {
      signal?.throwIfAborted();
      if (!entry.isFile() || !UPLOAD_ID.test(entry.name)) continue;
      const info = await ifExists(stat(join(dir, entry.name))); // undefined: committed or cancelled meanwhile
      if (info !== undefined) yield { id: entry.name, size: info.size, modifiedAt: info.mtimeMs };
    }
  }

  /** Always undefined: blobs are served only through read(). */
  async redirectUrl(_digest: Digest, options: RedirectOptions = {}): Promise<undefined> {
    checkOpen(this.#state);
    options.signal?.throwIfAborted();
    return undefined;
  }

  /** Writes, fsyncs and removes a probe file in tmp; throws "blob store at <root> is not writable: <reason>". */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    checkOpen(this.#state);
    signal?.throwIfAborted();
    const probe = join(this.root, 'tmp', `health-${randomUUID()}`);
    try {
      for (const dir of ['blobs', 'uploads', 'tmp']) await access(join(this.root, dir), constants.W_OK | constants.X_OK);
      const handle = await open(probe, 'wx');
      try {
        await handle.writeFile('ok');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await unlink(probe);
    } catch (err) {
      await rm(probe, { force: true }).catch(() => undefined);
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`blob store at ${this.root} is not writable: ${reason}`, { cause: err });
    }
  }

  /** Idempotent; afterwards every method rejects with "blob store is closed". Holds no handles between calls. */
  async close(): Promise<void> {
    this.#state.closed = true;
  }
}

/** Opens (creating as needed) a store at `root` and removes leftovers in `<root>/tmp`. */
export async function openFilesystemBlobStore(root: string): Promise<FilesystemBlobStore> {
  const store = new FilesystemBlobStore(root);
  for (const dir of [...ALGORITHMS.map((a) => join('blobs', a)), 'uploads', 'tmp']) {
    await mkdir(join(store.root, dir), { recursive: true });
  }
  const tmp = join(store.root, 'tmp');
  for (const name of await readdir(tmp)) await rm(join(tmp, name), { recursive: true, force: true });
  return store;
}

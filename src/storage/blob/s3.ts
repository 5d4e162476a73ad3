/**
 * A BlobStore on an S3-compatible object store (AWS S3, Ceph RGW, MinIO, …),
 * so several registry replicas can share one bucket. Object layout: s3-io.ts;
 * uploads and commits: s3-writer.ts; operations guide: docs/s3.md.
 *
 * Contracts beyond the port:
 * - Content is streamed; memory per call is at most one part (partSize).
 * - A committed blob is one object, created by a server-side copy of the
 *   upload's segments, so it appears complete or not at all.
 * - Quota and capacity errors surface as StorageFullError; an unreachable,
 *   failing (5xx) or silent store as StoreUnavailableError, in bounded time
 *   (connectTimeoutMs, socketTimeoutMs, maxAttempts); an aborted call
 *   rejects with the signal's reason.
 * - redirectUrl presigns a GET of a committed blob (it never answers undefined).
 */
import { randomUUID } from 'node:crypto';
import { addAbortSignal, type Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { tryParseDigest, type Digest } from '../../oci/digest.js';
import {
  MIN_PART, blobKey, call, checkOpen, deleteUploadObjects, describeError, headState, ifExists, isConflict, isNotFound, listObjects, putObject, readState,
  writeState, type CasMode, type S3BlobStoreStats, type S3Context,
} from './s3-io.js';
import { S3BlobWriter, resumeS3Upload } from './s3-writer.js';
import { checkCount, checkUploadId, UPLOAD_ID } from './stream.js';
import { newSha256 } from './sha256.js';
import type { BlobInfo, BlobStore, BlobWriter, ByteRange, RedirectOptions, ResumeOptions, UploadInfo, UploadOptions } from './types.js';

export type { S3BlobStoreStats } from './s3-io.js';
export type { RedirectOptions } from './types.js';

export interface S3BlobStoreConfig {
  readonly bucket: string;
  /** Key prefix for everything the store writes, e.g. "registry/"; a missing trailing "/" is added. Default "". */
  readonly prefix?: string;
  /** Endpoint URL of a non-AWS store, e.g. http://127.0.0.1:7480. Default: AWS for `region`. */
  readonly endpoint?: string;
  readonly region: string;
  /** Path-style addressing (endpoint/bucket/key) instead of virtual-host (bucket.endpoint/key). Default false. */
  readonly forcePathStyle?: boolean;
  /** Static credentials; default: the SDK's provider chain (environment, profile, instance role…). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Bytes per segment and part, buffered in memory per append. Default 8 MiB, minimum 5 MiB, maximum 5 GiB. */
  readonly partSize?: number;
  /** Default lifetime of redirectUrl links. Default 900 s, at most 7 days. */
  readonly presignExpiresSeconds?: number;
  /** Create the bucket when it does not exist. Default false: a missing bucket fails the open. */
  readonly createBucket?: boolean;
  /** Connections to the store; each open read stream holds one until it ends. Default 256. */
  readonly maxSockets?: number;
  /** A connection not established within this many ms fails the attempt. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** A request whose connection stays silent this long (ms) fails the attempt. Default 10000. */
  readonly socketTimeoutMs?: number;
  /** Attempts per S3 request, the first included (the SDK retries network errors, 5xx and throttling with backoff). Default 3. */
  readonly maxAttempts?: number;
  /** A ready client to use instead of building one from the settings above (not destroyed by close). */
  readonly client?: S3Client;
}

const MiB = 1024 * 1024;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export class S3BlobStore implements BlobStore {
  readonly #ctx: S3Context;
  readonly #ownsClient: boolean;
  readonly #presignSeconds: number;

  /** Use openS3BlobStore, which also checks the bucket and the store's conditional writes. */
  constructor(ctx: S3Context, ownsClient: boolean, presignSeconds: number) {
    this.#ctx = ctx;
    this.#ownsClient = ownsClient;
    this.#presignSeconds = presignSeconds;
  }

  /** `s3://bucket/prefix`, for messages. */
  get location(): string {
    return `s3://${this.#ctx.bucket}/${this.#ctx.prefix}`;
  }

  /** Counters since open (segment writes, merges, bytes read back). */
  get stats(): Readonly<S3BlobStoreStats> {
    return { ...this.#ctx.stats };
  }

  /** How conditional writes are sent to this store (probed at open). */
  get casMode(): CasMode {
    return this.#ctx.cas;
  }

  async stat(digest: Digest, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    checkOpen(this.#ctx);
    signal?.throwIfAborted();
    const { client, bucket } = this.#ctx;
    const head = await ifExists(call(signal, (o) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: blobKey(this.#ctx, digest) }), o)));
    return head === undefined ? undefined : { size: head.ContentLength ?? 0 };
  }

  /** RangeError for a range outside the blob. The stream ends with an error if the signal aborts. */
  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable | undefined> {
    checkOpen(this.#ctx);
    signal?.throwIfAborted();
    if (range !== undefined) {
      const { start, end } = range;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end) {
        throw new RangeError(`range ${start}-${end} is not a byte range`);
      }
    }
    const { client, bucket } = this.#ctx;
    const Range = range === undefined ? undefined : `bytes=${range.start}-${range.end}`;
    let out;
    try {
      out = await ifExists(call(signal, (o) => client.send(new GetObjectCommand({ Bucket: bucket, Key: blobKey(this.#ctx, digest), Range }), o)));
    } catch (err) {
      if ((err as { name?: unknown }).name === 'InvalidRange') throw new RangeError(`range ${range?.start}-${range?.end} is outside the blob`);
      throw err;
    }
    if (out === undefined) return undefined;
    const body = out.Body as Readable;
    // S3 clamps an end past the object; the port wants exactly the range or an error.
    if (range !== undefined && !(out.ContentRange ?? '').startsWith(`bytes ${range.start}-${range.end}/`)) {
      body.destroy();
      throw new RangeError(`range ${range.start}-${range.end} is outside the blob (${out.ContentRange ?? 'no Content-Range'})`);
    }
    return signal === undefined ? body : addAbortSignal(signal, body);
  }

  /** HEAD then DELETE: resolves false when the blob was absent. */
  async delete(digest: Digest, signal?: AbortSignal): Promise<boolean> {
    if ((await this.stat(digest, signal)) === undefined) return false;
    const { client, bucket } = this.#ctx;
    const key = blobKey(this.#ctx, digest);
    await call(signal, (o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), o));
    return true;
  }

  /** Keys that name no valid digest (strays) are skipped: the one place this store parses a digest. */
  async *list(signal?: AbortSignal): AsyncIterable<Digest> {
    checkOpen(this.#ctx);
    const root = `${this.#ctx.prefix}blobs/`;
    for await (const item of listObjects(this.#ctx, root, signal)) {
      const [algorithm, encoded, extra] = (item.Key ?? '').slice(root.length).split('/');
      const digest = extra === undefined ? tryParseDigest(`${algorithm}:${encoded}`) : undefined;
      if (digest !== undefined) yield digest.digest;
    }
  }

  /** Throws a plain Error for an invalid or existing id. */
  async createUpload(id: string, signal?: AbortSignal, options: UploadOptions = {}): Promise<BlobWriter> {
    checkOpen(this.#ctx);
    checkUploadId(id);
    signal?.throwIfAborted();
    const hash = await newSha256(options.resumableHash === true);
    const state = { size: 0, segments: [] };
    let etag: string;
    try {
      etag = await writeState(this.#ctx, id, state, 'absent'); // not aborted midway: it either happened or not
    } catch (err) {
      if ((err as { name?: unknown }).name === 'StateConflictError') throw new Error(`upload ${id} already exists`, { cause: err });
      throw err;
    }
    return new S3BlobWriter(this.#ctx, id, { state, etag }, hash);
  }

  /**
   * Reads the kept `offset` bytes once to rebuild the hash (the cost of
   * switching replicas), unless given its state. Plain Error for an invalid
   * id, RangeError for a bad offset.
   */
  async resumeUpload(id: string, offset: number, signal?: AbortSignal, options: ResumeOptions = {}): Promise<BlobWriter | undefined> {
    checkOpen(this.#ctx);
    checkUploadId(id);
    checkCount('offset', offset);
    signal?.throwIfAborted();
    return resumeS3Upload(this.#ctx, id, offset, signal, options);
  }

  async deleteUpload(id: string, signal?: AbortSignal): Promise<void> {
    checkOpen(this.#ctx);
    checkUploadId(id);
    signal?.throwIfAborted();
    await deleteUploadObjects(this.#ctx, id, signal);
  }

  /**
   * One HEAD of state.json per upload. Leftovers without state.json (a crash
   * mid-removal) are listed with size 0 and their newest object's time, so
   * the orphan sweep removes them.
   */
  async *listUploads(signal?: AbortSignal): AsyncIterable<UploadInfo> {
    checkOpen(this.#ctx);
    const root = `${this.#ctx.prefix}uploads/`;
    let current: { id: string; hasState: boolean; newest: number } | undefined;
    const finish = async (group: NonNullable<typeof current>): Promise<UploadInfo | undefined> => {
      if (!group.hasState) return { id: group.id, size: 0, modifiedAt: group.newest };
      const head = await headState(this.#ctx, group.id, signal); // undefined: committed or cancelled meanwhile
      if (head === undefined) return undefined;
      const size = head.size ?? (await readState(this.#ctx, group.id, signal))?.state.size;
      return size === undefined ? undefined : { id: group.id, size, modifiedAt: head.modifiedAt };
    };
    for await (const item of listObjects(this.#ctx, root, signal)) {
      const [id, name] = (item.Key ?? '').slice(root.length).split('/');
      if (id === undefined || name === undefined || !UPLOAD_ID.test(id)) continue;
      if (current?.id !== id) {
        const done = current === undefined ? undefined : await finish(current);
        if (done !== undefined) yield done;
        current = { id, hasState: false, newest: 0 };
      }
      if (name === 'state.json') current.hasState = true;
      current.newest = Math.max(current.newest, item.LastModified?.getTime() ?? 0);
    }
    const done = current === undefined ? undefined : await finish(current);
    if (done !== undefined) yield done;
  }

  /** HEAD of the bucket, then a PUT and DELETE of a probe object; throws "blob store s3://… is not writable: <reason>". */
  async checkHealth(signal?: AbortSignal): Promise<void> {
    checkOpen(this.#ctx);
    signal?.throwIfAborted();
    const { client, bucket, prefix } = this.#ctx;
    const probe = `${prefix}health/probe-${randomUUID()}`;
    try {
      const found = await ifExists(call(signal, (o) => client.send(new HeadBucketCommand({ Bucket: bucket }), o)));
      if (found === undefined) throw new Error(`bucket ${bucket} does not exist`);
      await putObject(this.#ctx, probe, Buffer.from('ok'), signal);
      await call(signal, (o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: probe }), o));
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      const reason = err instanceof Error && err.message.startsWith('bucket ') ? err.message : describeError(err);
      throw new Error(`blob store ${this.location} is not writable: ${reason}`, { cause: err });
    }
  }

  /**
   * A presigned GET URL of a committed blob, valid for `expiresSeconds`
   * (default presignExpiresSeconds). Computed locally: it does not check that
   * the blob exists. Throws RangeError for a malformed lifetime.
   */
  async redirectUrl(digest: Digest, options: RedirectOptions = {}): Promise<string> {
    checkOpen(this.#ctx);
    options.signal?.throwIfAborted();
    const expiresIn = options.expiresSeconds ?? this.#presignSeconds;
    checkPresignSeconds(expiresIn);
    const { client, bucket } = this.#ctx;
    return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: blobKey(this.#ctx, digest) }), { expiresIn });
  }

  /** Idempotent; afterwards every method rejects with "blob store is closed". */
  async close(): Promise<void> {
    if (this.#ctx.closed) return;
    this.#ctx.closed = true;
    if (this.#ownsClient) this.#ctx.client.destroy();
  }
}

function checkPresignSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw new RangeError(`presign lifetime must be 1-${MAX_PRESIGN_SECONDS} seconds, got ${seconds}`);
  }
}

/**
 * Finds how the store takes If-Match on PUT: AWS and most stores take the
 * quoted ETag, RGW 16.2 only the bare one; some ignore it ('none').
 */
async function probeCas(ctx: Omit<S3Context, 'cas'>): Promise<CasMode> {
  const key = `${ctx.prefix}health/cas-${randomUUID()}`;
  const put = (body: string, IfMatch?: string): Promise<string> =>
    call(undefined, () => ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: body, IfMatch }))).then((o) => o.ETag ?? '');
  const accepted = (promise: Promise<string>): Promise<string | undefined> =>
    promise.catch((err: unknown) => {
      if (isConflict(err) || isNotFound(err)) return undefined;
      throw err;
    });
  try {
    const etag = await put('1');
    if ((await accepted(put('2', '"00000000000000000000000000000000"'))) !== undefined) return 'none';
    const quoted = etag.startsWith('"') ? etag : `"${etag}"`;
    const next = await accepted(put('3', quoted));
    if (next !== undefined) return 'quoted';
    return (await accepted(put('4', quoted.replaceAll('"', '')))) !== undefined ? 'unquoted' : 'none';
  } finally {
    await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: key })).catch(() => undefined);
  }
}

/** Opens a store: builds the client, checks (or creates) the bucket and probes conditional writes. */
/** openS3BlobStore: the bucket does not exist and `createBucket` is not set. */
export class S3BucketMissingError extends Error {
  constructor(readonly bucket: string, where: string) {
    super(`cannot open blob store ${where}: bucket ${bucket} does not exist (set createBucket to create it)`);
    this.name = 'S3BucketMissingError';
  }
}

export async function openS3BlobStore(config: S3BlobStoreConfig): Promise<S3BlobStore> {
  const partSize = config.partSize ?? 8 * MiB;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART || partSize > 5 * 1024 * MiB) {
    throw new RangeError(`partSize must be 5 MiB to 5 GiB, got ${partSize}`);
  }
  const presignSeconds = config.presignExpiresSeconds ?? 900;
  checkPresignSeconds(presignSeconds);
  if (typeof config.bucket !== 'string' || config.bucket === '') throw new Error('S3 blob store: bucket is required');
  const maxSockets = config.maxSockets ?? 256;
  if (!Number.isSafeInteger(maxSockets) || maxSockets < 1) throw new RangeError(`maxSockets must be a positive integer, got ${maxSockets}`);
  let prefix = config.prefix ?? '';
  if (prefix.startsWith('/')) throw new Error(`S3 blob store: prefix must not start with "/": ${prefix}`);
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const client =
    config.client ??
    new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle ?? false,
      maxAttempts: config.maxAttempts ?? 3,
      requestHandler: {
        httpAgent: { keepAlive: true, maxSockets },
        httpsAgent: { keepAlive: true, maxSockets },
        connectionTimeout: config.connectTimeoutMs ?? 5000,
        socketTimeout: config.socketTimeoutMs ?? 10_000,
      },
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
    });
  const base = { client, bucket: config.bucket, prefix, partSize, closed: false };
  const stats: S3BlobStoreStats = { segmentsWritten: 0, bytesWritten: 0, merges: 0, bytesReread: 0, resumeBytesRead: 0 };
  const where = `s3://${config.bucket}/${prefix}`;
  try {
    const exists = await ifExists(call(undefined, () => client.send(new HeadBucketCommand({ Bucket: config.bucket }))));
    if (exists === undefined && config.createBucket !== true) throw new S3BucketMissingError(config.bucket, where);
    if (exists === undefined) {
      await call(undefined, () => client.send(new CreateBucketCommand({ Bucket: config.bucket }))).catch((err: unknown) => {
        if ((err as { name?: unknown }).name !== 'BucketAlreadyOwnedByYou') throw err;
      });
    }
    const cas = await probeCas({ ...base, stats });
    return new S3BlobStore({ ...base, stats, cas }, config.client === undefined, presignSeconds);
  } catch (err) {
    if (config.client === undefined) client.destroy();
    if (err instanceof Error && err.message.startsWith('cannot open')) throw err;
    throw new Error(`cannot open blob store ${where}: ${describeError(err)}`, { cause: err });
  }
}

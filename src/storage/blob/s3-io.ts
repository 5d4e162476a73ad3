/**
 * S3 plumbing shared by the S3 BlobStore and its writer: the object layout,
 * error mapping, abortable calls, the per-upload state object and streamed
 * segment reads. Nothing here knows the BlobStore port. storageError() is the
 * store's error boundary: every S3 call goes through call() and so through it.
 *
 * Layout in the bucket, under the configured prefix:
 *
 *   <prefix>blobs/<alg>/<hex>           committed blobs, one object each, named by digest
 *   <prefix>uploads/<id>/state.json     an upload: {"size":N,"segments":[{"name","size"},…]}; the truth
 *   <prefix>uploads/<id>/seg-<n>-<rnd>  its data, in order, as listed in state.json; every segment
 *                                       but a trailing run (the "tail", < 5 MiB in all) is ≥ 5 MiB
 *   <prefix>health/                     probe objects (checkHealth, open)
 *
 * Segment names are never reused, so an object listed in state.json is never
 * overwritten; objects under uploads/<id>/ that state.json does not list are
 * orphans of failed appends, ignored and removed with the upload.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { digestAlgorithm, digestEncoded, type Digest } from '../../oci/digest.js';
import { ConcurrentWriteError, StorageFullError, StoreUnavailableError, networkFailure } from '../errors.js';

/** S3's minimum part size: every segment but the tail is at least this big. */
export const MIN_PART = 5 * 1024 * 1024;
/** S3's maximum number of parts, so of segments in an upload. */
export const MAX_PARTS = 10_000;
/** At most this many tail segments; one more small append merges them. */
export const MAX_TAIL = 64;

/** How conditional PUTs (If-Match) are sent; RGW 16.2 matches only unquoted ETags; 'none': no CAS support. */
export type CasMode = 'quoted' | 'unquoted' | 'none';

/** Read-only counters for metrics and tests. */
export interface S3BlobStoreStats {
  /** Segment objects written, and their bytes (merged tails included). */
  segmentsWritten: number;
  bytesWritten: number;
  /** Tail merges, and the bytes read back for them (appends, truncation and commit). */
  merges: number;
  bytesReread: number;
  /** Bytes read back by resumeUpload to rebuild the hash. */
  resumeBytesRead: number;
}

export interface S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly partSize: number;
  readonly cas: CasMode;
  readonly stats: S3BlobStoreStats;
  closed: boolean;
}

export interface Segment {
  readonly name: string;
  readonly size: number;
}

export interface UploadState {
  readonly size: number;
  readonly segments: readonly Segment[];
}

export interface StoredState {
  readonly state: UploadState;
  readonly etag: string;
  /** LastModified of state.json, ms since the epoch (server clock). */
  readonly modifiedAt: number;
}

export const blobKey = (ctx: S3Context, d: Digest): string => `${ctx.prefix}blobs/${digestAlgorithm(d)}/${digestEncoded(d)}`;
export const uploadDir = (ctx: S3Context, id: string): string => `${ctx.prefix}uploads/${id}/`;
export const stateKey = (ctx: S3Context, id: string): string => `${uploadDir(ctx, id)}state.json`;
export const segmentKey = (ctx: S3Context, id: string, name: string): string => uploadDir(ctx, id) + name;
/** A fresh, never reused segment name; `n` is its position, for humans. */
export const segmentName = (n: number): string => `seg-${n}-${randomBytes(6).toString('hex')}`;

/** Index where the tail (trailing run of segments < MIN_PART) starts. */
export function tailStart(segments: readonly Segment[]): number {
  let i = segments.length;
  while (i > 0 && segments[i - 1]!.size < MIN_PART) i--;
  return i;
}

export function checkOpen(ctx: S3Context): void {
  if (ctx.closed) throw new Error('blob store is closed');
}

interface S3ErrorShape {
  name?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const errorName = (err: unknown): string | undefined => {
  const e = err as S3ErrorShape | null;
  return typeof e?.name === 'string' ? e.name : undefined;
};
const httpStatus = (err: unknown): number | undefined => {
  const status = (err as S3ErrorShape | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
};

/** "name (HTTP status)" of an SDK error, whose message is often just "UnknownError" with non-AWS stores. */
export function describeError(err: unknown): string {
  const status = httpStatus(err);
  const message = err instanceof Error && err.message !== 'UnknownError' ? `: ${err.message}` : '';
  return `${errorName(err) ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}${message}`;
}

/** An ETag without its quotes (stores differ in quoting; compare and keep this form). */
export const bareEtag = (etag: string | undefined): string => (etag ?? '').replaceAll('"', '');

/** The object does not exist (GET NoSuchKey, HEAD NotFound). */
export const isNotFound = (err: unknown): boolean => ['NoSuchKey', 'NotFound'].includes(errorName(err) ?? '');
/** A conditional write lost (412; 404 or 409 from stores that report a vanished or contended object so). */
export const isConflict = (err: unknown): boolean =>
  errorName(err) === 'PreconditionFailed' || errorName(err) === 'ConditionalRequestConflict' || httpStatus(err) === 412;

const FULL = new Set(['QuotaExceeded', 'EntityTooLarge', 'InsufficientCapacity', 'InsufficientStorage', 'TooManyBuckets']);
/** Error names of a store that is down, overloaded or slow (S3 answers most with a 5xx status). */
const UNAVAILABLE = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'TimeoutError']);
/** How the store is named in StoreUnavailableError. */
const STORE = 'S3 blob store';

/**
 * The store's error boundary: quota and capacity errors become StorageFullError;
 * an unreachable store, a timeout and 5xx answers (503 SlowDown, …) become
 * StoreUnavailableError (after the SDK's own retries); anything else passes unchanged.
 */
export function storageError(err: unknown): unknown {
  if (FULL.has(errorName(err) ?? '') || httpStatus(err) === 507) return new StorageFullError(err);
  const network = networkFailure(err) ?? (errorName(err) === 'TimeoutError' ? 'no answer in time' : undefined);
  if (network !== undefined) return new StoreUnavailableError(STORE, network, err);
  const status = httpStatus(err);
  if (UNAVAILABLE.has(errorName(err) ?? '') || (status !== undefined && status >= 500)) return new StoreUnavailableError(STORE, describeError(err), err);
  return err;
}

/**
 * Runs one S3 call with the signal; an aborted call rejects with the signal's
 * reason (the SDK's own AbortError is replaced), other errors go through storageError.
 */
export async function call<T>(signal: AbortSignal | undefined, run: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  try {
    return await run(signal === undefined ? {} : { abortSignal: signal });
  } catch (err) {
    if (signal?.aborted === true) throw signal.reason;
    throw storageError(err);
  }
}

/** The value, or undefined when the call failed because the object does not exist. */
export async function ifExists<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function putObject(ctx: S3Context, key: string, body: Uint8Array, signal?: AbortSignal): Promise<string | undefined> {
  const out = await call(signal, (o) =>
    ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }), o),
  );
  return out.ETag;
}

/** Writes a new segment object and counts it. */
export async function putSegment(ctx: S3Context, id: string, name: string, body: Uint8Array, signal?: AbortSignal): Promise<void> {
  await putObject(ctx, segmentKey(ctx, id, name), body, signal);
  ctx.stats.segmentsWritten++;
  ctx.stats.bytesWritten += body.byteLength;
}

function parseState(text: string, key: string): UploadState {
  const bad = (): never => {
    throw new Error(`corrupt upload state ${key}`);
  };
  const raw = JSON.parse(text) as { size?: unknown; segments?: unknown };
  if (!Number.isSafeInteger(raw.size) || !Array.isArray(raw.segments)) bad();
  let total = 0;
  const segments = (raw.segments as { name?: unknown; size?: unknown }[]).map((s) => {
    if (typeof s?.name !== 'string' || !/^seg-[0-9]+-[0-9a-f]+$/.test(s.name) || !Number.isSafeInteger(s.size)) bad();
    total += s.size as number;
    return { name: s.name as string, size: s.size as number };
  });
  if (total !== raw.size) bad();
  return { size: total, segments };
}

/** The upload's state.json, or undefined when the upload does not exist. */
export async function readState(ctx: S3Context, id: string, signal?: AbortSignal): Promise<StoredState | undefined> {
  const key = stateKey(ctx, id);
  const out = await ifExists(call(signal, (o) => ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }), o)));
  if (out === undefined) return undefined;
  const text = await call(signal, () => out.Body!.transformToString());
  return { state: parseState(text, key), etag: bareEtag(out.ETag), modifiedAt: out.LastModified?.getTime() ?? Date.now() };
}

export interface StateHead {
  readonly etag: string;
  /** From the object's metadata (x-amz-meta-size); undefined if absent. */
  readonly size: number | undefined;
  readonly modifiedAt: number;
}

/**
 * HEAD of state.json: ETag, size and time without a body. (A small GET can
 * cost ~40 ms more than a HEAD on RGW without tcp_nodelay: Nagle + delayed ACK.)
 */
export async function headState(ctx: S3Context, id: string, signal?: AbortSignal): Promise<StateHead | undefined> {
  const out = await ifExists(call(signal, (o) => ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: stateKey(ctx, id) }), o)));
  if (out === undefined) return undefined;
  const size = Number(out.Metadata?.size ?? NaN);
  return { etag: bareEtag(out.ETag), size: Number.isSafeInteger(size) ? size : undefined, modifiedAt: out.LastModified?.getTime() ?? Date.now() };
}

/** Thrown by writeState when state.json is not (or no longer) the version `ifMatch` names. */
export class StateConflictError extends ConcurrentWriteError {
  constructor(id: string) {
    super(id);
    this.name = 'StateConflictError';
  }
}

/**
 * Writes state.json only if it is still at `ifMatch` (a bare ETag), or, with
 * ifMatch 'absent', only if it does not exist. Resolves with the new ETag;
 * StateConflictError otherwise. Without CAS support in the store, it
 * re-reads and compares first (racy across replicas, exact within one).
 */
export async function writeState(ctx: S3Context, id: string, state: UploadState, ifMatch: string, signal?: AbortSignal): Promise<string> {
  const key = stateKey(ctx, id);
  const body = JSON.stringify({ size: state.size, segments: state.segments });
  const condition: { IfMatch?: string; IfNoneMatch?: string } = {};
  if (ctx.cas === 'none') {
    const current = await headState(ctx, id, signal);
    if (ifMatch === 'absent' ? current !== undefined : current?.etag !== ifMatch) throw new StateConflictError(id);
  } else if (ifMatch === 'absent') {
    condition.IfNoneMatch = '*';
  } else {
    condition.IfMatch = ctx.cas === 'quoted' ? `"${ifMatch}"` : ifMatch;
  }
  try {
    const out = await call(signal, (o) =>
      ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: body, ContentType: 'application/json', Metadata: { size: String(state.size) }, ...condition }),
        o,
      ),
    );
    return bareEtag(out.ETag);
  } catch (err) {
    if (isConflict(err) || (ifMatch !== 'absent' && isNotFound(err))) throw new StateConflictError(id);
    throw err;
  }
}

/** Streams an object (or its first `length` bytes) chunk by chunk; NoSuchKey when absent. */
export async function* readObject(ctx: S3Context, key: string, length: number | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  if (length === 0) return;
  const range = length === undefined ? {} : { Range: `bytes=0-${length - 1}` };
  const out = await call(signal, (o) => ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key, ...range }), o));
  const body = out.Body as Readable;
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      yield chunk as Uint8Array;
    }
  } catch (err) {
    if (signal?.aborted === true) throw signal.reason;
    throw err;
  } finally {
    body.destroy();
  }
}

/** Reads segments back to back into `target` at `offset`; returns the offset after them. */
export async function readSegmentsInto(
  ctx: S3Context,
  id: string,
  segments: readonly Segment[],
  target: Buffer,
  offset: number,
  signal?: AbortSignal,
): Promise<number> {
  for (const seg of segments) {
    let at = offset;
    for await (const chunk of readObject(ctx, segmentKey(ctx, id, seg.name), seg.size, signal)) {
      if (at + chunk.byteLength > offset + seg.size) throw new Error(`segment ${seg.name} of upload ${id} is longer than recorded`);
      target.set(chunk, at);
      at += chunk.byteLength;
    }
    if (at !== offset + seg.size) throw new Error(`segment ${seg.name} of upload ${id} is shorter than recorded`);
    offset = at;
  }
  return offset;
}

/** Every object under `prefix`, page by page. */
export async function* listObjects(ctx: S3Context, prefix: string, signal?: AbortSignal): AsyncGenerator<_Object> {
  let token: string | undefined;
  do {
    const page = await call(signal, (o) =>
      ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) }), o),
    );
    for (const item of page.Contents ?? []) yield item;
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

/** Deletes keys (batches of 1000); throws on the first key the store refused. */
export async function deleteKeys(ctx: S3Context, keys: readonly string[], signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    const out = await call(signal, (o) =>
      ctx.client.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: batch, Quiet: true } }), o),
    );
    const failed = out.Errors?.find((e) => e.Code !== 'NoSuchKey');
    if (failed !== undefined) throw new Error(`cannot delete ${failed.Key}: ${failed.Code} ${failed.Message ?? ''}`.trim());
  }
}

/** Deletes the named segments, ignoring failures (they are orphans, removed with the upload anyway). */
export async function dropSegments(ctx: S3Context, id: string, names: readonly string[]): Promise<void> {
  if (names.length === 0 || ctx.closed) return;
  await deleteKeys(ctx, names.map((n) => segmentKey(ctx, id, n))).catch(() => undefined);
}

/** Removes every object of an upload, state.json last (so a partial removal stays listed and is retried). */
export async function deleteUploadObjects(ctx: S3Context, id: string, signal?: AbortSignal): Promise<void> {
  const state = stateKey(ctx, id);
  const keys: string[] = [];
  for await (const item of listObjects(ctx, uploadDir(ctx, id), signal)) if (item.Key !== undefined && item.Key !== state) keys.push(item.Key);
  await deleteKeys(ctx, keys, signal);
  await deleteKeys(ctx, [state], signal);
}

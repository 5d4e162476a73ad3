/**
 * The BlobWriter of the S3 store: an upload is a list of segment objects
 * recorded in state.json (layout in s3-io.ts).
 *
 * - append buffers at most one part (partSize bytes) and PUTs it as a new
 *   segment. A small tail left by earlier appends is read back (< 5 MiB) and
 *   merged into the first new segment once the tail plus new data reach
 *   5 MiB (or the tail has MAX_TAIL pieces), so each byte is rewritten at most
 *   about once and S3's 5 MiB minimum part size never applies to clients.
 * - state.json is written last, conditionally on the ETag the writer knows:
 *   that PUT is the atomic commit point of an append. Segments of a failed
 *   append are deleted best-effort; if that fails they are orphans.
 * - The running sha256 lives in the process; another replica continues it
 *   from its saved state (ResumeOptions.hashState), else rebuilds it with
 *   resumeUpload (one read of the upload).
 * - Before each append, sha512 digest and commit the writer re-reads
 *   state.json: a changed size means another writer took over (ConcurrentWriteError); the
 *   same size with other segments (a resume elsewhere) is adopted.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { digestAlgorithm, digestFromHex, type Digest, type DigestAlgorithm } from '../../oci/digest.js';
import { ConcurrentWriteError, DigestMismatchError, SizeLimitError, WriterClosedError } from '../errors.js';
import {
  MAX_PARTS, MAX_TAIL, MIN_PART, StateConflictError, blobKey, call, checkOpen, deleteUploadObjects, dropSegments, ifExists,
  headState, putObject, putSegment, readObject, readSegmentsInto, readState, segmentKey, segmentName, tailStart, writeState,
  type S3Context, type Segment, type StoredState, type UploadState,
} from './s3-io.js';
import { AppendBounds, abortable } from './stream.js';
import { resumedSha256, saveSha256, type RunningSha256 } from './sha256.js';
import type { AppendOptions, BlobInfo, BlobWriter, ResumeOptions } from './types.js';

/** Parallel UploadPartCopy requests per commit. */
const COPY_CONCURRENCY = 4;

export class S3BlobWriter implements BlobWriter {
  #state: UploadState;
  #etag: string;
  #hash: RunningSha256;
  #closed = false;

  constructor(
    private readonly ctx: S3Context,
    readonly id: string,
    stored: Pick<StoredState, 'state' | 'etag'>,
    hash: RunningSha256,
    readonly rehashedBytes = 0,
  ) {
    this.#state = stored.state;
    this.#etag = stored.etag;
    this.#hash = hash;
  }

  get size(): number {
    return this.#state.size;
  }

  hashState(): Uint8Array | undefined {
    return saveSha256(this.#hash, this.id);
  }

  #checkOpen(): void {
    if (this.#closed) throw new WriterClosedError(this.id);
    checkOpen(this.ctx);
  }

  /** Checks state.json (a HEAD): WriterClosedError when gone, ConcurrentWriteError when its size changed; adopts another version of the same size. */
  async #refresh(signal: AbortSignal | undefined): Promise<void> {
    const head = await headState(this.ctx, this.id, signal);
    if (head?.etag === this.#etag) return;
    const stored = head === undefined ? undefined : await readState(this.ctx, this.id, signal);
    if (stored === undefined) throw new WriterClosedError(this.id);
    if (stored.state.size !== this.#state.size) {
      throw new ConcurrentWriteError(this.id, ` (${stored.state.size} bytes, expected ${this.#state.size})`);
    }
    this.#state = stored.state;
    this.#etag = stored.etag;
  }

  async append(source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const { expectedLength, signal } = options;
    this.#checkOpen();
    const start = this.#state.size;
    const bounds = new AppendBounds(start, options);
    await this.#refresh(signal);
    const { ctx, id } = this;
    const hash = this.#hash.copy();
    const segments = [...this.#state.segments];
    const written: string[] = []; // new segment objects, removed if the append fails
    const replaced: string[] = []; // tail segments merged away, removed if it succeeds
    let tail = tailStart(segments);
    // The buffer keeps room for the tail at its start; new data goes after it.
    let reserved = segments.slice(tail).reduce((n, s) => n + s.size, 0);
    const capacity = expectedLength === undefined ? ctx.partSize : Math.min(ctx.partSize, reserved + expectedLength);
    let buf: Buffer | undefined;
    let fill = reserved;

    const flush = async (): Promise<void> => {
      if (buf === undefined || fill === reserved) return;
      let body = buf.subarray(reserved, fill);
      if (reserved > 0 && (fill >= MIN_PART || segments.length - tail >= MAX_TAIL)) {
        await readSegmentsInto(ctx, id, segments.slice(tail), buf, 0, signal);
        ctx.stats.merges++;
        ctx.stats.bytesReread += reserved;
        replaced.push(...segments.splice(tail).map((s) => s.name));
        body = buf.subarray(0, fill);
      }
      if (segments.length >= MAX_PARTS) throw new SizeLimitError(start + bounds.received - (fill - reserved));
      const name = segmentName(segments.length);
      written.push(name);
      await putSegment(ctx, id, name, body, signal);
      segments.push({ name, size: body.byteLength });
      tail = tailStart(segments);
      reserved = 0;
      fill = 0;
    };

    try {
      for await (const chunk of abortable(source, signal)) {
        bounds.add(chunk.byteLength);
        hash.update(chunk);
        for (let at = 0; at < chunk.byteLength; ) {
          buf ??= Buffer.allocUnsafe(capacity);
          if (fill === buf.byteLength) await flush();
          const take = Math.min(buf.byteLength - fill, chunk.byteLength - at);
          buf.set(chunk.subarray(at, at + take), fill);
          fill += take;
          at += take;
        }
      }
      bounds.checkComplete();
      await flush();
      if (bounds.received === 0) return 0;
      signal?.throwIfAborted(); // last point where the upload is unchanged; the state PUT below is not aborted
      const next: UploadState = { size: start + bounds.received, segments };
      this.#etag = await writeState(ctx, id, next, this.#etag);
      this.#state = next;
      this.#hash = hash;
    } catch (err) {
      await dropSegments(ctx, id, written);
      if (err instanceof StateConflictError && (await headState(ctx, id).catch(() => null)) === undefined) {
        throw new WriterClosedError(id);
      }
      throw err;
    }
    await dropSegments(ctx, id, replaced);
    return bounds.received;
  }

  async digest(algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<Digest> {
    this.#checkOpen();
    signal?.throwIfAborted();
    if (algorithm === 'sha256') return digestFromHex('sha256', this.#hash.copy().digest('hex'));
    await this.#refresh(signal);
    return this.#rehash(algorithm, signal);
  }

  async #rehash(algorithm: DigestAlgorithm, signal: AbortSignal | undefined): Promise<Digest> {
    if (algorithm === 'sha256') return digestFromHex('sha256', this.#hash.copy().digest('hex'));
    const hash = createHash(algorithm);
    for (const seg of this.#state.segments) {
      for await (const chunk of readObject(this.ctx, segmentKey(this.ctx, this.id, seg.name), seg.size, signal)) hash.update(chunk);
    }
    return digestFromHex(algorithm, hash.digest('hex'));
  }

  async commit(expectedDigest: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    this.#checkOpen();
    signal?.throwIfAborted();
    await this.#refresh(signal);
    const actual = await this.#rehash(digestAlgorithm(expectedDigest), signal);
    if (actual !== expectedDigest) throw new DigestMismatchError(expectedDigest, actual);
    signal?.throwIfAborted(); // last point where the store is unchanged; publishing is not aborted
    await publish(this.ctx, this.id, this.#state.segments, blobKey(this.ctx, expectedDigest));
    await deleteUploadObjects(this.ctx, this.id);
    this.#closed = true;
    return { size: this.#state.size };
  }

  async cancel(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return;
    signal?.throwIfAborted();
    await deleteUploadObjects(this.ctx, this.id, signal);
    this.#closed = true;
  }
}

const copySource = (ctx: S3Context, key: string): string =>
  `${encodeURIComponent(ctx.bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;

/**
 * Copies the segments server-side to `key`, unless it exists (deduplication;
 * a race between two commits of one digest writes the same bytes twice).
 * Never uses the ETag of CompleteMultipartUpload (RGW 16.2 returns it empty).
 */
async function publish(ctx: S3Context, id: string, segments: readonly Segment[], key: string): Promise<void> {
  const { client, bucket } = ctx;
  if ((await ifExists(call(undefined, () => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))))) !== undefined) return;
  let parts = [...segments];
  const tail = tailStart(parts);
  if (parts.length - tail > 1) {
    // Several small tail segments: one part must hold them (< 5 MiB, read back once).
    const bytes = parts.slice(tail).reduce((n, s) => n + s.size, 0);
    const buf = Buffer.allocUnsafe(bytes);
    await readSegmentsInto(ctx, id, parts.slice(tail), buf, 0);
    ctx.stats.merges++;
    ctx.stats.bytesReread += bytes;
    if (tail === 0) {
      await putObject(ctx, key, buf);
      return;
    }
    const name = segmentName(tail);
    await putSegment(ctx, id, name, buf); // removed with the upload
    parts = [...parts.slice(0, tail), { name, size: bytes }];
  }
  if (parts.length === 0) {
    await putObject(ctx, key, new Uint8Array(0));
    return;
  }
  if (parts.length === 1) {
    const source = copySource(ctx, segmentKey(ctx, id, parts[0]!.name));
    await call(undefined, () => client.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: source, MetadataDirective: 'COPY' })));
    return;
  }
  const created = await call(undefined, () =>
    client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' })),
  );
  const uploadId = created.UploadId!;
  try {
    const etags: string[] = new Array<string>(parts.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < parts.length; i = next++) {
        const out = await call(undefined, () =>
          client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: i + 1,
              CopySource: copySource(ctx, segmentKey(ctx, id, parts[i]!.name)),
            }),
          ),
        );
        etags[i] = out.CopyPartResult?.ETag ?? '';
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, parts.length) }, worker));
    await call(undefined, () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      ),
    );
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}

/**
 * Reopens upload `id` at `offset` (see BlobStore.resumeUpload): continues the
 * sha256 from options.hashState or reads the kept bytes back once to rebuild
 * it, rewrites the segment the offset cuts (≤ partSize bytes in memory) and
 * records the shorter state. Undefined when the upload or one of its segments
 * is missing, or it holds fewer bytes.
 */
export async function resumeS3Upload(ctx: S3Context, id: string, offset: number, signal?: AbortSignal, options: ResumeOptions = {}): Promise<S3BlobWriter | undefined> {
  const stored = await readState(ctx, id, signal);
  if (stored === undefined || stored.state.size < offset) return undefined;
  const { hash, restored } = await resumedSha256(options, offset, id);
  const kept: Segment[] = [];
  const dropped: string[] = [];
  let cut: Segment | undefined;
  let left = offset;
  try {
    for (const seg of stored.state.segments) {
      if (left === 0) {
        dropped.push(seg.name);
      } else if (seg.size <= left) {
        if (!restored) for await (const chunk of readObject(ctx, segmentKey(ctx, id, seg.name), seg.size, signal)) hash.update(chunk);
        kept.push(seg);
        left -= seg.size;
      } else {
        const buf = Buffer.allocUnsafe(left);
        await readSegmentsInto(ctx, id, [{ name: seg.name, size: left }], buf, 0, signal);
        if (!restored) hash.update(buf);
        cut = { name: segmentName(kept.length), size: left };
        await putSegment(ctx, id, cut.name, buf, signal);
        kept.push(cut);
        dropped.push(seg.name);
        left = 0;
      }
    }
  } catch (err) {
    if (cut !== undefined) await dropSegments(ctx, id, [cut.name]);
    if ((err as { name?: unknown }).name === 'NoSuchKey') return undefined; // the data is gone
    throw err;
  }
  const rehashed = restored ? 0 : offset;
  ctx.stats.resumeBytesRead += rehashed;
  let etag = stored.etag;
  if (stored.state.size > offset) {
    const state = { size: offset, segments: kept };
    try {
      signal?.throwIfAborted(); // last point where the upload is unchanged
      etag = await writeState(ctx, id, state, stored.etag);
    } catch (err) {
      if (cut !== undefined) await dropSegments(ctx, id, [cut.name]);
      throw err;
    }
    await dropSegments(ctx, id, dropped);
    return new S3BlobWriter(ctx, id, { state, etag }, hash, rehashed);
  }
  return new S3BlobWriter(ctx, id, { state: stored.state, etag }, hash, rehashed);
}

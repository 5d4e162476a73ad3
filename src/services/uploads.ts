/**
 * Blob upload sessions (spec "Pushing blobs"): the session state machine over
 * the BlobStore's upload area and the MetadataStore's session records.
 *
 * State: a session record (id, repository, acknowledged offset) in the
 * MetadataStore is the truth; its bytes live in the BlobStore upload area
 * under the same id. The offset is recorded only after the bytes are written,
 * so after a crash the data may hold more bytes than acknowledged, never fewer
 * (resumeUpload truncates the excess). Live writers (with their running hash)
 * are cached per process; a writer missing from the cache is resumed from the
 * store. On a shared metadata store (replicas) sessions hash resumably and save
 * the sha256 state with each acknowledged offset, in the same update, so a
 * writer resumed on another replica continues from it and reads nothing back;
 * otherwise (one process; or no valid state, e.g. a session of an older
 * version) the store re-hashes the bytes once (docs/replicas.md).
 *
 * One request at a time per session: a second concurrent request on the same
 * session is refused (416 with the current Range) rather than interleaved.
 *
 * Garbage collection (docs/gc.md): before a blob is committed, its digest is
 * reserved in the MetadataStore under the upload id, and released once it is
 * linked (or the attempt failed), so that a collector never deletes content
 * that an upload has just deduplicated against. While a collector holds the
 * digest's deletion mark, the upload waits for it to end (at most
 * limits.reserveWaitMs, then 503) and commits the bytes afresh afterwards.
 *
 * Store errors (src/storage/errors.ts) pass through unchanged; the HTTP error
 * handler translates them.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { RegistryLimits } from '../limits.js';
import type { BlobStore, BlobWriter } from '../storage/blob/types.js';
import { type EventContext, type MetadataStore, type UploadSession } from '../storage/meta/types.js';
import { ConcurrentWriteError, DigestMismatchError } from '../storage/errors.js';
import { UploadStats } from './upload-stats.js';

/** Bytes of a request body, with what the client announced about them. */
export interface ChunkInput {
  readonly body: AsyncIterable<Uint8Array>;
  /** Content-Length, when sent. */
  readonly contentLength?: number;
  /** Parsed Content-Range, when sent: inclusive start and end. */
  readonly range?: { readonly start: number; readonly end: number };
  readonly signal?: AbortSignal;
  /** Who uploads: a link that creates the repository records repository.created with it. */
  readonly context?: EventContext;
}

export interface UploadState {
  readonly id: string;
  readonly repository: string;
  readonly offset: number;
}

/**
 * BLOB_UPLOAD_OUT_OF_ORDER (416) with where the upload stands: `offset`
 * bytes held and, when given, the session to resume (http renders them as
 * Range and Location).
 */
export class UploadOutOfOrderError extends RegistryError {
  constructor(
    message: string,
    readonly offset: number,
    readonly session?: { readonly repository: string; readonly id: string },
  ) {
    super('BLOB_UPLOAD_OUT_OF_ORDER', message);
  }
}

function tooManySessions(what: string, limit: number): RegistryError {
  return new RegistryError('TOOMANYREQUESTS', `too many open upload sessions${what} (limit ${limit}); finish or cancel some first`, {
    retryAfterSeconds: 60,
  });
}

export class UploadService {
  private readonly writers = new Map<string, BlobWriter>();
  private readonly busy = new Set<string>();
  /** Sessions opened here per user, for maxUploadSessionsPerUser; a session leaves its set when finished or discarded. */
  private readonly owned = new Map<string, Set<string>>();
  private readonly ownerOf = new Map<string, string>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
    private readonly limits: RegistryLimits,
    private readonly now: () => number = Date.now,
    private readonly stats: UploadStats = new UploadStats(),
  ) {}

  /**
   * Opens a session (end-4a) for `owner` (the authenticated user; undefined:
   * anonymous). Throws TOOMANYREQUESTS past the global, per-repository or
   * per-user session limit.
   */
  async start(repository: string, signal?: AbortSignal, owner?: string): Promise<UploadState> {
    const { maxUploadSessions, maxUploadSessionsPerRepository: perRepository, maxUploadSessionsPerUser: perUser } = this.limits;
    const open = await this.meta.countUploads(signal);
    if (open >= maxUploadSessions) throw tooManySessions('', maxUploadSessions);
    // Fewer sessions in all than a cap: nobody can be at it, no need to look closer.
    if (open >= perRepository) {
      const sessions = await this.meta.listIdleUploads(Number.MAX_SAFE_INTEGER, maxUploadSessions, signal);
      if (sessions.filter((s) => s.repository === repository).length >= perRepository) throw tooManySessions(` in repository ${repository}`, perRepository);
    }
    if (owner !== undefined && open >= perUser && (await this.openOf(owner, signal)) >= perUser) throw tooManySessions(` for user ${owner}`, perUser);
    const id = randomUUID();
    const writer = await this.blobs.createUpload(id, signal, { resumableHash: this.meta.shared });
    const t = this.now();
    try {
      await this.meta.createUpload({ id, repository, offset: 0, createdAt: t, updatedAt: t }, signal);
    } catch (err) {
      await writer.cancel();
      throw err;
    }
    this.writers.set(id, writer);
    if (owner !== undefined) {
      if (!this.owned.has(owner)) this.owned.set(owner, new Set());
      this.owned.get(owner)!.add(id);
      this.ownerOf.set(id, owner);
    }
    return { id, repository, offset: 0 };
  }

  /** Sessions `owner` opened here that are still open (those finished elsewhere, e.g. on another replica, are dropped). */
  private async openOf(owner: string, signal?: AbortSignal): Promise<number> {
    for (const id of [...(this.owned.get(owner) ?? [])]) if (!(await this.meta.getUpload(id, signal))) this.forget(id);
    return this.owned.get(owner)?.size ?? 0;
  }

  private forget(id: string): void {
    const owner = this.ownerOf.get(id);
    if (owner === undefined) return;
    this.ownerOf.delete(id);
    const ids = this.owned.get(owner);
    ids?.delete(id);
    if (ids?.size === 0) this.owned.delete(owner);
  }

  /**
   * Single-request monolithic upload (end-4b): streams the body, verifies
   * `digest`, stores and links the blob. Nothing is stored on any failure.
   */
  async uploadWhole(repository: string, digest: Digest, chunk: ChunkInput): Promise<Digest> {
    const id = randomUUID();
    this.busy.add(id); // keeps the sweep away from this session-less upload
    try {
      const writer = await this.blobs.createUpload(id, chunk.signal);
      try {
        await this.appendTo(writer, chunk);
        await this.withReservation(digest, id, true, chunk.signal, async () => {
          const info = await writer.commit(digest, chunk.signal);
          await this.meta.linkBlob(repository, { digest, size: info.size }, this.now(), chunk.signal, chunk.context);
        });
        return digest;
      } catch (err) {
        await writer.cancel().catch(() => undefined); // a store that is down keeps the error that said so; the sweep removes the rest
        throw err;
      }
    } finally {
      this.busy.delete(id);
    }
  }

  /**
   * Cross-repository mount (end-11): links `digest` from `from` into
   * `repository`. Resolves false when `from` does not hold the blob. With
   * `context`, records blob.mounted (and repository.created).
   */
  async mount(repository: string, digest: Digest, from: string, signal?: AbortSignal, context?: EventContext): Promise<boolean> {
    // A digest marked for deletion is linked nowhere, so `from` does not hold it: no need to wait.
    const mounted = await this.withReservation(digest, randomUUID(), false, signal, async () => {
      const link = await this.meta.getBlobLink(from, digest, signal);
      if (!link || !(await this.blobs.stat(digest, signal))) return false;
      await this.meta.linkBlob(repository, link, this.now(), signal, context && { ...context, mountedFrom: from });
      return true;
    });
    return mounted === true;
  }

  /**
   * The session's state (end-13). Throws BLOB_UPLOAD_UNKNOWN, also when the
   * session's data is gone (a crash while it was being committed): an offset
   * answered here can be resumed from. While another request on the session
   * runs, answers the last acknowledged offset.
   */
  async status(repository: string, id: string, signal?: AbortSignal): Promise<UploadState> {
    const session = await this.session(repository, id, signal);
    if (this.busy.has(id)) return { id, repository, offset: session.offset };
    return this.exclusive(repository, id, signal, async () => {
      const writer = await this.writer(await this.session(repository, id, signal), signal);
      return { id, repository, offset: writer.size };
    });
  }

  /**
   * Appends a chunk (end-5). With a range, it must start at the current
   * offset (else 416) and its length must match Content-Length.
   */
  async append(repository: string, id: string, chunk: ChunkInput): Promise<UploadState> {
    return this.exclusive(repository, id, chunk.signal, async () => {
      const session = await this.session(repository, id, chunk.signal);
      const writer = await this.writer(session, chunk.signal);
      await this.appendChecked(session, writer, chunk);
      return { id, repository, offset: writer.size };
    });
  }

  /**
   * Closes the session (end-6): appends the optional last chunk, verifies
   * `digest` over the whole blob, stores and links it. A digest mismatch
   * removes the session and stores nothing (DIGEST_INVALID).
   */
  async finish(repository: string, id: string, digest: Digest, chunk: ChunkInput): Promise<Digest> {
    return this.exclusive(repository, id, chunk.signal, async () => {
      const session = await this.session(repository, id, chunk.signal);
      const writer = await this.writer(session, chunk.signal);
      // The offset of the last chunk is not recorded: the session ends here, or a failed commit leaves it at the acknowledged offset.
      await this.appendChecked(session, writer, chunk, false);
      await this.withReservation(digest, id, true, chunk.signal, async () => {
        let size: number;
        try {
          size = (await writer.commit(digest, chunk.signal)).size;
        } catch (err) {
          if (err instanceof DigestMismatchError) await this.discard(id, writer);
          if (err instanceof ConcurrentWriteError) this.writers.delete(id);
          throw err;
        }
        this.writers.delete(id);
        await this.meta.linkBlob(repository, { digest, size }, this.now(), chunk.signal, chunk.context);
      });
      await this.meta.deleteUpload(id, chunk.signal);
      this.forget(id);
      return digest;
    });
  }

  /** Cancels a session and removes its bytes (DELETE on the upload URL). */
  async cancel(repository: string, id: string, signal?: AbortSignal): Promise<void> {
    return this.exclusive(repository, id, signal, async () => {
      await this.session(repository, id, signal);
      await this.discard(id, this.writers.get(id));
    });
  }

  /**
   * Removes sessions idle longer than the TTL, with their bytes, and upload
   * data that no session owns (e.g. a monolithic upload cut by a crash) once
   * it is older than `orphanAgeMs`. Returns how many of each were removed.
   */
  async sweep(orphanAgeMs: number = this.limits.uploadSessionTtlMs, signal?: AbortSignal): Promise<{ sessions: number; orphans: number }> {
    const now = this.now();
    let sessions = 0;
    for (;;) {
      const idle = (await this.meta.listIdleUploads(now - this.limits.uploadSessionTtlMs, 100, signal)).filter((s) => !this.busy.has(s.id));
      if (idle.length === 0) break;
      for (const s of idle) {
        await this.discard(s.id, this.writers.get(s.id));
        sessions++;
      }
    }
    let orphans = 0;
    for await (const upload of this.blobs.listUploads(signal)) {
      if (this.writers.has(upload.id) || this.busy.has(upload.id) || now - upload.modifiedAt < orphanAgeMs) continue;
      if (await this.meta.getUpload(upload.id, signal)) continue;
      await this.blobs.deleteUpload(upload.id, signal);
      orphans++;
    }
    return { sessions, orphans };
  }

  /**
   * Runs `fn` while `digest` is reserved for `holder`, releasing it afterwards
   * (also on failure). While a collector holds the digest's deletion mark:
   * with `wait`, retries for up to limits.reserveWaitMs, then throws UNAVAILABLE;
   * without, resolves undefined and does not run `fn`.
   */
  private async withReservation<T>(digest: Digest, holder: string, wait: boolean, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T | undefined> {
    const meta = this.meta;
    const deadline = Date.now() + this.limits.reserveWaitMs;
    for (let delay = 5; !(await meta.reserveBlob(digest, holder, this.now(), this.limits.uploadSessionTtlMs, signal)); delay = Math.min(delay * 2, 250)) {
      if (!wait) return undefined;
      if (Date.now() >= deadline) {
        throw new RegistryError('UNAVAILABLE', `blob ${digest} is being garbage-collected; retry the upload`);
      }
      await sleep(delay, undefined, signal ? { signal } : {});
    }
    try {
      return await fn();
    } finally {
      // Without the request's signal: a client gone mid-commit still releases. A failed release expires with its TTL.
      await meta.releaseBlob(digest, holder).catch(() => undefined);
    }
  }

  private async session(repository: string, id: string, signal?: AbortSignal): Promise<UploadSession> {
    const session = await this.meta.getUpload(id, signal);
    if (!session || session.repository !== repository) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is not an open upload session of repository ${repository}`);
    }
    return session;
  }

  private async writer(session: UploadSession, signal?: AbortSignal): Promise<BlobWriter> {
    const cached = this.writers.get(session.id);
    if (cached && cached.size === session.offset) return cached;
    const { hashState } = session;
    const resumed = await this.blobs.resumeUpload(session.id, session.offset, signal, { resumableHash: this.meta.shared, ...(hashState ? { hashState } : {}) });
    if (!resumed) {
      await this.meta.deleteUpload(session.id, signal);
      this.writers.delete(session.id);
      this.forget(session.id);
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `the data of upload ${session.id} was lost; start a new upload`);
    }
    this.stats.resumes++;
    if (resumed.rehashedBytes === 0) this.stats.resumesWithoutReread++;
    this.stats.rehashedBytes += resumed.rehashedBytes;
    this.writers.set(session.id, resumed);
    return resumed;
  }

  /** Appends `chunk` after checking its range; with `record`, records the new offset (acknowledging the bytes). */
  private async appendChecked(session: UploadSession, writer: BlobWriter, chunk: ChunkInput, record = true): Promise<void> {
    if (chunk.range) {
      const { start, end } = chunk.range;
      // spec "Pushing a blob in chunks": MUST 416 out of order; distribution-spec-next: the final chunk (end-6) too.
      if (start !== writer.size) {
        throw new UploadOutOfOrderError(`chunk starts at byte ${start} but the upload holds ${writer.size} bytes; resume at ${writer.size}`, writer.size, {
          repository: session.repository,
          id: session.id,
        });
      }
      if (chunk.contentLength !== undefined && chunk.contentLength !== end - start + 1) {
        throw new RegistryError('SIZE_INVALID', `Content-Range ${start}-${end} is ${end - start + 1} bytes but Content-Length is ${chunk.contentLength}`);
      }
    }
    const before = writer.size;
    await this.appendTo(writer, chunk);
    if (record && writer.size !== before) await this.meta.updateUpload(session.id, writer.size, this.now(), chunk.signal, writer.hashState());
  }

  private async appendTo(writer: BlobWriter, chunk: ChunkInput): Promise<void> {
    const expectedLength = chunk.range ? chunk.range.end - chunk.range.start + 1 : chunk.contentLength;
    try {
      await writer.append(chunk.body, {
        ...(expectedLength !== undefined ? { expectedLength } : {}),
        maxTotalSize: this.limits.maxBlobSize,
        ...(chunk.signal ? { signal: chunk.signal } : {}),
      });
    } catch (err) {
      // A writer another request or replica overtook is stale: the next request resumes from the store.
      if (err instanceof ConcurrentWriteError) this.writers.delete(writer.id);
      throw err;
    }
  }

  private async discard(id: string, writer: BlobWriter | undefined): Promise<void> {
    this.writers.delete(id);
    if (writer) await writer.cancel();
    else await this.blobs.deleteUpload(id);
    await this.meta.deleteUpload(id);
    this.forget(id);
  }

  /**
   * Runs `fn` as the one request on session `id`. The session is looked up in
   * `repository` first: a session of another repository is unknown here
   * (404), never "busy", so its existence does not leak across repositories.
   */
  private async exclusive<T>(repository: string, id: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const session = await this.session(repository, id, signal);
    if (this.busy.has(id)) {
      throw new UploadOutOfOrderError(`upload ${id} is busy with another request; retry once it has finished`, session.offset);
    }
    this.busy.add(id);
    try {
      return await fn();
    } finally {
      this.busy.delete(id);
    }
  }
}

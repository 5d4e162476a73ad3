/**
 * The BlobLifecycle state of the in-memory MetadataStore (types.ts): per
 * digest its last use and deletion mark, its reservations, and how many
 * manifest references point at it. Each method is synchronous, hence atomic.
 * The store tells it whether a digest is linked (`isLinked`).
 */
import type { Digest } from '../../../oci/digest.js';
import type { MarkBlobOptions } from '../types.js';

interface BlobState {
  lastUsed: number;
  mark?: { readonly holder: string; readonly until: number };
}

export class MemoryBlobLifecycle {
  readonly #state = new Map<Digest, BlobState>();
  /** digest -> holder -> expiry */
  readonly #reservations = new Map<Digest, Map<string, number>>();
  /** digest -> number of manifest references to it (any repository, any kind) */
  readonly #refs = new Map<Digest, number>();

  constructor(private readonly isLinked: (digest: Digest) => boolean) {}

  touch(digest: Digest, now: number): void {
    const state = this.#state.get(digest);
    if (state === undefined) this.#state.set(digest, { lastUsed: now });
    else state.lastUsed = Math.max(state.lastUsed, now);
  }

  /** A manifest referencing `targets` was stored (delta 1) or deleted (delta -1). */
  countRefs(targets: Iterable<Digest>, delta: 1 | -1): void {
    for (const digest of new Set(targets)) {
      const n = (this.#refs.get(digest) ?? 0) + delta;
      if (n > 0) this.#refs.set(digest, n);
      else this.#refs.delete(digest);
    }
  }

  reserve(digest: Digest, holder: string, now: number, ttlMs: number): boolean {
    this.#pruneReservations(digest, now);
    const state = this.#state.get(digest);
    if (state?.mark !== undefined && state.mark.until > now) return false;
    if (state !== undefined) delete state.mark;
    this.touch(digest, now);
    let holders = this.#reservations.get(digest);
    if (holders === undefined) this.#reservations.set(digest, (holders = new Map()));
    holders.set(holder, now + ttlMs);
    return true;
  }

  /** Whether the digest has a reservation unexpired at `now`. */
  reserved(digest: Digest, now: number): boolean {
    for (const until of this.#reservations.get(digest)?.values() ?? []) if (until > now) return true;
    return false;
  }

  release(digest: Digest, holder: string): void {
    const holders = this.#reservations.get(digest);
    holders?.delete(holder);
    if (holders?.size === 0) this.#reservations.delete(digest);
  }

  mark(digest: Digest, holder: string, options: MarkBlobOptions): boolean {
    const { now, graceMs, leaseMs, dryRun = false } = options;
    if (this.isLinked(digest) || this.#refs.has(digest)) return false;
    if (this.reserved(digest, now)) return false;
    let state = this.#state.get(digest);
    if (state?.mark !== undefined && state.mark.until > now && state.mark.holder !== holder) return false;
    if (state === undefined && !dryRun) this.#state.set(digest, (state = { lastUsed: now }));
    if (now - (state?.lastUsed ?? now) < graceMs) return false;
    if (dryRun) return true;
    this.#reservations.delete(digest); // every one of them has expired
    state!.mark = { holder, until: now + leaseMs };
    return true;
  }

  unmark(digest: Digest, holder: string): void {
    const state = this.#state.get(digest);
    if (state?.mark?.holder !== holder) return;
    if (this.isLinked(digest)) delete state.mark;
    else this.#state.delete(digest);
  }

  clear(): void {
    this.#state.clear();
    this.#reservations.clear();
    this.#refs.clear();
  }

  #pruneReservations(digest: Digest, now: number): void {
    const holders = this.#reservations.get(digest);
    if (holders === undefined) return;
    for (const [holder, until] of holders) if (until <= now) holders.delete(holder);
    if (holders.size === 0) this.#reservations.delete(digest);
  }
}

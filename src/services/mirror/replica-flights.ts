/**
 * Single flight across replicas (docs/mirror.md): a replica's flight (one
 * per key in a process, flights.ts and MirrorService.coalesce) takes the
 * lease `key` in the shared metadata store (LeaseStore) before it sends its
 * upstream GET, and holds it, renewed every third of LEASE_TTL_MS, until the
 * content is committed or the fetch failed. While another replica holds it,
 * the flight sends nothing upstream: it polls (25 ms, doubling to 400 ms)
 * until `ready` finds the content committed in the shared stores, or until it
 * can take the lease itself, i.e. the holder released it after a failure or
 * stopped renewing it (it died: takeover within LEASE_TTL_MS). A follower
 * thus waits at most as long as a live holder makes progress (the holder's
 * transfer fails after `timeoutMs` without bytes) plus one lease period.
 * Followers do not read another replica's growing copy: they wait for the
 * commit and then serve it from the shared storage.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetadataStore } from '../../storage/meta/types.js';

export const LEASE_TTL_MS = 10_000;
const POLL_FIRST_MS = 25;
const POLL_MAX_MS = 400;

/** A lease this replica holds; release() is idempotent and never throws (an unreleased lease expires). */
export class HeldLease {
  #timer: NodeJS.Timeout | undefined;
  #released = false;

  constructor(
    private readonly meta: MetadataStore,
    readonly key: string,
    private readonly holder: string,
    ttlMs: number,
  ) {
    // A failed renewal is not fatal: the transfer goes on; at worst another replica fetches too.
    this.#timer = setInterval(() => void meta.renewLease(key, holder, meta.clock(), ttlMs).catch(() => undefined), Math.max(1, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.meta.releaseLease(this.key, this.holder).catch(() => undefined);
  }
}

export type Led<T> = { readonly lease: HeldLease } | { readonly found: T };

export class ReplicaFlights {
  constructor(
    private readonly meta: MetadataStore,
    private readonly ttlMs = LEASE_TTL_MS,
  ) {}

  /**
   * Takes the lease `key` (waiting while another replica holds it) and
   * resolves with it, or with what `ready` found committed meanwhile (then
   * holding nothing). Rejects when `signal` aborts or the store fails.
   */
  async lead<T>(key: string, ready: () => Promise<T | undefined>, signal?: AbortSignal): Promise<Led<T>> {
    const holder = randomUUID();
    for (let wait = POLL_FIRST_MS; ; wait = Math.min(wait * 2, POLL_MAX_MS)) {
      if (await this.meta.acquireLease(key, holder, this.meta.clock(), this.ttlMs, signal)) {
        const lease = new HeldLease(this.meta, key, holder, this.ttlMs);
        // The previous holder may have committed it between our last look and its release.
        const found = await ready().catch(async (err: unknown) => {
          await lease.release();
          throw err;
        });
        if (found === undefined) return { lease };
        await lease.release();
        return { found };
      }
      const found = await ready();
      if (found !== undefined) return { found };
      await sleep(wait, undefined, signal ? { signal } : {});
    }
  }
}

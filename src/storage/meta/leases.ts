/**
 * Leases: the MetadataStore port's mutual exclusion across processes sharing
 * one store (replicas), e.g. the mirror's single flight of an upstream fetch
 * (docs/mirror.md). A lease is a key held by one holder until an expiry; a
 * holder that dies stops blocking the others at that expiry (takeover).
 * Times come from the store's clock() (one clock for every replica).
 * Types only (node-free, like events.ts).
 */
export interface LeaseStore {
  /**
   * In one transaction: when the lease `key` is free, expired at `now`, or
   * already held by `holder`, records it for `holder` until `now + ttlMs`
   * and resolves true; otherwise (another holder's lease is unexpired)
   * resolves false, changing nothing. Expired leases of other keys may be
   * removed along the way.
   */
  acquireLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Extends the lease to `now + ttlMs` only while `holder` holds it unexpired
   * at `now`; resolves whether it did (false: it expired or was released,
   * and another holder may have it).
   */
  renewLease(key: string, holder: string, now: number, ttlMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Drops the lease when `holder` holds it (expired or not); another holder's lease stays. Idempotent. */
  releaseLease(key: string, holder: string, signal?: AbortSignal): Promise<void>;
}

/** The leases of the in-memory MetadataStore (../leases.ts LeaseStore). */
export class MemoryLeases {
  readonly #leases = new Map<string, { holder: string; until: number }>();

  acquire(key: string, holder: string, now: number, ttlMs: number): boolean {
    for (const [k, lease] of this.#leases) if (lease.until <= now) this.#leases.delete(k);
    const lease = this.#leases.get(key);
    if (lease !== undefined && lease.holder !== holder) return false;
    this.#leases.set(key, { holder, until: now + ttlMs });
    return true;
  }

  renew(key: string, holder: string, now: number, ttlMs: number): boolean {
    const lease = this.#leases.get(key);
    if (lease === undefined || lease.holder !== holder || lease.until <= now) return false;
    lease.until = now + ttlMs;
    return true;
  }

  release(key: string, holder: string): void {
    if (this.#leases.get(key)?.holder === holder) this.#leases.delete(key);
  }

  clear(): void {
    this.#leases.clear();
  }
}

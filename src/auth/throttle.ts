/**
 * Failed-login throttling, counted per client address and per user name
 * from that address (never per user name alone: a user is never locked out
 * of their own address by someone else's guesses, e.g. an attacker on
 * another network or a colleague behind the same NAT typing another name).
 *
 *   - `maxFailures` failed logins for one user from one address within
 *     `windowMs`: further attempts for that user from that address wait
 *     until the oldest failure leaves the window (429 with Retry-After);
 *   - `maxAddressFailures` failed logins from one address within
 *     `windowMs`, whatever the user names: that address waits likewise.
 *
 * An attempt is counted before its password is compared (begin()) and
 * uncounted when it succeeds, so a burst of parallel attempts gets at most
 * the allowed number of comparisons. A success clears that user's failures
 * from that address. Memory is bounded by `maxKeys`; when full, the oldest
 * keys are forgotten first.
 */

export interface ThrottleOptions {
  /** Per user name and client address; default 5. */
  readonly maxFailures?: number;
  /** Per client address, any user names; default 4 × maxFailures. */
  readonly maxAddressFailures?: number;
  /** Default 60 000 ms. */
  readonly windowMs?: number;
  /** Default 10 000. */
  readonly maxKeys?: number;
}

/** A counted attempt; settle it once the password has been compared. */
export interface LoginAttempt {
  succeeded(): void;
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  readonly maxFailures: number;
  readonly maxAddressFailures: number;
  readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(options: ThrottleOptions = {}) {
    this.maxFailures = options.maxFailures ?? 5;
    this.maxAddressFailures = options.maxAddressFailures ?? 4 * this.maxFailures;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  private recent(key: string, now: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length === 0) this.failures.delete(key);
    else this.failures.set(key, times);
    return times;
  }

  private limits(user: string, address: string): Array<[string, number]> {
    return [
      [`ip:${address}`, this.maxAddressFailures],
      [`user:${user}\0ip:${address}`, this.maxFailures],
    ];
  }

  /** Seconds until `user` may try again from `address`; 0 when not throttled. */
  retryAfterSeconds(user: string, address: string, now = Date.now()): number {
    let wait = 0;
    for (const [key, max] of this.limits(user, address)) {
      const times = this.recent(key, now);
      if (times.length >= max) wait = Math.max(wait, times[times.length - max]! + this.windowMs - now);
    }
    return wait > 0 ? Math.max(1, Math.ceil(wait / 1000)) : 0;
  }

  /**
   * Counts an attempt of `user` from `address` as a failure now, before the
   * password is compared; answers the seconds to wait instead (nothing
   * counted) when either limit is reached.
   */
  begin(user: string, address: string, now = Date.now()): { readonly wait: number } | LoginAttempt {
    const wait = this.retryAfterSeconds(user, address, now);
    if (wait > 0) return { wait };
    const [[addressKey], [userKey]] = this.limits(user, address) as [[string, number], [string, number]];
    for (const [key, max] of this.limits(user, address)) {
      const times = this.recent(key, now);
      times.push(now);
      if (times.length > max) times.shift();
      this.failures.delete(key); // re-insert: Map order is the eviction order
      this.failures.set(key, times);
    }
    while (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
    return {
      succeeded: () => {
        this.failures.delete(userKey);
        const times = this.failures.get(addressKey);
        const i = times?.lastIndexOf(now) ?? -1;
        if (times && i !== -1) times.splice(i, 1);
      },
    };
  }
}

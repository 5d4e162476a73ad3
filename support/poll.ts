/**
 * Polling for tests that wait on something the server does in the
 * background (event delivery, audit writes): reads until a condition holds.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `read` until `done` accepts its value, waiting `intervalMs` between
 * reads, `tries` reads at most; resolves the last value read (accepted or
 * not: the caller asserts on it, with its own message).
 */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, { tries = 100, intervalMs = 100 } = {}): Promise<T> {
  for (let i = 1; ; i++) {
    const value = await read();
    if (done(value) || i >= tries) return value;
    await sleep(intervalMs);
  }
}

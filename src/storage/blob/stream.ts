/**
 * Validation and streaming helpers shared by every BlobStore: upload id and
 * count checks, the bounds of an append, and abortable iteration of a source.
 */
import { LengthMismatchError, SizeLimitError } from '../errors.js';
import type { AppendOptions } from './types.js';

/** Upload ids accepted by every store: 1 to 128 of [A-Za-z0-9_-]. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Throws a plain Error unless `id` matches UPLOAD_ID (so it is safe as a file name or key). */
export function checkUploadId(id: string): void {
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) {
    throw new Error(`invalid upload id ${JSON.stringify(String(id).slice(0, 140))}: expected 1-128 of [A-Za-z0-9_-]`);
  }
}

/** Throws RangeError unless `value` is undefined or a non-negative safe integer. */
export function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/**
 * The bounds of one append to an upload that holds `start` bytes. The
 * constructor is the prologue every append runs before reading a byte: it
 * rejects an aborted signal, malformed counts (RangeError) and an
 * expectedLength that cannot fit under maxTotalSize (SizeLimitError).
 */
export class AppendBounds {
  /** Bytes counted so far. */
  received = 0;
  readonly #start: number;
  readonly #expectedLength: number | undefined;
  readonly #maxTotalSize: number | undefined;

  constructor(start: number, options: AppendOptions) {
    const { expectedLength, maxTotalSize, signal } = options;
    signal?.throwIfAborted();
    checkCount('expectedLength', expectedLength);
    checkCount('maxTotalSize', maxTotalSize);
    if (maxTotalSize !== undefined && expectedLength !== undefined && start + expectedLength > maxTotalSize) {
      throw new SizeLimitError(maxTotalSize);
    }
    this.#start = start;
    this.#expectedLength = expectedLength;
    this.#maxTotalSize = maxTotalSize;
  }

  /** Counts a chunk: LengthMismatchError past expectedLength, SizeLimitError past maxTotalSize. */
  add(bytes: number): void {
    this.received += bytes;
    const { received } = this;
    if (this.#expectedLength !== undefined && received > this.#expectedLength) throw new LengthMismatchError(this.#expectedLength, received);
    if (this.#maxTotalSize !== undefined && this.#start + received > this.#maxTotalSize) throw new SizeLimitError(this.#maxTotalSize);
  }

  /** At the end of the source: LengthMismatchError unless exactly expectedLength bytes came. */
  checkComplete(): void {
    if (this.#expectedLength !== undefined && this.received !== this.#expectedLength) throw new LengthMismatchError(this.#expectedLength, this.received);
  }
}

/** `next`, or a rejection with the signal's reason as soon as it aborts. Holds nothing once settled. */
function untilAborted<T>(next: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    next.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Iterates `source`, rejecting with the signal's reason as soon as it aborts,
 * even while the source stalls. Each step races the abort with its own
 * short-lived promise: racing one long-lived promise instead would retain
 * every chunk through its reaction list (the whole blob, for an upload).
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  signal?.throwIfAborted();
  if (signal === undefined) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  let stalled = false;
  try {
    for (;;) {
      stalled = true;
      const step = await untilAborted(it.next(), signal);
      stalled = false;
      if (step.done === true) return;
      yield step.value;
      signal.throwIfAborted();
    }
  } finally {
    const destroy = (source as { destroy?: (err?: unknown) => void }).destroy;
    if (stalled && typeof destroy === 'function') destroy.call(source, signal.reason);
    // A pending next() would block an async generator's return(); do not wait for it then.
    const done = Promise.resolve(it.return?.()).catch(() => undefined);
    if (!stalled) await done;
  }
}

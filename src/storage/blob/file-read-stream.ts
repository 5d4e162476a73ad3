/**
 * The Readable of a blob file, or of a byte range of it, from an open handle
 * (closed when the stream ends or is destroyed).
 *
 * Read or iterated like any Readable, it hands out a fresh buffer of up to
 * CHUNK bytes per read. Piped into an HTTP response (`pipe(res)`, how Fastify
 * sends a stream body), it reads into at most POOL buffers instead and reuses
 * one once the response's write callback says its bytes were handed to the
 * socket, and up to SPARE of them back to a process-wide free list when the
 * response is done: a 512 MiB pull allocates at most 3 MiB, not 512 buffers
 * the garbage collector has to find and free, and a stream of 1 MiB layer
 * pulls allocates nothing (issue 20; docs/benchmarks.md). Only an
 * OutgoingMessage qualifies: its write callback runs after the socket write,
 * while e.g. a PassThrough's runs when the chunk is merely queued.
 */
import { OutgoingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** 1 MiB reads: a sixteenth of the syscalls and stream turns of the 64 KiB default. */
const CHUNK = 1024 * 1024;
/** Buffers per piped response: one being read into while up to two are written. */
const POOL = 3;
/** Spare CHUNK buffers kept between responses (at most 8 MiB idle), so that many small pulls allocate nothing either. */
const SPARE = 8;
const spare: Buffer[] = [];

function takeBuffer(remaining: number): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(Math.min(CHUNK, remaining));
}

function returnBuffer(buffer: Buffer): void {
  if (buffer.length === CHUNK && spare.length < SPARE) spare.push(buffer);
}

/** Resolves on the next of `events` from `emitter`. */
function once(emitter: NodeJS.EventEmitter, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) emitter.off(e, done);
      resolve();
    };
    for (const e of events) emitter.on(e, done);
  });
}

export class FileReadStream extends Readable {
  readonly #handle: FileHandle;
  #position: number;
  /** Exclusive. */
  readonly #end: number;
  #piped = false;

  /** Streams bytes `start` to `end` inclusive of the file (`end` = start - 1: none). */
  constructor(handle: FileHandle, start: number, end: number) {
    super({ highWaterMark: CHUNK });
    this.#handle = handle;
    this.#position = start;
    this.#end = end + 1;
  }

  /** The next bytes of the file, or an error when it is shorter than it was when opened. */
  async #readInto(buffer: Buffer): Promise<Buffer> {
    const want = Math.min(buffer.length, this.#end - this.#position);
    const { bytesRead } = await this.#handle.read(buffer, 0, want, this.#position);
    if (bytesRead === 0) throw new Error(`blob file ended at byte ${this.#position}, expected ${this.#end}`);
    this.#position += bytesRead;
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }

  override _read(): void {
    if (this.#piped) return;
    if (this.#position >= this.#end) {
      this.push(null);
      return;
    }
    this.#readInto(Buffer.allocUnsafeSlow(Math.min(CHUNK, this.#end - this.#position))).then(
      (chunk) => this.push(chunk),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // close() waits for a read in flight.
    this.#handle.close().then(
      () => callback(err),
      (closeErr: Error) => callback(err ?? closeErr),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean | undefined }): T {
    if (this.#piped || !(dest instanceof OutgoingMessage) || this.readableFlowing !== null || this.readableLength > 0) {
      return super.pipe(dest, options);
    }
    this.#piped = true;
    void this.#pump(dest, options?.end !== false);
    return dest;
  }

  /** Writes the file to `res` through the pool; ends this stream ('end') when all was written, destroys it on a failure. */
  async #pump(res: OutgoingMessage, end: boolean): Promise<void> {
    const free: Buffer[] = [];
    let taken = 0;
    let done = false; // from then on, a buffer whose write completes goes back to the spares
    let wake: (() => void) | undefined;
    const stop = () => wake?.();
    res.on('close', stop); // a response gone mid-transfer never calls back: stop waiting for buffers
    try {
      while (this.#position < this.#end && !this.destroyed && !res.destroyed) {
        let buffer = free.pop();
        if (buffer === undefined && taken < POOL) {
          buffer = takeBuffer(this.#end - this.#position);
          taken++;
        }
        if (buffer === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const chunk = await this.#readInto(buffer);
        if (this.destroyed || res.destroyed) return;
        if (res.writableNeedDrain) await once(res, ['drain', 'close']); // not a flag of our own: the drain may have come during the read
        if (res.destroyed) return;
        const reusable = buffer;
        res.write(chunk, (err) => {
          if (err) return;
          if (done) return returnBuffer(reusable);
          free.push(reusable);
          wake?.();
        });
      }
      if (this.destroyed || res.destroyed) return;
      this.push(null);
      this.resume(); // emits 'end' for whoever watches this stream (Fastify's end-of-stream)
      if (end) res.end();
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      done = true;
      res.off('close', stop);
      for (const buffer of free) returnBuffer(buffer);
    }
  }
}

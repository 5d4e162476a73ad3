/**
 * A queue of chunks read as an AsyncIterable, one chunk per step, as they
 * were pushed (never joined: a Readable's iterator concatenates what is
 * buffered). `push` answers false once `windowBytes` are queued; `drained`
 * resolves when the reader has taken them below it again, or gave up.
 */
export class ChunkQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  private ended = false;
  private error: Error | undefined;
  /** The reader gave up (returned early or failed): pushes are dropped. */
  private closed = false;
  private wake: (() => void) | undefined;
  private drain: (() => void) | undefined;

  constructor(private readonly windowBytes: number) {}

  push(chunk: Uint8Array): boolean {
    if (this.closed || this.ended || this.error) return true;
    this.chunks.push(chunk);
    this.queued += chunk.byteLength;
    this.signal();
    return this.queued < this.windowBytes;
  }

  /** Resolves when fewer than the window's bytes are queued, or the reader is gone. */
  drained(): Promise<void> {
    if (this.closed || this.queued < this.windowBytes) return Promise.resolve();
    return new Promise((resolve) => (this.drain = resolve));
  }

  end(): void {
    this.ended = true;
    this.signal();
  }

  /** The reader's next step throws `error` (after nothing more). */
  destroy(error: Error): void {
    this.error ??= error;
    this.chunks.length = this.head = this.queued = 0;
    this.signal();
    this.release();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private release(): void {
    const drain = this.drain;
    this.drain = undefined;
    drain?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (;;) {
        if (this.error) throw this.error;
        if (this.head < this.chunks.length) {
          const chunk = this.chunks[this.head]!;
          this.chunks[this.head++] = EMPTY;
          if (this.head > 1024 && this.head * 2 > this.chunks.length) {
            this.chunks.splice(0, this.head); // taken slots are dropped now and then, not one shift per chunk
            this.head = 0;
          }
          this.queued -= chunk.byteLength;
          if (this.queued < this.windowBytes) this.release();
          yield chunk;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.closed = true;
      this.release();
    }
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Single flight of blob fetches (in this process): the first pull of an
 * uncached blob (the leader) opens one upstream GET whose body is written to
 * the BlobStore through `ingest` (an upload committed under the digest and
 * linked, or nothing on any failure) while the same bytes stream to the
 * leader's client. Pulls of the same key meanwhile (followers) send nothing
 * upstream: they wait for the commit and read the local copy. `open` may
 * find the blob stored by another replica instead (replica-flights.ts): the
 * flight then ends at once, and everyone reads the local copy.
 *
 * The transfer belongs to the flight, not to the leader's client: a client
 * that goes away stops receiving, the blob is still cached. One pump reads
 * the upstream into two windows of WINDOW_BYTES, the client's and the
 * store's; a reader that lags by a whole window pauses the upstream body
 * (never does the flight buffer the blob), and neither waits for the other
 * to start. A cut upstream (error, or no bytes for `idleMs`) fails
 * the flight: the leader's response is cut, followers get the error, nothing
 * is stored, and the next pull starts a new flight.
 */
import { finished, PassThrough, type Readable } from 'node:stream';
import { ChunkQueue } from './chunk-queue.js';

export interface OpenedBody {
  /** The upstream's body as a Node stream (it errors when the connection is cut or the flight's signal aborts). */
  readonly body: Readable;
  /** The upstream's Content-Length, when it sent one. */
  readonly size: number | undefined;
}

export type Ingest = (body: AsyncIterable<Uint8Array>, size: number | undefined, signal: AbortSignal) => Promise<void>;

/** How far the client or the store may lag behind the upstream before the transfer waits for them. */
const WINDOW_BYTES = 4 << 20;

export type FlightStart =
  | { readonly leader: true; readonly size: number | undefined; readonly stream: Readable; readonly done: Promise<void> }
  | { readonly leader: false; readonly done: Promise<void> };

/** Resolves when `stream` can take more (drain) or will take nothing more (close). */
function writable(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

export class BlobFlights {
  private readonly flights = new Map<string, Promise<void>>();

  constructor(private readonly idleMs: (key: string) => number) {}

  get size(): number {
    return this.flights.size;
  }

  /** The flight of `key` in progress, if any (its promise settles when the blob is stored or the fetch failed). */
  current(key: string): Promise<void> | undefined {
    return this.flights.get(key);
  }

  /**
   * Joins the flight of `key`, or leads a new one: `open` sends the one
   * upstream request (with the flight's signal), or resolves undefined when
   * the blob is stored already (the caller then gets `leader: false` too);
   * `ingest` stores the body. `onBytes` counts the bytes read.
   */
  async start(key: string, open: (signal: AbortSignal) => Promise<OpenedBody | undefined>, ingest: Ingest, onBytes: (n: number) => void): Promise<FlightStart> {
    const running = this.flights.get(key);
    if (running) return { leader: false, done: running };
    const controller = new AbortController();
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined); // followers and the leader observe it; an unobserved failure is no crash
    this.flights.set(key, done);
    const finish = (err?: unknown) => {
      this.flights.delete(key);
      if (err === undefined) settle.resolve();
      else settle.reject(err);
    };
    let answer: OpenedBody | undefined;
    try {
      answer = await open(controller.signal);
    } catch (err) {
      finish(err);
      throw err;
    }
    if (answer === undefined) {
      finish();
      return { leader: false, done };
    }
    const opened = answer;
    // One pump feeds two windows, the client's (a PassThrough the response pipes) and the store's (a queue
    // the writer iterates chunk by chunk): neither waits for the other to start, and only one that lags by a
    // whole window pauses the upstream body.
    const client = new PassThrough({ highWaterMark: WINDOW_BYTES });
    const store = new ChunkQueue(WINDOW_BYTES);
    client.on('error', () => undefined); // its reader sees the error; no reader is no crash
    const idleMs = this.idleMs(key);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`the upstream sent nothing for ${idleMs} ms`)), idleMs);
    };
    const body = opened.body;
    const pump = new Promise<void>((resolve, reject) => {
      let received = 0;
      body.on('data', (chunk: Buffer) => {
        received += chunk.byteLength;
        onBytes(chunk.byteLength);
        const clientFull = !client.destroyed && !client.write(chunk);
        const storeFull = !store.push(chunk);
        if (!clientFull && !storeFull) return arm();
        clearTimeout(timer); // a slow reader is not a dead upstream
        body.pause();
        void Promise.all([clientFull ? writable(client) : undefined, storeFull ? store.drained() : undefined]).then(() => {
          if (body.destroyed) return;
          arm();
          body.resume();
        });
      });
      finished(body, (err) => {
        clearTimeout(timer);
        if (err) return reject(controller.signal.aborted ? controller.signal.reason : err);
        // A body that ends short of its Content-Length is a cut transfer, never a complete blob.
        if (opened.size !== undefined && received !== opened.size) return reject(new Error(`the upstream sent ${received} of ${opened.size} bytes`));
        client.end();
        store.end();
        resolve();
      });
      arm();
    });
    const fail = (err: unknown) => {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      if (!controller.signal.aborted) controller.abort(err); // releases the upstream connection
      const error = reason instanceof Error ? reason : new Error(String(reason));
      store.destroy(error);
      client.destroy(error);
      opened.body.destroy();
      return reason;
    };
    const pumped = pump.catch((err: unknown) => {
      throw fail(err);
    });
    const stored = ingest(store, opened.size, controller.signal).catch((err: unknown) => {
      throw fail(err);
    });
    Promise.all([pumped, stored]).then(
      () => finish(),
      (err: unknown) => finish(err),
    );
    return { leader: true, size: opened.size, stream: client, done };
  }
}

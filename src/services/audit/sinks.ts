/**
 * The audit log's sinks: JSON lines to stdout or to a file (opened for
 * appending; reopen() opens the path again, for rotation), and the metadata
 * store's audit table.
 */
import { openSync, createWriteStream, type WriteStream } from 'node:fs';
import type { AuditRecord, MetadataStore } from '../../storage/meta/types.js';
import type { AuditSink } from './recorder.js';

const lines = (records: readonly AuditRecord[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');

function writeTo(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export function stdoutSink(): AuditSink {
  return { name: 'stdout', write: (records) => writeTo(process.stdout, lines(records)) };
}

/** JSON lines appended to `path`; the file is opened now (throws when it cannot be) and again by reopen() or after a failed write. */
export class FileSink implements AuditSink {
  readonly name = 'file';
  #stream: WriteStream | undefined;

  constructor(readonly path: string) {
    this.#stream = this.#open(openSync(path, 'a', 0o640));
  }

  #open(fd: number): WriteStream {
    const stream = createWriteStream(this.path, { fd, flags: 'a' });
    stream.on('error', () => {
      // The failed write rejects; the next batch opens the file again.
      if (this.#stream === stream) this.#stream = undefined;
    });
    return stream;
  }

  async write(records: readonly AuditRecord[]): Promise<void> {
    this.#stream ??= this.#open(openSync(this.path, 'a', 0o640));
    await writeTo(this.#stream, lines(records));
  }

  reopen(): void {
    const old = this.#stream;
    let fd: number;
    try {
      fd = openSync(this.path, 'a', 0o640);
    } catch {
      return; // keeps the old file; the next write tries again if it fails
    }
    this.#stream = this.#open(fd);
    old?.end();
  }

  async close(): Promise<void> {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }
}

/** The store's audit table (MetadataStore.appendAudit), each batch within `timeoutMs`. */
export function databaseSink(store: MetadataStore, timeoutMs = 30_000): AuditSink {
  return { name: 'database', write: (records) => store.appendAudit(records, AbortSignal.timeout(timeoutMs)) };
}


/**
 * The audit log's writer (README "Events and audit"): records are taken on
 * the response's close, queued in memory and written to each sink in batches
 * by a background pump, never on the request path. Each sink has its own
 * bounded queue: when a sink is slow or broken its queue fills and further
 * records for it are dropped (counted), so a request never waits for or
 * fails because of the audit log. With the database sink, records older than
 * the retention period are pruned in the background.
 */
import type { AuditRecord, MetadataStore } from '../../storage/meta/types.js';

/** Where batches go; write() resolves once the batch is written (or rejects). */
export interface AuditSink {
  readonly name: string;
  write(records: readonly AuditRecord[]): Promise<void>;
  /** Reopens what the sink writes to (a file after rotation); optional. */
  reopen?(): void;
  close?(): Promise<void>;
}

export interface AuditRecorderOptions {
  readonly sinks: readonly AuditSink[];
  /** Records waiting per sink before new ones are dropped (default 10000). */
  readonly queueSize?: number;
  /** Records per write (default 500). */
  readonly batchSize?: number;
  /** With the database sink: records older than this are pruned (ms). */
  readonly retention?: { readonly store: MetadataStore; readonly retentionMs: number };
  /** A failed write (at most once a minute per sink) or pruning. */
  readonly onError?: (err: unknown, what: string) => void;
}

export interface AuditSinkCounts {
  written: number;
  dropped: number;
  failed: number;
}

class Pump {
  readonly counts: AuditSinkCounts = { written: 0, dropped: 0, failed: 0 };
  #queue: AuditRecord[] = [];
  #running: Promise<void> | undefined;
  #reported = 0;

  constructor(
    readonly sink: AuditSink,
    private readonly queueSize: number,
    private readonly batchSize: number,
    private readonly onError: (err: unknown, what: string) => void,
  ) {}

  push(record: AuditRecord): void {
    if (this.#queue.length >= this.queueSize) {
      this.counts.dropped++;
      return;
    }
    this.#queue.push(record);
    this.#running ??= this.#drain();
  }

  /** Writes batches until the queue is empty; `#running` is cleared in the same turn as the last empty check, so a record pushed later starts a new drain. */
  async #drain(): Promise<void> {
    // A later turn: records of the same moment go in one batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.batchSize);
        try {
          await this.sink.write(batch);
          this.counts.written += batch.length;
        } catch (err) {
          this.counts.failed += batch.length;
          // At most once a minute per sink: a broken sink fails every batch.
          if (Date.now() - this.#reported >= 60_000) {
            this.#reported = Date.now();
            this.onError(err, `audit sink ${this.sink.name}`);
          }
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** Resolves when the queue is empty (or after `timeoutMs`). */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running !== undefined && Date.now() < deadline) {
      await Promise.race([this.#running, new Promise((resolve) => setTimeout(resolve, Math.max(1, deadline - Date.now())).unref())]);
    }
  }
}

export class AuditRecorder {
  readonly #pumps: Pump[];
  readonly #options: AuditRecorderOptions;
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(options: AuditRecorderOptions) {
    this.#options = options;
    const onError = options.onError ?? (() => undefined);
    this.#pumps = options.sinks.map((sink) => new Pump(sink, options.queueSize ?? 10_000, options.batchSize ?? 500, onError));
  }

  /** Queues `record` for every sink; never throws, never waits. */
  record(record: AuditRecord): void {
    for (const pump of this.#pumps) pump.push(record);
  }

  /** Per sink: records written, dropped (queue full) and failed (the sink's write failed). */
  counts(): Map<string, AuditSinkCounts> {
    return new Map(this.#pumps.map((p) => [p.sink.name, { ...p.counts }]));
  }

  /** Reopens the sinks' files (SIGHUP, after rotation). */
  reopen(): void {
    for (const p of this.#pumps) p.sink.reopen?.();
  }

  /** Starts pruning by retention (at once, then every quarter of the period, between 1 s and 1 h). */
  start(): void {
    const retention = this.#options.retention;
    if (retention === undefined || this.#pruneTimer !== undefined) return;
    const prune = () => {
      retention.store.pruneAudit(Date.now() - retention.retentionMs, AbortSignal.timeout(60_000)).catch((err: unknown) => this.#options.onError?.(err, 'audit pruning'));
    };
    prune();
    this.#pruneTimer = setInterval(prune, Math.min(3_600_000, Math.max(1000, retention.retentionMs / 4)));
    this.#pruneTimer.unref();
  }

  /** Stops pruning, writes what is queued (waiting at most `timeoutMs`), closes the sinks. */
  async stop(timeoutMs = 5000): Promise<void> {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
    await Promise.all(this.#pumps.map((p) => p.settle(timeoutMs)));
    await Promise.all(this.#pumps.map((p) => p.sink.close?.().catch(() => undefined)));
  }
}

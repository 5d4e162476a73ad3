/** The outbox of the in-memory MetadataStore (events.ts EventOutbox); synchronous, so each call is atomic. */
import type { ClaimOptions, EventFailure, OutboxEntry, RegistryEvent } from '../events.js';

interface Row {
  entry: OutboxEntry;
  nextAttemptAt: number;
  holder?: string;
  leaseUntil?: number;
}

export class MemoryOutbox {
  /** id -> row, in recording order (Map keeps insertion order). */
  readonly #rows = new Map<string, Row>();
  #seq = 0;

  append(events: readonly RegistryEvent[]): void {
    for (const event of events) {
      this.#rows.set(event.id, { entry: { event, seq: ++this.#seq, state: 'pending', attempts: 0, since: event.time, deliveredTo: [] }, nextAttemptAt: event.time });
    }
  }

  claim(holder: string, { now, leaseMs, limit }: ClaimOptions): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const row of this.#rows.values()) {
      if (out.length >= Math.floor(limit)) break;
      if (row.entry.state !== 'pending' || row.nextAttemptAt > now || (row.leaseUntil !== undefined && row.leaseUntil > now)) continue;
      row.holder = holder;
      row.leaseUntil = now + leaseMs;
      out.push(row.entry);
    }
    return out;
  }

  #held(id: string, holder: string): Row | undefined {
    const row = this.#rows.get(id);
    return row !== undefined && row.entry.state === 'pending' && row.holder === holder ? row : undefined;
  }

  delivered(id: string, holder: string): boolean {
    return this.#held(id, holder) !== undefined && this.#rows.delete(id);
  }

  settle(id: string, holder: string, state: 'pending' | 'dead', nextAttemptAt: number, failure: EventFailure): boolean {
    const row = this.#held(id, holder);
    if (row === undefined) return false;
    row.entry = { ...row.entry, state, attempts: row.entry.attempts + 1, deliveredTo: [...failure.deliveredTo], lastError: failure.error };
    row.nextAttemptAt = nextAttemptAt;
    delete row.holder;
    delete row.leaseUntil;
    return true;
  }

  list(state: 'pending' | 'dead', afterSeq: number | undefined, limit: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const row of this.#rows.values()) {
      if (out.length >= Math.floor(limit)) break;
      if (row.entry.state === state && (afterSeq === undefined || row.entry.seq > afterSeq)) out.push(row.entry);
    }
    return out;
  }

  replay(ids: readonly string[] | undefined, now: number): number {
    const rows = ids === undefined ? [...this.#rows.values()] : ids.map((id) => this.#rows.get(id)).filter((r) => r !== undefined);
    let n = 0;
    for (const row of rows) {
      if (row.entry.state !== 'dead') continue;
      row.entry = { ...row.entry, state: 'pending', attempts: 0, since: now };
      row.nextAttemptAt = now;
      n++;
    }
    return n;
  }
}

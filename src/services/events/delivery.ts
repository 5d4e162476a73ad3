/**
 * Event delivery (any number of replicas run it against one MetadataStore):
 * claims due outbox entries under a lease, POSTs each to every subscription
 * that receives it and has not yet got it, then settles the entry:
 * delivered when every such POST answered 2xx; otherwise failed, due again
 * after an exponential backoff with full jitter; parked as dead once its
 * retry window (`retryForMs` from recording or replay) has passed.
 * At least once: a replica dying mid-batch leaves its claims to expire, and
 * another one delivers them again with the same event id (webhook-id).
 */
import { randomUUID } from 'node:crypto';
import type { MetadataStore, OutboxEntry } from '../../storage/meta/types.js';
import { renderEvent } from './formats.js';
import { webhookHeaders } from './signature.js';
import { postWebhook, webhookAgents, type WebhookAgents } from './post.js';
import { receives, type Subscription } from './subscriptions.js';

export interface EventDeliveryOptions {
  readonly store: MetadataStore;
  readonly subscriptions: readonly Subscription[];
  /** CloudEvents `source` and the envelope's instance id. Default 'ferro-oci-server'. */
  readonly source?: string;
  /** Entries claimed at once. Default 50. */
  readonly batchSize?: number;
  /** Claim lifetime: an entry claimed by a replica that died is delivered again after it. Default 60 s. */
  readonly leaseMs?: number;
  /** Wait between polls when nothing is due. Default 1 s. */
  readonly pollMs?: number;
  /** Retry window; then the entry is parked as dead. Default 24 h. */
  readonly retryForMs?: number;
  /** Backoff of the first retry (doubling up to maxBackoffMs, each drawn uniformly from 0 to it). Defaults 1 s and 5 min. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Entries of a batch delivered concurrently. Default 8. */
  readonly concurrency?: number;
  readonly onError?: (err: unknown) => void;
}

/** In-process counts per subscription since start. */
export interface SubscriptionCounts {
  delivered: number;
  failed: number;
  dead: number;
}

export interface PendingCounts {
  readonly pending: number;
  /** Age (ms) of the oldest entry this subscription has still to receive; 0 when none. */
  readonly oldestAgeMs: number;
}

/** Wait after a part batch before the next claim, ms. */
const GATHER_MS = 50;

/** Entries scanned for the pending gauges at most (a scrape of a bigger backlog counts this many). */
const PENDING_SCAN = 10_000;

export class EventDelivery {
  readonly holder = randomUUID();
  readonly counts: ReadonlyMap<string, SubscriptionCounts>;
  readonly #o: Required<Omit<EventDeliveryOptions, 'onError'>> & Pick<EventDeliveryOptions, 'onError'>;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  readonly #agents: WebhookAgents;

  constructor(options: EventDeliveryOptions) {
    this.#o = {
      source: 'ferro-oci-server',
      batchSize: 50,
      leaseMs: 60_000,
      pollMs: 1000,
      retryForMs: 24 * 3600_000,
      initialBackoffMs: 1000,
      maxBackoffMs: 300_000,
      concurrency: 8,
      ...options,
    };
    this.counts = new Map(options.subscriptions.map((s) => [s.name, { delivered: 0, failed: 0, dead: 0 }]));
    this.#agents = webhookAgents(this.#o.concurrency);
  }

  get subscriptions(): readonly Subscription[] {
    return this.#o.subscriptions;
  }

  get store(): MetadataStore {
    return this.#o.store;
  }

  /** Starts the background loop. Idempotent. */
  start(): void {
    if (this.#loop !== undefined) return;
    const stop = (this.#stop = new AbortController());
    this.#loop = (async () => {
      while (!stop.signal.aborted) {
        let claimed = 0;
        try {
          claimed = await this.deliverBatch(stop.signal);
        } catch (err) {
          if (!stop.signal.aborted) this.#o.onError?.(err);
        }
        // A part batch: wait a little so that the next claim gathers what a busy registry records
        // meanwhile (fewer claim and settle commits per event, ≤ GATHER_MS more delivery latency).
        if (claimed === 0) await sleep(this.#o.pollMs, stop.signal);
        else if (claimed < this.#o.batchSize) await sleep(Math.min(this.#o.pollMs, GATHER_MS), stop.signal);
      }
    })();
  }

  /** Stops the loop, aborting POSTs in flight (their entries are delivered again after the lease). */
  async stop(): Promise<void> {
    this.#stop?.abort(new Error('event delivery stopped'));
    await this.#loop;
    this.#loop = undefined;
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /**
   * Claims one batch and delivers it; resolves how many entries were claimed.
   * The entries every subscription received are settled together at the end,
   * in one transaction (one commit per batch, not per event).
   */
  async deliverBatch(signal?: AbortSignal): Promise<number> {
    const { store, batchSize, leaseMs, concurrency } = this.#o;
    const entries = await store.claimEvents(this.holder, { now: store.clock(), leaseMs, limit: batchSize }, signal);
    const delivered: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length && !signal?.aborted) {
        // A store error settling one entry leaves it to its lease; the others go on.
        await this.#deliver(entries[next++]!, delivered, signal).catch((err: unknown) => {
          if (!signal?.aborted) this.#o.onError?.(err);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
    // Aborted: the claims expire and another pass delivers them again (at least once).
    if (delivered.length > 0 && !signal?.aborted) await store.markEventsDelivered(delivered, this.holder, signal);
    return entries.length;
  }

  /** POSTs the entry; when every subscription got it, adds its id to `delivered`, else settles the failure. */
  async #deliver(entry: OutboxEntry, delivered: string[], signal: AbortSignal | undefined): Promise<void> {
    const { store } = this.#o;
    const done = new Set(entry.deliveredTo);
    const errors: string[] = [];
    const due = this.#o.subscriptions.filter((s) => !done.has(s.name) && receives(s, entry.event));
    await Promise.all(
      due.map(async (sub) => {
        const error = await this.#post(sub, entry, signal);
        const counts = this.counts.get(sub.name)!;
        if (error === undefined) {
          done.add(sub.name);
          counts.delivered++;
        } else {
          counts.failed++;
          errors.push(`${sub.name}: ${error}`);
        }
      }),
    );
    if (signal?.aborted) return; // the claim expires; another pass delivers what is left
    if (errors.length === 0) {
      delivered.push(entry.event.id);
      return;
    }
    const failure = { deliveredTo: [...done], error: errors.join('; ').slice(0, 2000) };
    const now = store.clock();
    if (now - entry.since >= this.#o.retryForMs) {
      if (await store.parkEvent(entry.event.id, this.holder, failure, signal)) {
        for (const sub of due) if (!done.has(sub.name)) this.counts.get(sub.name)!.dead++;
      }
      return;
    }
    const ceiling = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** Math.min(entry.attempts, 30));
    const backoff = Math.max(Math.min(100, ceiling), Math.random() * ceiling); // full jitter, at least 100 ms
    await store.markEventFailed(entry.event.id, this.holder, Math.ceil(Math.min(now + backoff, entry.since + this.#o.retryForMs)), failure, signal);
  }

  /** One POST; resolves undefined on a 2xx answer, else what went wrong. */
  #post(sub: Subscription, entry: OutboxEntry, signal: AbortSignal | undefined): Promise<string | undefined> {
    const { contentType, body } = renderEvent(sub.format, entry.event, this.#o.source);
    const headers = { ...sub.headers, 'content-type': contentType, ...webhookHeaders(entry.event.id, Math.floor(Date.now() / 1000), body, sub.secret) };
    return postWebhook(sub.url, headers, body, sub.timeoutMs, this.#agents, signal);
  }

  /** Per subscription: entries it has still to receive and the age of the oldest (scans at most PENDING_SCAN entries). */
  async pending(signal?: AbortSignal): Promise<Map<string, PendingCounts>> {
    const { store, subscriptions } = this.#o;
    const entries = await store.listEvents('pending', { limit: PENDING_SCAN }, signal);
    const now = store.clock();
    const out = new Map<string, PendingCounts>();
    for (const sub of subscriptions) {
      const mine = entries.filter((e) => !e.deliveredTo.includes(sub.name) && receives(sub, e.event));
      out.set(sub.name, { pending: mine.length, oldestAgeMs: mine.length === 0 ? 0 : Math.max(0, now - Math.min(...mine.map((e) => e.event.time))) });
    }
    return out;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

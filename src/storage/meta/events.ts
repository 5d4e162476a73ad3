/**
 * Registry events and the outbox part of the MetadataStore port (types.ts).
 *
 * A mutating store method given an EventContext records the events of its
 * change in the same transaction (the outbox): an event exists exactly when
 * its change was committed. Without a context it records none. Delivery
 * (src/services/events) claims due entries under a lease, so that several
 * replicas can deliver, and settles each one: delivered (removed), failed
 * (due again at a later time) or dead (parked until replayed).
 * Types only (the web UI's build reads them); the records are built in event-records.ts.
 */

export type RegistryEventType =
  | 'manifest.pushed'
  | 'manifest.deleted'
  | 'tag.created'
  | 'tag.moved'
  | 'tag.deleted'
  | 'blob.mounted'
  | 'repository.created'
  | 'collection.finished';

export const EVENT_TYPES: readonly RegistryEventType[] = [
  'manifest.pushed',
  'manifest.deleted',
  'tag.created',
  'tag.moved',
  'tag.deleted',
  'blob.mounted',
  'repository.created',
  'collection.finished',
];

/** Who caused a change: recorded with each of its events. */
export interface EventContext {
  /** The authenticated user, when any. */
  readonly actor?: string;
  readonly requestId?: string;
  /** The client's address. */
  readonly address?: string;
  /** linkBlob only: the link is a cross-repository mount from this repository (a blob.mounted event). */
  readonly mountedFrom?: string;
  /** A deletion by a collection: the rule that removed it (recorded as the event's `reason`). */
  readonly reason?: 'retention' | 'untagged' | 'child' | 'referrer';
}

export interface RegistryEvent {
  /** Stable across redeliveries (a UUID). */
  readonly id: string;
  readonly type: RegistryEventType;
  /** When the change was committed, ms since the epoch (the store's clock). */
  readonly time: number;
  readonly repository?: string;
  readonly digest?: string;
  readonly mediaType?: string;
  readonly size?: number;
  readonly artifactType?: string;
  /** tag.*: the tag. */
  readonly tag?: string;
  /** manifest.pushed: every tag set by the request; manifest.deleted: the tags it had. */
  readonly tags?: readonly string[];
  /** tag.moved: the digest the tag left; tag.deleted: the digest it pointed at is `digest`. */
  readonly previousDigest?: string;
  /** blob.mounted: the source repository. */
  readonly from?: string;
  /** collection.finished: the collection's report. */
  readonly report?: Readonly<Record<string, unknown>>;
  readonly actor?: string;
  readonly requestId?: string;
  readonly address?: string;
  /** tag.deleted, manifest.deleted by a collection: why (retention, untagged, or as a removed manifest's child or referrer). */
  readonly reason?: EventContext['reason'];
}

/** An event as the outbox holds it. */
export interface OutboxEntry {
  readonly event: RegistryEvent;
  /** Order of recording (ascending). */
  readonly seq: number;
  readonly state: 'pending' | 'dead';
  /** Failed attempts since it was recorded or replayed. */
  readonly attempts: number;
  /** When it was recorded or last replayed: the start of its retry window. */
  readonly since: number;
  /** Subscriptions that already received it (a retry skips them). */
  readonly deliveredTo: readonly string[];
  readonly lastError?: string;
}

export interface ClaimOptions {
  readonly now: number;
  /** The claim expires at `now + leaseMs`: another holder may then claim the entries. */
  readonly leaseMs: number;
  readonly limit: number;
}

export interface EventFailure {
  readonly deliveredTo: readonly string[];
  readonly error: string;
}

/**
 * The outbox methods every MetadataStore implements. A holder settles only
 * the entries it holds the claim of (resolves false otherwise: another
 * holder took them after the lease expired, or they were settled).
 */
export interface EventOutbox {
  /** Records events in their own transaction (e.g. collection.finished). */
  appendEvents(events: readonly RegistryEvent[], signal?: AbortSignal): Promise<void>;
  /**
   * Claims up to `limit` pending entries due at `now` (next attempt reached)
   * and unclaimed or with an expired claim, oldest first. Concurrent claims
   * never return the same entry while its lease runs.
   */
  claimEvents(holder: string, options: ClaimOptions, signal?: AbortSignal): Promise<OutboxEntry[]>;
  /** Removes the entries of `ids` the holder holds (in one transaction): every subscription received them. Resolves how many. */
  markEventsDelivered(ids: readonly string[], holder: string, signal?: AbortSignal): Promise<number>;
  /** Releases the claim, counts a failed attempt and makes the entry due again at `nextAttemptAt`. */
  markEventFailed(id: string, holder: string, nextAttemptAt: number, failure: EventFailure, signal?: AbortSignal): Promise<boolean>;
  /** Releases the claim and parks the entry as dead: no longer claimed until replayed. */
  parkEvent(id: string, holder: string, failure: EventFailure, signal?: AbortSignal): Promise<boolean>;
  /** Entries in `state`, by seq, strictly after `afterSeq` when given. */
  listEvents(state: 'pending' | 'dead', options: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]>;
  /**
   * Makes dead entries (those of `ids`, or all when undefined) pending again,
   * due at `now`, with no attempts and a retry window starting at `now`;
   * deliveredTo is kept. Resolves how many were replayed.
   */
  replayEvents(ids: readonly string[] | undefined, now: number, signal?: AbortSignal): Promise<number>;
}

/** A manifest as its events describe it. */
export interface ManifestFacts {
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly artifactType?: string;
}

/** Dead events: listing and replay (the admin endpoint and the `events` command). */
import type { MetadataStore, OutboxEntry } from '../../storage/meta/types.js';

export class DeadLetters {
  constructor(private readonly store: MetadataStore) {}

  /** Dead entries by seq, strictly after `afterSeq` when given. */
  list(page: { readonly afterSeq?: number; readonly limit: number }, signal?: AbortSignal): Promise<OutboxEntry[]> {
    return this.store.listEvents('dead', page, signal);
  }

  /** Makes the dead entries of `ids` (all when undefined) due now, with a new retry window; resolves how many. */
  replay(ids: readonly string[] | undefined, signal?: AbortSignal): Promise<number> {
    return this.store.replayEvents(ids, this.store.clock(), signal);
  }
}

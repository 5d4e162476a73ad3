/** Event subscriptions (webhooks) and which events each one receives. */
import { RepositoryPattern } from '../../oci/patterns.js';
import type { RegistryEvent, RegistryEventType } from '../../storage/meta/events.js';

export type EventFormat = 'cloudevents' | 'distribution';

export interface Subscription {
  /** Unique among the subscriptions: names it in metrics and in OutboxEntry.deliveredTo. */
  readonly name: string;
  readonly url: string;
  readonly format: EventFormat;
  /** Only events of repositories matching one of these (src/oci/patterns.ts); undefined: all. */
  readonly repositories?: readonly RepositoryPattern[];
  /** Only events of these types; undefined: all. */
  readonly types?: readonly RegistryEventType[];
  /** Only events whose artifactType is one of these; undefined: all. */
  readonly artifactTypes?: readonly string[];
  /** Extra request headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The Standard Webhooks signing secret (`whsec_` + base64, or any other text used as is); undefined: unsigned. */
  readonly secret?: string;
  /** A POST without a complete answer for this long fails. */
  readonly timeoutMs: number;
}

/**
 * Whether `sub` receives `event`. An event without a repository (collection.finished)
 * passes the repository filter; one without an artifact type fails an artifactTypes filter.
 */
export function receives(sub: Subscription, event: RegistryEvent): boolean {
  if (sub.types !== undefined && !sub.types.includes(event.type)) return false;
  if (sub.repositories !== undefined && event.repository !== undefined && !sub.repositories.some((p) => p.matches(event.repository!))) return false;
  if (sub.artifactTypes !== undefined && (event.artifactType === undefined || !sub.artifactTypes.includes(event.artifactType))) return false;
  return true;
}

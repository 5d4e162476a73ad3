/**
 * The bodies a subscription receives: CloudEvents 1.0 in structured mode
 * (JSON event format, one event per request) or distribution's notification
 * envelope (`application/vnd.docker.distribution.events.v2+json`).
 */
import type { RegistryEvent } from '../../storage/meta/events.js';
import type { EventFormat } from './subscriptions.js';

export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json';
export const DISTRIBUTION_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';
/** Prefix of the CloudEvents `type` attribute: `io.ferro-oci.` + the event type. */
export const CLOUDEVENTS_TYPE_PREFIX = 'io.ferro-oci.';

export interface RenderedEvent {
  readonly contentType: string;
  readonly body: string;
}

/** The event's fields other than its envelope attributes. */
function data(event: RegistryEvent): Record<string, unknown> {
  const { id: _id, type: _type, time: _time, ...rest } = event;
  return rest;
}

/** CloudEvents 1.0 structured mode: required id, source, specversion, type; subject names the artifact. */
function cloudEvent(event: RegistryEvent, source: string): Record<string, unknown> {
  const subject = event.repository === undefined ? undefined : event.tag !== undefined ? `${event.repository}:${event.tag}` : event.digest !== undefined ? `${event.repository}@${event.digest}` : event.repository;
  return {
    specversion: '1.0',
    id: event.id,
    source,
    type: CLOUDEVENTS_TYPE_PREFIX + event.type,
    time: new Date(event.time).toISOString(),
    ...(subject === undefined ? {} : { subject }),
    datacontenttype: 'application/json',
    data: data(event),
  };
}

const ACTIONS: Readonly<Record<string, string>> = {
  'manifest.pushed': 'push',
  'tag.created': 'push',
  'tag.moved': 'push',
  'manifest.deleted': 'delete',
  'tag.deleted': 'delete',
  'blob.mounted': 'mount',
};

/** One event of distribution's envelope; types distribution has no action for keep their own name as action. */
function distributionEvent(event: RegistryEvent, source: string): Record<string, unknown> {
  const target: Record<string, unknown> = {
    ...(event.mediaType === undefined ? {} : { mediaType: event.mediaType }),
    ...(event.size === undefined ? {} : { size: event.size, length: event.size }),
    ...(event.digest === undefined ? {} : { digest: event.digest }),
    ...(event.repository === undefined ? {} : { repository: event.repository }),
    ...(event.tag !== undefined ? { tag: event.tag } : event.tags?.length === 1 ? { tag: event.tags[0] } : {}),
    ...(event.tags === undefined ? {} : { tags: event.tags }),
    ...(event.artifactType === undefined ? {} : { artifactType: event.artifactType }),
    ...(event.from === undefined ? {} : { fromRepository: event.from }),
    ...(event.previousDigest === undefined ? {} : { previousDigest: event.previousDigest }),
  };
  return {
    id: event.id,
    timestamp: new Date(event.time).toISOString(),
    action: ACTIONS[event.type] ?? event.type,
    target,
    request: { ...(event.requestId === undefined ? {} : { id: event.requestId }), ...(event.address === undefined ? {} : { addr: event.address }) },
    actor: event.actor === undefined ? {} : { name: event.actor },
    source: { instanceID: source },
    ...(event.report === undefined ? {} : { report: event.report }),
    ...(event.reason === undefined ? {} : { reason: event.reason }),
  };
}

export function renderEvent(format: EventFormat, event: RegistryEvent, source: string): RenderedEvent {
  return format === 'cloudevents'
    ? { contentType: CLOUDEVENTS_MEDIA_TYPE, body: JSON.stringify(cloudEvent(event, source)) }
    : { contentType: DISTRIBUTION_MEDIA_TYPE, body: JSON.stringify({ events: [distributionEvent(event, source)] }) };
}

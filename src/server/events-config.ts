/**
 * The `events` section of the server's configuration file (README "Events
 * and audit"), validated strictly: unknown keys and wrong types are errors
 * naming the key. Applied at start (a reload that changes it asks for a restart).
 *
 *   events:
 *     retrySeconds: 86400           # retry window of an event; then it is parked as dead (default 1 day)
 *     initialBackoffSeconds: 1      # first retry after up to this; doubling, full jitter (default 1)
 *     maxBackoffSeconds: 300        # (default 300)
 *     leaseSeconds: 60              # a replica's claim on a batch (default 60)
 *     pollSeconds: 1                # wait when nothing is due (default 1)
 *     source: registry.example.com  # CloudEvents source (default ferro-oci-server)
 *     subscriptions:
 *       - name: ci                  # unique; default the URL
 *         url: https://ci.example.com/hooks/registry
 *         format: cloudevents       # or distribution
 *         repositories: ["apps/**"] # filters, each optional
 *         types: ["manifest.pushed", "tag.deleted"]
 *         artifactTypes: ["application/vnd.example.sbom"]
 *         headers: { Authorization: "Bearer ..." }
 *         secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw   # Standard Webhooks signature
 *         timeoutSeconds: 10        # (default 10)
 */
import { RepositoryPattern } from '../oci/patterns.js';
import { EVENT_TYPES, type RegistryEventType } from '../storage/meta/events.js';
import type { EventDeliveryOptions } from '../services/events/delivery.js';
import type { Subscription } from '../services/events/subscriptions.js';

export class EventsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventsConfigError';
  }
}

export type EventsConfig = Omit<EventDeliveryOptions, 'store' | 'onError'>;

type Obj = Record<string, unknown>;

function fail(at: string, why: string): never {
  throw new EventsConfigError(`${at}: ${why}`);
}

function mapping(value: unknown, at: string, keys?: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be a mapping');
  for (const k of Object.keys(value)) if (keys !== undefined && !keys.includes(k)) fail(`${at}.${k}`, `unknown setting; expected one of ${keys.join(', ')}`);
  return value as Obj;
}

function seconds(value: unknown, at: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(at, `must be a number of seconds from ${min} to ${max}`);
  return Math.round(value * 1000);
}

function text(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') fail(at, 'must be a non-empty string');
  return value;
}

function strings(value: unknown, at: string): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(at, 'must be a non-empty list');
  return value.map((v, i) => text(v, `${at}[${i}]`));
}

function subscription(raw: unknown, at: string): Subscription {
  const s = mapping(raw, at, ['name', 'url', 'format', 'repositories', 'types', 'artifactTypes', 'headers', 'secret', 'timeoutSeconds']);
  const url = text(s.url ?? fail(`${at}.url`, 'is required'), `${at}.url`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(`${at}.url`, 'must be an absolute http or https URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(`${at}.url`, 'must be an absolute http or https URL');
  const format = s.format ?? 'cloudevents';
  if (format !== 'cloudevents' && format !== 'distribution') fail(`${at}.format`, 'must be cloudevents or distribution');
  const repositories = s.repositories === undefined ? undefined : strings(s.repositories, `${at}.repositories`).map((p) => {
    try {
      return RepositoryPattern.compile(p);
    } catch (err) {
      fail(`${at}.repositories`, (err as Error).message);
    }
  });
  const types = s.types === undefined ? undefined : strings(s.types, `${at}.types`).map((t) => (EVENT_TYPES.includes(t as RegistryEventType) ? (t as RegistryEventType) : fail(`${at}.types`, `unknown event type ${JSON.stringify(t)}; expected some of ${EVENT_TYPES.join(', ')}`)));
  const headers = Object.fromEntries(Object.entries(mapping(s.headers ?? {}, `${at}.headers`)).map(([k, v]) => [k, text(v, `${at}.headers.${k}`)]));
  for (const k of Object.keys(headers)) if (/^(content-type|webhook-.*)$/i.test(k)) fail(`${at}.headers.${k}`, 'is set by the registry');
  return {
    name: s.name === undefined ? url : text(s.name, `${at}.name`),
    url,
    format,
    ...(repositories ? { repositories } : {}),
    ...(types ? { types } : {}),
    ...(s.artifactTypes === undefined ? {} : { artifactTypes: strings(s.artifactTypes, `${at}.artifactTypes`) }),
    headers,
    ...(s.secret === undefined ? {} : { secret: text(s.secret, `${at}.secret`) }),
    timeoutMs: seconds(s.timeoutSeconds, `${at}.timeoutSeconds`, 0.1, 600) ?? 10_000,
  };
}

/** Validates the `events` section (`raw`: its value). */
export function parseEventsConfig(raw: unknown): EventsConfig {
  const at = 'events';
  const e = mapping(raw, at, ['subscriptions', 'retrySeconds', 'initialBackoffSeconds', 'maxBackoffSeconds', 'leaseSeconds', 'pollSeconds', 'source']);
  const list = e.subscriptions ?? [];
  if (!Array.isArray(list)) fail(`${at}.subscriptions`, 'must be a list');
  const subscriptions = list.map((s, i) => subscription(s, `${at}.subscriptions[${i}]`));
  const names = new Set<string>();
  for (const s of subscriptions) {
    if (names.has(s.name)) fail(`${at}.subscriptions`, `two subscriptions are named ${JSON.stringify(s.name)}`);
    names.add(s.name);
  }
  const optional = (key: string, value: number | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    subscriptions,
    ...optional('retryForMs', seconds(e.retrySeconds, `${at}.retrySeconds`, 0, 30 * 86_400)),
    ...optional('initialBackoffMs', seconds(e.initialBackoffSeconds, `${at}.initialBackoffSeconds`, 0.01, 3600)),
    ...optional('maxBackoffMs', seconds(e.maxBackoffSeconds, `${at}.maxBackoffSeconds`, 0.01, 86_400)),
    ...optional('leaseMs', seconds(e.leaseSeconds, `${at}.leaseSeconds`, 1, 3600)),
    ...optional('pollMs', seconds(e.pollSeconds, `${at}.pollSeconds`, 0.01, 60)),
    ...(e.source === undefined ? {} : { source: text(e.source, `${at}.source`) }),
  };
}

/**
 * OpenTelemetry tracing (README "Tracing"), as the server sees it: nothing
 * here imports the SDK. startTracing() loads it (tracing-otel.ts, a dynamic
 * import) only when an endpoint is configured; without one no module of
 * the SDK is loaded and no connection is attempted.
 *
 * What is traced: one SERVER span per request of a server built by
 * createRegistryServer (a client's W3C `traceparent` makes it a child of
 * the client's span), and beneath it one span per call of the BlobStore,
 * its BlobWriters and the MetadataStore (wrapped where the stores are
 * opened) and one CLIENT span per HTTP exchange with a mirror upstream.
 * Store calls outside a request (collection, event delivery, the audit
 * writer) make no spans. The request's trace id is in every log line of
 * the request (`traceId`) and in its audit record.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { BlobStore } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';
import type { AroundExchange } from '../services/mirror/exchange.js';
import type { TracingConfig } from './config-tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The trace id of this request's span (32 hex digits), when tracing is on. */
    ociTraceId?: string;
  }
}

/** The request side of tracing, given to createRegistryServer as `tracing`. */
export interface RequestTracing {
  /** Starts the request's SERVER span (its parent from `traceparent`), runs `handle` inside it and ends it when `res` closes. */
  around(req: IncomingMessage, res: ServerResponse, handle: () => void): void;
  /** The trace id of the span `around` started for `req`. */
  traceIdOf(req: IncomingMessage): string | undefined;
  /** Names the span after the route and sets request.ociTraceId (an onRequest hook on the root instance). */
  hooks(app: FastifyInstance): void;
}

/** Wraps the stores: a span per call made inside a request's span. */
export interface StoreTracing {
  blobStore(store: BlobStore): BlobStore;
  metadataStore(store: MetadataStore): MetadataStore;
}

export interface Tracing {
  readonly requests: RequestTracing;
  readonly stores: StoreTracing;
  /** The mirror's `around` (MirrorOptions): a CLIENT span per upstream exchange, `traceparent` sent along. */
  readonly upstream: AroundExchange;
  /** Exports the spans still queued, then stops (resolves within about 5 s even when the collector is away). */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  readonly version: string;
  /** Export failures, at most once a minute. */
  readonly onExportError: (err: Error | undefined) => void;
}

/** Loads the SDK and starts exporting to `settings.endpoint`; undefined (and nothing loaded) without settings. */
export async function startTracing(settings: TracingConfig | undefined, options: StartTracingOptions): Promise<Tracing | undefined> {
  if (settings === undefined) return undefined;
  const { openTelemetryTracing } = await import('./tracing-otel.js');
  return openTelemetryTracing(settings, options);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The Fastify options createRegistryServer adds for `tracing`: a server
 * whose requests run inside their span (set up as Fastify sets up its own:
 * `http` options, keep-alive, request and connection timeouts), and request
 * loggers that carry `traceId`.
 */
export function tracingServerOptions(tracing: RequestTracing): Partial<FastifyServerOptions> {
  return {
    serverFactory: (handler: Handler, opts: FastifyServerOptions & { http?: http.ServerOptions }) => {
      const server = http.createServer(opts.http ?? {}, (req, res) => tracing.around(req, res, () => handler(req, res)));
      if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
      if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
      if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
      return server;
    },
    childLoggerFactory(logger: FastifyBaseLogger, bindings, childOptions, req: IncomingMessage) {
      const traceId = tracing.traceIdOf(req);
      return logger.child(traceId === undefined ? bindings : { ...bindings, traceId }, childOptions);
    },
  } as Partial<FastifyServerOptions>;
}

/**
 * The OpenTelemetry side of tracing.ts, loaded only when tracing is on: a
 * tracer provider of its own (nothing is registered globally, so an
 * application embedding the registry keeps its own OpenTelemetry setup),
 * batching spans to the OTLP/HTTP (JSON) exporter, a parent-based ratio
 * sampler, an AsyncLocalStorage context and the W3C trace-context
 * propagator. Span names follow the HTTP semantic conventions:
 * `PUT /v2/<name>/manifests/<reference>` (the route, as the distribution
 * spec writes it), `GET /v2/<name>/blobs/<digest>` for an upstream call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ociErrorCode } from '../http/error-handler.js';
import type { AroundExchange } from '../services/mirror/exchange.js';
import type { TracingConfig } from './config-tracing.js';
import type { RequestTracing, StartTracingOptions, Tracing } from './tracing.js';
import { tracedBlobStore, tracedMetadataStore, type Traced } from './tracing-stores.js';

/** The /v2 route kinds as the distribution spec writes their paths. */
const V2_ROUTES: Record<string, string> = {
  base: '/v2/',
  catalog: '/v2/_catalog',
  tags: '/v2/<name>/tags/list',
  manifest: '/v2/<name>/manifests/<reference>',
  referrers: '/v2/<name>/referrers/<digest>',
  uploads: '/v2/<name>/blobs/uploads/',
  upload: '/v2/<name>/blobs/uploads/<reference>',
  blob: '/v2/<name>/blobs/<digest>',
};

/** The route of a routed request: its /v2 kind's path, else the Fastify route pattern. */
function routeOf(request: FastifyRequest): string | undefined {
  const kind = request.ociRoute;
  return kind !== undefined && kind !== 'invalid' ? V2_ROUTES[kind] : kind === undefined ? request.routeOptions.url : undefined;
}

/** An upstream URL's path as a template (the repository name and reference replaced). */
function upstreamRoute(path: string): string {
  return path.replace(/\/v2\/.+\/(manifests|blobs)\/[^/]+$/, (_m, kind: string) => `/v2/<name>/${kind}/${kind === 'blobs' ? '<digest>' : '<reference>'}`);
}

/** Wraps `exporter` to report failed exports (at most once a minute). */
function reporting(exporter: SpanExporter, onError: (err: Error | undefined) => void): SpanExporter {
  let reported = 0;
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && Date.now() - reported >= 60_000) {
          reported = Date.now();
          onError(result.error);
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

export function openTelemetryTracing(settings: TracingConfig, options: StartTracingOptions): Tracing {
  const exporter = reporting(new OTLPTraceExporter({ url: settings.endpoint }), options.onExportError);
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: options.version })),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor({ exporter, exportTimeoutMillis: 5000 })],
  });
  const tracer = provider.getTracer('ferro-oci-server', options.version);
  const contexts = new AsyncLocalStorageContextManager().enable();
  const propagator = new W3CTraceContextPropagator();

  /** The recording span of the current request's context, or undefined. */
  const activeParent = (): Context | undefined => {
    const context = contexts.active();
    return trace.getSpan(context)?.isRecording() === true ? context : undefined;
  };

  const end = (span: Span, err?: unknown): void => {
    if (err !== undefined) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    }
    span.end();
  };

  const traced: Traced = (name, call) => {
    const parent = activeParent();
    if (parent === undefined) return call();
    const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL }, parent);
    let result;
    try {
      result = contexts.with(trace.setSpan(parent, span), call);
    } catch (err) {
      end(span, err);
      throw err;
    }
    if (!(result instanceof Promise)) {
      end(span);
      return result;
    }
    return result.then(
      (value: unknown) => {
        end(span);
        return value;
      },
      (err: unknown) => {
        end(span, err ?? 'rejected');
        throw err;
      },
    ) as typeof result;
  };

  return {
    requests: requestTracing(tracer, contexts, propagator),
    stores: { blobStore: (store) => tracedBlobStore(store, traced), metadataStore: (store) => tracedMetadataStore(store, traced) },
    upstream: upstreamTracing(tracer, contexts, propagator, activeParent, end),
    shutdown: () => provider.shutdown().finally(() => contexts.disable()),
  };
}

type Tracer = ReturnType<TracerProvider['getTracer']>;

function requestTracing(tracer: Tracer, contexts: AsyncLocalStorageContextManager, propagator: W3CTraceContextPropagator): RequestTracing {
  const open = new WeakMap<IncomingMessage, { span: Span; request?: FastifyRequest }>();
  const finish = (span: Span, method: string, res: ServerResponse, request: FastifyRequest | undefined): void => {
    const route = request && routeOf(request);
    if (route !== undefined) {
      span.updateName(`${method} ${route}`);
      span.setAttribute(ATTR_HTTP_ROUTE, route);
    }
    if (res.headersSent) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
    if (request) {
      span.setAttribute(ATTR_CLIENT_ADDRESS, request.ip);
      if (request.ociRepository !== undefined) span.setAttribute('oci.repository', request.ociRepository);
      if (request.ociUser !== undefined) span.setAttribute('user.name', request.ociUser);
      const code = ociErrorCode(request);
      if (code !== undefined) span.setAttribute('oci.error.code', code);
    }
    if (!res.writableFinished) span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
    else if (res.statusCode >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(res.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
  return {
    around(req, res, handle) {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const method = req.method ?? 'GET';
      const path = (req.url ?? '/').split('?', 1)[0]!.slice(0, 500);
      const agent = req.headers['user-agent'];
      const span = tracer.startSpan(
        method,
        { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: path, ...(agent !== undefined ? { [ATTR_USER_AGENT_ORIGINAL]: agent } : {}) } },
        parent,
      );
      const state: { span: Span; request?: FastifyRequest } = { span };
      open.set(req, state);
      res.once('close', () => finish(span, method, res, state.request));
      contexts.with(trace.setSpan(parent, span), handle);
    },
    traceIdOf: (req) => open.get(req)?.span.spanContext().traceId,
    hooks(app: FastifyInstance) {
      app.addHook('onRequest', async (request) => {
        const state = open.get(request.raw);
        if (state === undefined) return;
        state.request = request;
        request.ociTraceId = state.span.spanContext().traceId;
      });
    },
  };
}

function upstreamTracing(
  tracer: Tracer,
  contexts: AsyncLocalStorageContextManager,
  propagator: W3CTraceContextPropagator,
  activeParent: () => Context | undefined,
  end: (span: Span, err?: unknown) => void,
): AroundExchange {
  return async (ex, send) => {
    const parent = activeParent();
    if (parent === undefined) return send(ex);
    const url = new URL(ex.url);
    url.username = '';
    url.password = '';
    const span = tracer.startSpan(
      `${ex.method} ${upstreamRoute(url.pathname)}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_HTTP_REQUEST_METHOD]: ex.method, [ATTR_URL_FULL]: url.toString(), [ATTR_SERVER_ADDRESS]: url.hostname, [ATTR_SERVER_PORT]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) },
      },
      parent,
    );
    const context = trace.setSpan(parent, span);
    const headers: Record<string, string> = { ...ex.headers };
    propagator.inject(context, headers, defaultTextMapSetter);
    try {
      const res = await contexts.with(context, () => send({ ...ex, headers }));
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.status);
      if (res.status >= 400) span.setAttribute(ATTR_ERROR_TYPE, String(res.status));
      if (res.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      // The span lasts until the body has been read or dropped.
      if (res.body.closed) end(span);
      else res.body.once('close', () => end(span));
      return res;
    } catch (err) {
      end(span, err);
      throw err;
    }
  };
}

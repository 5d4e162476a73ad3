/**
 * createRegistryServer(): a ready-to-listen Fastify instance with the
 * registry (/v2), health (/live, /healthz, /ready), metrics (/metrics) and
 * the web UI (/ui).
 * createOperationsServer(): a second instance with only the probes and
 * /metrics of such a server, for a separate (e.g. internal) listen address.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerOptions } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import prom from 'prom-client';
import { createRegistry, type RegistryOptions } from '../registry.js';
import { registryClientErrorHandler, registryErrorHandler } from '../http/error-handler.js';
import { RegistryError } from '../oci/errors.js';
import { TrustedProxies } from '../http/proxy.js';
import { MirrorStatsBoard } from '../services/mirror/stats.js';
import { UploadStats } from '../services/upload-stats.js';
import { healthPlugin, type HealthCheck, type HealthOptions } from './health.js';
import { metricsPlugin, metricsRoute, type MetricsOptions } from './metrics.js';
import { uiRoutes, type UiOptions } from './ui.js';
import { corsHook, type CorsOptions } from './cors.js';
import { accessLog, AccessLogController } from './access-log.js';
import { auditHook } from './audit-hook.js';
import { tracingServerOptions, type RequestTracing } from './tracing.js';

interface Operations {
  register?: prom.Registry;
  health?: HealthOptions;
}

/** What createOperationsServer serves for a server built by createRegistryServer. */
const OPERATIONS = new WeakMap<FastifyInstance, Operations>();

/**
 * The probes (/live, /ready, /healthz) and /metrics of `server` (built by
 * createRegistryServer, with `metrics: { route: false }` to keep /metrics off
 * its own listener) on a new instance, ready to listen on an address of its
 * own. Nothing else answers there (404). Close it before `server`.
 */
export async function createOperationsServer(server: FastifyInstance, options: { logger?: RegistryServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const operations = OPERATIONS.get(server);
  if (!operations) throw new TypeError('createOperationsServer needs a server built by createRegistryServer');
  const logger = options.logger ?? false;
  const logging = isLoggerInstance(logger) ? { loggerInstance: logger } : { logger: logger as FastifyServerOptions['logger'] };
  const app = Fastify({ requestIdHeader: false, genReqId: requestIdOf, clientErrorHandler: registryClientErrorHandler, logController: new AccessLogController(), ...logging } as FastifyServerOptions) as unknown as FastifyInstance;
  accessLog(app);
  app.setNotFoundHandler(async (request, reply) => {
    await registryErrorHandler(new RegistryError('ROUTE_UNKNOWN', `no endpoint answers ${request.method} ${request.routeOptions.url ?? 'this path'} here`), request, reply);
  });
  app.setErrorHandler(registryErrorHandler);
  if (operations.health) await app.register(healthPlugin, operations.health);
  if (operations.register) metricsRoute(app, operations.register);
  await app.ready();
  return app;
}

/** Health settings of createRegistryServer; the two store checks are always included. */
export interface ServerHealthOptions {
  /** Extra checks, run next to `blobStore` and `metadataStore`. */
  checks?: Record<string, HealthCheck>;
  /** Per-check timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** /ready answers 503 while this returns true (it also does once close() has begun). */
  isShuttingDown?: () => boolean;
}

export interface RegistryServerOptions extends RegistryOptions {
  /** A pino logger, Fastify logger options, or true/false. Default false (no logging). */
  logger?: boolean | Logger | FastifyServerOptions['logger'];
  /** Health endpoints; default true. */
  health?: boolean | ServerHealthOptions;
  /**
   * Metrics endpoint and hooks; default true (metadataStore defaults to the
   * registry's). With `auth`, the repository-labelled series
   * (repository_blob_bytes) are left out of a /metrics served here unless
   * `repositoryUsage` is given explicitly: they name private repositories.
   * `route: false` serves /metrics only on createOperationsServer().
   */
  metrics?: boolean | MetricsOptions;
  /** Connection timeouts; see createRegistryServer. */
  timeouts?: ServerTimeouts;
  /** Passed to Fastify, over the defaults below. */
  fastify?: Partial<FastifyServerOptions>;
  /**
   * Reverse proxies (addresses or CIDRs) whose X-Forwarded-For/-Proto/-Host
   * are believed for request.ip, request.protocol and request.host (Fastify's
   * trustProxy); give authPlugin the same list. Default none.
   */
  trustedProxies?: readonly string[];
  /**
   * Access control, e.g. authPlugin() from src/auth (or your own plugin); registered
   * right before the registry, not encapsulated by the caller's choice. Default: none.
   */
  auth?: FastifyPluginAsync;
  /**
   * The web UI under /ui and its JSON API under /v2/_ferro/ui (docs/ui.md);
   * default on. `false` turns both off.
   */
  ui?: false | UiOptions;
  /** CORS for web UIs on other origins (server/cors.ts); default none. */
  cors?: CorsOptions;
  /**
   * A span per request (Tracing.requests of startTracing, tracing.ts); the
   * request loggers then carry `traceId`. Default none. Requests sent with
   * inject() are not traced.
   */
  tracing?: RequestTracing;
}

export interface ServerTimeouts {
  /** During a request, a connection with no bytes in either direction for this long is closed; 0 disables. Default 60 s. */
  idleMs?: number;
  /** Request headers must be complete this long after they started; 0 disables. Default 60 s. */
  headersMs?: number;
}

/** Idle keep-alive connections are closed after this; above common load balancer idle timeouts (60 s). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Default: a client must send its request headers within this. */
export const HEADERS_TIMEOUT_MS = 60_000;
/** Default: a connection idle (no bytes either way) this long is closed. */
export const IDLE_TIMEOUT_MS = 60_000;

const REQUEST_ID_HEADER = 'x-request-id';
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** The incoming X-Request-Id when it is 1–200 visible ASCII characters, else a random UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && VALID_REQUEST_ID.test(given) ? given : randomUUID();
}

function isLoggerInstance(logger: unknown): logger is FastifyBaseLogger {
  if (typeof logger !== 'object' || logger === null) return false;
  const l = logger as Record<string, unknown>;
  return ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'child'].every((m) => typeof l[m] === 'function');
}

/**
 * Builds the server and waits until it is ready; it does not listen. The
 * stores stay owned by the caller: close the server first, then the stores.
 *
 * Guarantees: every response carries X-Request-Id (the incoming one when
 * valid, else generated; also the log's reqId); the logger gets one access line
 * per request (access-log.ts); with `audit`, mutating, refused and /admin
 * requests are recorded (audit-hook.ts); with `tracing`, each request is a
 * span (tracing.ts). Every error answer, 404s
 * and unparseable requests included, is the OCI error envelope. No limit on
 * a request's total time (uploads may stream for a long time), but headers
 * must arrive within `timeouts.headersMs` (checked at a quarter of it, at
 * most every 30 s) and a connection idle for `timeouts.idleMs` is closed,
 * mid-request too: a stalled upload chunk fails and the session stays at its
 * last acknowledged offset. Idle keep-alive connections close after 65 s.
 * On close(): /ready
 * answers 503, new requests get 503 with Connection: close, in-flight ones
 * finish (their connections are closed once idle) and close() resolves when
 * the last one is done; bounding that wait is the caller's job (see main.ts).
 */
export async function createRegistryServer(options: RegistryServerOptions): Promise<FastifyInstance> {
  const { logger = false, health = true, metrics = true, fastify = {} } = options;
  const idleMs = options.timeouts?.idleMs ?? IDLE_TIMEOUT_MS;
  const headersMs = options.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS;
  const base: FastifyServerOptions & { http: ServerOptions } = {
    requestIdHeader: false,
    genReqId: requestIdOf,
    logController: new AccessLogController(),
    requestTimeout: 0,
    connectionTimeout: idleMs,
    http: { headersTimeout: headersMs, connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersMs / 4) || 30_000)) },
    clientErrorHandler: registryClientErrorHandler,
    // Paths the router cannot decode (e.g. `%zz`) or whose parameter is too long.
    frameworkErrors: (err, request, reply) => {
      const path = (request.raw.url ?? '/').split('?', 1)[0]!.slice(0, 200);
      const error = path.startsWith('/v2/')
        ? new RegistryError('NAME_INVALID', `path ${JSON.stringify(path)} cannot be decoded (${err.code})`)
        : new RegistryError('ROUTE_UNKNOWN', `no endpoint answers ${request.method} ${path}`);
      void registryErrorHandler(error, request, reply);
    },
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(options.trustedProxies && options.trustedProxies.length > 0 ? { trustProxy: new TrustedProxies(options.trustedProxies).trust } : {}),
    ...(options.tracing ? tracingServerOptions(options.tracing) : {}),
  };
  const logging = isLoggerInstance(logger) ? { loggerInstance: logger } : { logger: logger as FastifyServerOptions['logger'] };
  const app = Fastify({ ...base, ...logging, ...fastify } as FastifyServerOptions) as unknown as FastifyInstance;
  app.server.headersTimeout = headersMs;
  options.tracing?.hooks(app);
  accessLog(app);
  if (options.audit) auditHook(app, options.audit);
  app.setNotFoundHandler(async (request, reply) => {
    const path = (request.raw.url ?? '/').split('?', 1)[0]!.slice(0, 200);
    await registryErrorHandler(new RegistryError('ROUTE_UNKNOWN', `no endpoint answers ${request.method} ${path}`), request, reply);
  });
  app.setErrorHandler(registryErrorHandler);

  let closing = false;
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    // Node closes idle connections once, when close() starts; connections whose
    // request finishes afterwards would otherwise linger until keepAliveTimeout.
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 100);
    idleSweep.unref();
  });
  app.addHook('onClose', async () => clearInterval(idleSweep));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing && !reply.raw.headersSent) reply.header('Connection', 'close');
    return payload;
  });

  // The mirror's counters go to the metrics through one board.
  const board = options.mirrors ? (options.mirrors.board ?? new MirrorStatsBoard()) : undefined;
  const uploadStats = options.uploadStats ?? new UploadStats();
  const registryOptions: RegistryOptions = { ...(board && options.mirrors ? { ...options, mirrors: { ...options.mirrors, board } } : options), uploadStats };
  const operations: Operations = {};
  if (metrics !== false) {
    const metricsOptions: MetricsOptions = metrics === true ? {} : metrics;
    const register = metricsOptions.register ?? new prom.Registry();
    const privateSeries = options.auth !== undefined && metricsOptions.route !== false && metricsOptions.repositoryUsage === undefined;
    await app.register(metricsPlugin, {
      metadataStore: options.metadataStore,
      ...(board ? { mirrors: () => board.read() } : {}),
      uploads: uploadStats,
      ...metricsOptions,
      register,
      ...(privateSeries ? { repositoryUsage: false } : {}),
    });
    operations.register = register;
  }
  if (health !== false) {
    const h: ServerHealthOptions = health === true ? {} : health;
    operations.health = {
      checks: {
        blobStore: (signal) => options.blobStore.checkHealth(signal),
        metadataStore: (signal) => options.metadataStore.checkHealth(signal),
        ...h.checks,
      },
      ...(h.timeoutMs !== undefined ? { timeoutMs: h.timeoutMs } : {}),
      isShuttingDown: () => closing || h.isShuttingDown?.() === true,
    };
    await app.register(healthPlugin, operations.health);
  }
  OPERATIONS.set(app, operations);
  // Before access control: preflights carry no credentials.
  if (options.cors && options.cors.origins.length > 0) corsHook(app, options.cors);
  if (options.auth) await app.register(options.auth);
  if (options.ui !== false) uiRoutes(app, options.ui ?? {});
  await app.register(createRegistry({ ...registryOptions, uiApi: options.ui !== false }));
  await app.ready();
  return app;
}

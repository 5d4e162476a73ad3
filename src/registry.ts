/**
 * createRegistry(): the OCI Distribution API as a Fastify plugin, built from
 * a BlobStore and a MetadataStore. Everything under /v2 goes through one
 * wildcard route whose path is resolved once per request (resolveV2Route,
 * http/paths.ts) and dispatched through the route table (http/routes.ts).
 * Auth and other concerns are layered by the embedding application with its
 * own hooks, e.g. an onRequest hook registered before this plugin (see
 * README, src/auth/). The registry knows nothing of auth; it declares the
 * access each route needs (route config `access`, http/route-access.ts, and
 * the route table) and reads `request.ociCanPull` / `request.ociCanList`,
 * which such a hook may set (see below).
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, HTTPMethods } from 'fastify';
import { RegistryError } from './oci/errors.js';
import { resolveLimits, type RegistryLimits } from './limits.js';
import type { BlobStore } from './storage/blob/types.js';
import type { MetadataStore } from './storage/meta/types.js';
import { BlobService } from './services/blobs.js';
import { ListingService } from './services/listings.js';
import { ManifestService } from './services/manifests.js';
import { UploadService } from './services/uploads.js';
import type { UploadStats } from './services/upload-stats.js';
import { MirrorService, type MirrorOptions } from './services/mirror/mirror.js';
import type { FetchEvent } from './services/mirror/stats.js';
import { DEFAULT_GC_GRACE_MS, GarbageCollector, formatGcReport, receiptRenewAfterMs } from './services/gc.js';
import { adminRoutes } from './http/admin.js';
import { uiApiRoutes } from './http/routes-ui.js';
import { BrowseService } from './services/browse.js';
import { StoragePolicy, type PolicyRules } from './services/policy.js';
import type { HandlerContext, Services } from './http/context.js';
import { failureLogFields, registryErrorHandler } from './http/error-handler.js';
import { sourceNamespace } from './http/headers.js';
import { resolveV2Route } from './http/paths.js';
import { routeAccess } from './http/route-access.js';
import { allowedMethods, v2Route } from './http/routes.js';
import { Live } from './live.js';
import type { EventDelivery } from './services/events/delivery.js';
import { DeadLetters } from './services/events/dead-letters.js';
import { eventAdminRoutes } from './http/admin-events.js';
import { auditAdminRoutes } from './http/admin-audit.js';
import { AuditTrail } from './services/audit/trail.js';
import type { AuditRecorder } from './services/audit/recorder.js';
import { collectionEvent } from './storage/meta/event-records.js';

export interface RegistryOptions {
  readonly blobStore: BlobStore;
  readonly metadataStore: MetadataStore;
  readonly limits?: Partial<RegistryLimits>;
  /** How often (ms) expired upload sessions and orphaned upload data are swept; 0 disables. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /**
   * At start, upload data without a session older than this (ms) is removed.
   * Default 0: right for a registry that owns its blob store alone, where such
   * data can only be a crash's leftover. Replicas sharing a blob store must set
   * it (e.g. to the session TTL): another replica may be streaming a
   * single-request upload, which has no session, at that moment.
   */
  readonly startupOrphanAgeMs?: number;
  /**
   * Answer a whole-blob GET with 307 to the blob store's own URL when the
   * store's `redirectUrl` gives one (e.g. presigned S3; stores that cannot
   * redirect answer undefined and serve the blob). Range requests and HEAD are
   * always served directly. Default false.
   */
  readonly redirectBlobGets?: boolean;
  /**
   * Online blob garbage collection (docs/gc.md): a background run every
   * `intervalMs` (default 1 h; 0: no schedule) deleting blobs unused for
   * `graceMs` (default 1 h), and the `POST /admin/gc` trigger. `false`
   * disables both. Needs a MetadataStore with the blob lifecycle. A Live
   * (live.ts) may be replaced while the registry runs: the next run takes the
   * new grace, and a new interval reschedules the background run.
   */
  readonly gc?: false | RegistryGcOptions | Live<RegistryGcOptions>;
  /**
   * Per-repository storage policies: immutable tags (enforced on every
   * request), retention and untagged-manifest removal (applied by each
   * garbage collection). See services/policy.ts. Default: none. A Live
   * (live.ts) may be replaced while the registry runs (with rules StoragePolicy
   * accepts): each request and each collection uses the rules current when it starts.
   */
  readonly storagePolicy?: PolicyRules | Live<PolicyRules>;
  /** The web UI's JSON API under /v2/_ferro/ui (http/routes-ui.ts, docs/ui.md). Default true. */
  readonly uiApi?: boolean;
  /**
   * Pull-through cache of upstream registries (docs/mirror.md): repositories
   * under an upstream's namespace (or reached with its `?ns=` host, or all
   * names outside the namespaces for the default upstream) are read from the
   * upstream and cached; pushes there are refused (405 UNSUPPORTED).
   */
  readonly mirrors?: MirrorOptions;
  /** Where the upload sessions count their resumes and the bytes read back to rebuild a hash (for metrics). Default: counted nowhere. */
  readonly uploadStats?: UploadStats;
  /**
   * Events (README "Events and audit"): with a delivery on this registry's
   * metadata store, changes record their events in the outbox, the delivery
   * runs from ready to close, collections record collection.finished, and
   * /admin/events/* list and replay dead events. Default: no events recorded.
   */
  readonly events?: EventDelivery;
  /**
   * The audit log (README "Events and audit"): the recorder's background work
   * (pruning) runs from ready to close, which writes what is queued, and
   * `GET /admin/audit` reads the store's audit table. The requests are
   * observed by createRegistryServer (server/audit-hook.ts). Default: none.
   */
  readonly audit?: AuditRecorder;
}

export interface RegistryGcOptions {
  readonly intervalMs?: number;
  readonly graceMs?: number;
  /** Lifetime of a deletion mark (default 60 s). */
  readonly leaseMs?: number;
}

export const DEFAULT_GC_INTERVAL_MS = 60 * 60 * 1000;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by an access-control hook before the handler runs: whether this
     * request's credentials may read `repository` (in token mode, what the
     * token grants). A mount (`?mount=&from=`) is only attempted when it
     * accepts `from` (otherwise a plain upload session opens, 202). Unset: everything.
     */
    ociCanPull?: (repository: string) => boolean | Promise<boolean>;
    /**
     * Set by an access-control hook: which repositories _catalog shows this
     * caller (pages stay full, see ListingService.catalog). Unset: ociCanPull,
     * else everything.
     */
    ociCanList?: (repository: string) => boolean | Promise<boolean>;
    /** The authenticated caller, set by an access-control hook; upload sessions are capped per user (limits). Undefined: anonymous. */
    ociUser?: string;
    /** Set by an access-control hook: whether the web UI offers this caller deletes in `repository` (http/routes-ui.ts). Unset: everywhere. */
    ociCanDelete?: (repository: string) => boolean | Promise<boolean>;
    /** Set by an access-control hook: how a web UI signs in here. Unset: no sign-in (the registry is open). */
    ociLogin?: { readonly mode: 'basic' } | { readonly mode: 'token'; readonly tokenPath?: string; readonly service: string };
  }
}

const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Builds the services of a registry from its stores. */
export function createServices(
  options: RegistryOptions,
  onMirrorFetch?: (event: FetchEvent) => void,
): Services & { readonly uploads: UploadService; readonly policy: Live<StoragePolicy> } {
  const limits = resolveLimits(options.limits);
  const policy = Live.of(options.storagePolicy ?? {}).map((rules) => new StoragePolicy(rules));
  const gc = gcSettings(options);
  const now = () => options.metadataStore.clock(); // shared by replicas: lifecycle times come from it
  const uploads = new UploadService(options.blobStore, options.metadataStore, limits, now, options.uploadStats);
  const mirror = options.mirrors && options.mirrors.upstreams.length > 0 ? new MirrorService(options.metadataStore, uploads, limits.maxManifestSize, options.mirrors, onMirrorFetch) : undefined;
  return {
    limits,
    policy,
    blobs: new BlobService(options.blobStore, options.metadataStore, {
      renewAfterMs: () => receiptRenewAfterMs(gc.current.graceMs ?? DEFAULT_GC_GRACE_MS),
      now,
    }),
    uploads,
    ...(mirror ? { mirror } : {}),
    manifests: new ManifestService(options.metadataStore, now, policy),
    listings: new ListingService(options.metadataStore, limits),
    redirectBlobGets: options.redirectBlobGets ?? false,
    recordEvents: options.events !== undefined,
  };
}

/**
 * The registry plugin. Register it at the root prefix (its routes are /v2 and
 * /v2/*). The stores stay owned by the caller: the plugin does not close them.
 */
export function createRegistry(options: RegistryOptions): FastifyPluginAsync {
  let log: FastifyInstance['log'] | undefined;
  const services = createServices(options, (event) => log?.[event.outcome === 'failed' ? 'warn' : 'info']({ mirror: event }, `upstream ${event.kind} ${event.repository} ${event.reference}: ${event.outcome}`));
  const mirrors = services.mirror ? { mirrors: services.mirror.namespaces } : {};
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;

  return async function registryPlugin(app: FastifyInstance): Promise<void> {
    log = app.log;
    // Bodies are streamed by the handlers themselves (uploads) or read under a limit (manifests).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    app.setErrorHandler(registryErrorHandler);

    app.addHook('onRequest', async (_request, reply) => {
      reply.header('Docker-Distribution-API-Version', 'registry/2.0');
    });

    const handle = async (request: FastifyRequest, reply: import('fastify').FastifyReply): Promise<void> => {
      const { path, error } = resolveV2Route(request);
      if (error) throw error;
      const route = v2Route(path.kind, request.method);
      if (!route) {
        throw new RegistryError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here; allowed: ${allowedMethods(path.kind)}`, {
          headers: { Allow: allowedMethods(path.kind) },
        });
      }
      if (path.mirror && route.access === 'push') {
        throw new RegistryError('MIRROR_READ_ONLY', `${path.name} mirrors ${path.mirror.remote} of upstream ${path.mirror.upstream}: push to a repository outside the mirror namespaces`);
      }
      // distribution-spec-next "Registry Proxying": a registry scoping the request by `ns` SHOULD answer it as OCI-Namespace.
      if (path.mirror?.ns !== undefined) reply.header('OCI-Namespace', path.mirror.ns);
      const controller = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new RegistryError('REQUEST_TIMEOUT', 'the client closed the connection'));
      });
      const namespace = sourceNamespace(request.query);
      const ctx: HandlerContext = { request, reply, path, name: path.name ?? '', ref: path.ref ?? '', ...(namespace ? { namespace } : {}), services, signal: controller.signal };
      await route.handler(ctx);
    };
    const config = { config: { ...routeAccess('v2').config, ...mirrors } };
    app.route({ method: METHODS, url: '/v2', ...config, handler: handle });
    app.route({ method: METHODS, url: '/v2/*', ...config, handler: handle });

    if (sweepIntervalMs > 0) {
      // At start, any upload data without a session is a leftover of a crash. The sweep
      // completes before the plugin is ready: run concurrently with requests, it could
      // delete the data of a session created between its two steps.
      const initial = await services.uploads.sweep(options.startupOrphanAgeMs ?? 0).catch((err: unknown) => app.log.warn(failureLogFields(err), 'upload sweep failed'));
      if (initial && initial.sessions + initial.orphans > 0) app.log.info(initial, 'removed expired upload sessions and orphaned upload data');
      const timer = setInterval(() => {
        services.uploads.sweep().catch((err: unknown) => app.log.warn(failureLogFields(err), 'upload sweep failed'));
      }, sweepIntervalMs);
      timer.unref();
      app.addHook('onClose', async () => clearInterval(timer));
    }
    const gc = options.gc !== false ? garbageCollection(app, options, services, gcSettings(options)) : undefined;
    const mirror = services.mirror;
    if (mirror) app.addHook('onClose', async () => mirror.pulls.flush().catch((err: unknown) => app.log.warn(failureLogFields(err), 'recording mirror pulls failed')));
    if (options.uiApi !== false) {
      uiApiRoutes(app, new BrowseService(options.metadataStore, services.blobs, services.manifests, services.policy), () => gc?.lastReport);
    }
    const events = options.events;
    if (events !== undefined) {
      eventAdminRoutes(app, new DeadLetters(options.metadataStore));
      app.addHook('onReady', async () => events.start());
      app.addHook('onClose', async () => events.stop());
    }
    const audit = options.audit;
    if (audit !== undefined) {
      auditAdminRoutes(app, new AuditTrail(options.metadataStore));
      app.addHook('onReady', async () => audit.start());
      app.addHook('onClose', async () => audit.stop());
    }
  };
}

function gcSettings(options: RegistryOptions): Live<RegistryGcOptions> {
  return Live.of(options.gc === false ? {} : (options.gc ?? {}));
}

/** The admin trigger and the background schedule of blob garbage collection; `settings` are read when a run starts. */
function garbageCollection(app: FastifyInstance, options: RegistryOptions, services: ReturnType<typeof createServices>, settings: Live<RegistryGcOptions>): GarbageCollector {
  const collector = new GarbageCollector(options, () => {
    const { graceMs, leaseMs } = settings.current;
    return {
      graceMs: graceMs ?? DEFAULT_GC_GRACE_MS,
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      sweepUploads: (signal) => services.uploads.sweep(undefined, signal),
      policy: services.policy.current,
      ...(options.events !== undefined ? { events: {} } : {}),
      ...(services.mirror ? { eviction: services.mirror.eviction } : {}),
    };
  });
  const gc = {
    // With events, a collection that changed things records collection.finished (a failure to record is logged, not the run's).
    run: async (o: Parameters<GarbageCollector['run']>[0]) => {
      const report = await collector.run(o);
      if (options.events !== undefined && o?.dryRun !== true) {
        const store = options.metadataStore;
        await store.appendEvents([collectionEvent({ ...report }, store.clock())]).catch((err: unknown) => app.log.warn(failureLogFields(err), 'recording collection.finished failed'));
      }
      return report;
    },
  };
  adminRoutes(app, gc);
  const stop = new AbortController();
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let scheduledMs = 0;
  const schedule = () => {
    const intervalMs = settings.current.intervalMs ?? DEFAULT_GC_INTERVAL_MS;
    if (intervalMs === scheduledMs) return;
    clearInterval(timer);
    scheduledMs = intervalMs;
    if (intervalMs <= 0) return;
    timer = setInterval(() => {
      running = gc.run({ signal: stop.signal }).then(
        (report) => app.log.info({ gc: report }, formatGcReport(report).join('; ')),
        (err: unknown) => {
          if (!stop.signal.aborted) app.log.warn(failureLogFields(err), 'garbage collection failed');
        },
      );
    }, intervalMs);
    timer.unref();
  };
  schedule();
  const unsubscribe = settings.onChange(schedule);
  app.addHook('onClose', async () => {
    unsubscribe();
    clearInterval(timer);
    stop.abort(new Error('the registry is closing'));
    await running;
  });
  return collector;
}

/**
 * Prometheus metrics: `GET /metrics` in the text exposition format, and
 * request hooks that observe every request of the instance it is registered
 * on. The plugin is marked skip-override, so `app.register(metricsPlugin)`
 * adds its hooks to the registering instance itself (not a child context):
 * register it before the plugins whose requests it should see.
 *
 * Metrics (prefix default `ferro_oci_`):
 *   http_requests_total{method,route,status}          counter
 *   http_request_duration_seconds{method,route}       histogram
 *   http_received_bytes_total                         counter, request body bytes read
 *   http_sent_bytes_total                             counter, response body bytes written
 *   upload_sessions_open                              gauge, at scrape time (needs metadataStore)
 *   repository_blob_bytes{repository}                 gauge, bytes of the blobs linked in each repository,
 *                                                     each digest once per repository (needs metadataStore);
 *                                                     only the `repositoryUsage.top` largest repositories
 *                                                     (default 100) get a series, the rest are summed in
 *                                                     repository="(other)"; recomputed at most every
 *                                                     `repositoryUsage.refreshMs` (default 60 s)
 *   mirror_*{upstream}                                the pull-through cache's counters (server/mirror-metrics.ts;
 *                                                     needs `mirrors`)
 *   upload_resumes_total, upload_resumes_without_reread_total, upload_rehash_bytes_total
 *                                                     counters, how resumed upload sessions got their sha256
 *                                                     (server/upload-metrics.ts; needs `uploads`)
 *   plus prom-client's default process and Node.js metrics.
 * The server binary adds the configuration reload series (configReloadMetrics below).
 * `route` is the /v2 route kind (request.ociRoute), else the Fastify route
 * pattern, else 'unknown': never the raw path, so label values stay bounded.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import prom from 'prom-client';
import type { MetadataStore, StoreStats } from '../storage/meta/types.js';
import { repositoryUsage, type RepositoryUsage } from '../services/usage.js';
import { failureLogFields } from '../http/error-handler.js';
import { countReceived, countSent, routeOf } from './request-facts.js';
import { routeAccess } from '../http/route-access.js';
import type { UpstreamStatsRow } from '../services/mirror/stats.js';
import { registerMirrorMetrics } from './mirror-metrics.js';
import { registerUploadMetrics } from './upload-metrics.js';
import type { UploadStats } from '../services/upload-stats.js';

export interface MetricsOptions {
  /**
   * Where the metrics are registered and read from. Default: a new Registry per
   * plugin instance. Two plugin instances on one register need different prefixes.
   */
  register?: prom.Registry;
  /** Source of the upload_sessions_open gauge; without it the gauge is absent. */
  metadataStore?: MetadataStore;
  /** Metric name prefix. Default 'ferro_oci_'. */
  prefix?: string;
  /** The per-repository usage gauge (needs metadataStore): series cap and refresh period; false omits it. */
  repositoryUsage?: false | { top?: number; refreshMs?: number };
  /** The pull-through cache's counters per upstream (MirrorStatsBoard.read); without it no mirror_* series. */
  mirrors?: () => UpstreamStatsRow[];
  /** The upload sessions' resume counters; without it no upload_resume* series. */
  uploads?: UploadStats;
  /** Serve GET /metrics on this instance (default true); false: serve `register` elsewhere with metricsRoute. */
  route?: boolean;
}

/** Default cap of repository_blob_bytes series (the rest are summed in repository="(other)"). */
export const USAGE_TOP_REPOSITORIES = 100;

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

async function metrics(app: FastifyInstance, options: MetricsOptions): Promise<void> {
  const register = options.register ?? new prom.Registry();
  const prefix = options.prefix ?? 'ferro_oci_';

  const requests = new prom.Counter({
    name: `${prefix}http_requests_total`,
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [register],
  });
  const duration = new prom.Histogram({
    name: `${prefix}http_request_duration_seconds`,
    help: 'Time from the start of a request to the end of its response, by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS,
    registers: [register],
  });
  const received = new prom.Counter({
    name: `${prefix}http_received_bytes_total`,
    help: 'Request body bytes read.',
    registers: [register],
  });
  const sent = new prom.Counter({
    name: `${prefix}http_sent_bytes_total`,
    help: 'Response body bytes written.',
    registers: [register],
  });

  const store = options.metadataStore;
  if (store) {
    // One stats() scan per scrape, shared by the gauges below.
    let pending: { at: number; stats: Promise<StoreStats> } | undefined;
    const stats = (): Promise<StoreStats> => {
      if (!pending || Date.now() - pending.at > 1000) pending = { at: Date.now(), stats: store.stats(AbortSignal.timeout(2000)) };
      return pending.stats;
    };
    const gauges: Array<[string, string, keyof StoreStats]> = [
      ['upload_sessions_open', 'Upload sessions currently open.', 'uploads'],
      ['blobs_stored', 'Distinct blobs linked in at least one repository.', 'blobs'],
      ['blob_bytes_stored', 'Bytes of the distinct blobs linked in at least one repository.', 'blobBytes'],
      ['repositories', 'Repositories.', 'repositories'],
      ['manifests_stored', 'Manifests, counted per repository.', 'manifests'],
      ['tags', 'Tags.', 'tags'],
    ];
    for (const [name, help, key] of gauges) {
      new prom.Gauge({
        name: `${prefix}${name}`,
        help: `${help} NaN when the metadata store does not answer.`,
        registers: [register],
        async collect() {
          try {
            this.set((await stats())[key]);
          } catch (err) {
            app.log.warn(failureLogFields(err), `metrics: reading ${name} failed`);
            this.set(Number.NaN);
          }
        },
      });
    }
  }

  if (store && options.repositoryUsage !== false) {
    const top = options.repositoryUsage?.top ?? USAGE_TOP_REPOSITORIES;
    const refreshMs = options.repositoryUsage?.refreshMs ?? 60_000;
    let usage: { at: number; value: Promise<RepositoryUsage[]> } | undefined;
    new prom.Gauge({
      name: `${prefix}repository_blob_bytes`,
      help: `Bytes of the blobs linked in a repository, each digest once per repository. The ${top} largest repositories only; the others are summed in repository="(other)".`,
      labelNames: ['repository'] as const,
      registers: [register],
      async collect() {
        if (!usage || Date.now() - usage.at > refreshMs) usage = { at: Date.now(), value: repositoryUsage(store) };
        this.reset();
        try {
          const all = await usage.value;
          for (const u of all.slice(0, top)) this.set({ repository: u.repository }, u.bytes);
          if (all.length > top) this.set({ repository: '(other)' }, all.slice(top).reduce((n, u) => n + u.bytes, 0));
        } catch (err) {
          usage = undefined;
          app.log.warn(failureLogFields(err), 'metrics: reading repository usage failed');
        }
      },
    });
  }

  if (options.mirrors) registerMirrorMetrics(register, prefix, options.mirrors);
  if (options.uploads) registerUploadMetrics(register, prefix, options.uploads);

  // Default process metrics once per register (a second collector would throw on duplicate names).
  if (register.getSingleMetric(`${prefix}process_cpu_user_seconds_total`) === undefined) {
    prom.collectDefaultMetrics({ register, prefix });
  }

  app.addHook('onRequest', async (request, reply) => {
    countReceived(request, (n) => received.inc(n));
    countSent(request, reply, (n) => sent.inc(n));
  });

  app.addHook('onResponse', async (request, reply) => {
    const method = request.method;
    const route = routeOf(request);
    requests.inc({ method, route, status: String(reply.statusCode) });
    duration.observe({ method, route }, reply.elapsedTime / 1000);
  });

  if (options.route !== false) metricsRoute(app, register);
}

/** GET /metrics answering `register` in the text exposition format, on any instance (e.g. an operations listener). */
export function metricsRoute(app: FastifyInstance, register: prom.Registry): void {
  app.get('/metrics', routeAccess('open'), async (_request, reply) => {
    const body = await register.metrics();
    return reply.header('Content-Type', register.contentType).header('Cache-Control', 'no-store').send(body);
  });
}

/** The metrics plugin (skip-override: its hooks apply to the instance that registers it). */
export const metricsPlugin: FastifyPluginAsync<MetricsOptions> = Object.assign(metrics, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'ferro-oci-metrics',
});

/** Records configuration loads in the reload series of a register. */
export interface ReloadMetrics {
  /** One load of the configuration (the one at start included): whether it worked, at `at` (ms since the epoch). */
  record(ok: boolean, at: number): void;
}

/**
 * The configuration reload series (server/reload.ts), on `register`:
 *   config_reload_success                    gauge, 1 when the last load (at start or a reload) worked, else 0
 *   config_last_reload_timestamp_seconds     gauge, when the configuration in effect was loaded (the last load that worked)
 *   config_reloads_total{result}             counter, reload attempts by result (success, failure); the load at start is not one
 */
export function configReloadMetrics(register: prom.Registry, prefix = 'ferro_oci_'): ReloadMetrics {
  const success = new prom.Gauge({ name: `${prefix}config_reload_success`, help: 'Whether the last configuration load (at start or a reload) worked: 1 yes, 0 no.', registers: [register] });
  const timestamp = new prom.Gauge({
    name: `${prefix}config_last_reload_timestamp_seconds`,
    help: 'When the configuration in effect was loaded (Unix time of the last load that worked).',
    registers: [register],
  });
  const attempts = new prom.Counter({ name: `${prefix}config_reloads_total`, help: 'Configuration reloads, by result.', labelNames: ['result'] as const, registers: [register] });
  attempts.inc({ result: 'success' }, 0);
  attempts.inc({ result: 'failure' }, 0);
  let first = true;
  return {
    record(ok, at) {
      success.set(ok ? 1 : 0);
      if (ok) timestamp.set(at / 1000);
      if (!first) attempts.inc({ result: ok ? 'success' : 'failure' });
      first = false;
    },
  };
}

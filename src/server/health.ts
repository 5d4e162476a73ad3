/**
 * Liveness and readiness endpoints, as an ordinary (encapsulated) Fastify
 * plugin: it only adds routes.
 *
 *   GET /live     200 {"status":"ok"} whenever the process answers.
 *   GET /healthz  runs every check: 200 {"status":"ok","checks":{name:"ok"}},
 *                 else 503 {"status":"unavailable","checks":{name:"ok"|reason}}.
 *   GET /ready    as /healthz, but 503 {"status":"unavailable","reason":"shutting down","checks":{}}
 *                 once `isShuttingDown()` is true.
 *
 * Checks run concurrently, each under `timeoutMs`; a check that does not
 * settle in time is aborted through its signal and reported as timed out.
 * Concurrent probes share one run of the checks.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { routeAccess } from '../http/route-access.js';

export type HealthCheck = (signal: AbortSignal) => Promise<void>;

export interface HealthOptions {
  /** Named checks; each resolves when healthy and throws with the reason otherwise. */
  checks: Record<string, HealthCheck>;
  /** Per-check timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** When it returns true, /ready answers 503 without running the checks. */
  isShuttingDown?: () => boolean;
}

export interface HealthReport {
  readonly ok: boolean;
  /** 'ok' or the failure reason, per check. */
  readonly checks: Record<string, string>;
}

const MAX_REASON_LENGTH = 500;

function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  return (text || 'failed').slice(0, MAX_REASON_LENGTH);
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<string> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      const reason = `timed out after ${timeoutMs} ms`;
      controller.abort(new Error(reason));
      resolve(reason);
    }, timeoutMs);
  });
  const run = (async () => {
    await check(controller.signal);
    return 'ok';
  })().catch(reasonOf);
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check concurrently under `timeoutMs`; never throws. */
export async function runHealthChecks(checks: Record<string, HealthCheck>, timeoutMs: number): Promise<HealthReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(checks[name]!, timeoutMs)));
  const report: Record<string, string> = {};
  names.forEach((name, i) => (report[name] = results[i]!));
  return { ok: results.every((r) => r === 'ok'), checks: report };
}

async function send(reply: FastifyReply, status: number, body: object): Promise<void> {
  await reply.code(status).header('Cache-Control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(body));
}

export const healthPlugin: FastifyPluginAsync<HealthOptions> = async function healthPlugin(app: FastifyInstance, options: HealthOptions) {
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`health timeoutMs must be a positive number, got ${timeoutMs}`);
  const checks = { ...options.checks };
  let inFlight: Promise<HealthReport> | undefined;

  const check = (): Promise<HealthReport> => {
    inFlight ??= runHealthChecks(checks, timeoutMs).finally(() => (inFlight = undefined));
    return inFlight;
  };
  const probe = async (reply: FastifyReply): Promise<void> => {
    const report = await check();
    await send(reply, report.ok ? 200 : 503, { status: report.ok ? 'ok' : 'unavailable', checks: report.checks });
  };

  const open = routeAccess('open');
  app.get('/live', open, async (_request, reply) => send(reply, 200, { status: 'ok' }));
  app.get('/healthz', open, async (_request, reply) => probe(reply));
  app.get('/ready', open, async (_request, reply) => {
    if (options.isShuttingDown?.() === true) return send(reply, 503, { status: 'unavailable', reason: 'shutting down', checks: {} });
    return probe(reply);
  });
};

/**
 * The client of one upstream registry: real HTTP (node:http, see exchange.ts), its auth
 * (anonymous, basic, or the token flow of a `WWW-Authenticate: Bearer`
 * challenge, tokens cached per scope until they expire), per-request
 * timeouts and a circuit breaker. The client's own Authorization is never
 * sent: only this upstream's configured credentials are.
 *
 * Every failure is an UpstreamError; `transient` ones (unreachable, timeout,
 * 5xx, 429, refused credentials, breaker open) are the "upstream down" the
 * mirror may answer from its cache for.
 */
import { UpstreamTransport, type AroundExchange, type UpstreamResponse } from './exchange.js';
import type { UpstreamSettings } from './settings.js';

export type UpstreamFailure = 'unreachable' | 'timeout' | 'server' | 'throttled' | 'auth' | 'breaker-open' | 'not-found' | 'refused';

export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly failure: UpstreamFailure,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** Whether this is the upstream being down (as opposed to an answer about the content). */
  get transient(): boolean {
    return this.failure !== 'not-found' && this.failure !== 'refused';
  }
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Opens after `failures` consecutive transient failures; lets one probe through after `openMs`. */
class Breaker {
  private consecutive = 0;
  private openedAt: number | undefined;
  private probing = false;

  constructor(
    private readonly failures: number,
    private readonly openMs: number,
  ) {}

  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return Date.now() - this.openedAt >= this.openMs ? 'half-open' : 'open';
  }

  /** Whether a request may go to the upstream now (in half-open state: one at a time). */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.openedAt = undefined;
    this.probing = false;
  }

  failure(): void {
    this.probing = false;
    this.consecutive++;
    if (this.consecutive >= this.failures) this.openedAt = Date.now();
  }
}

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** The first challenge of a WWW-Authenticate header (RFC 9110 §11.6.1), with its quoted or token parameters. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

function retryAfter(res: UpstreamResponse): number | undefined {
  const raw = res.headers.get('retry-after');
  if (raw === null) return undefined;
  if (/^\d{1,9}$/.test(raw)) return Number(raw);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

export interface UpstreamRequest {
  readonly method: 'GET' | 'HEAD';
  /** Path below /v2/ at the upstream, e.g. `library/busybox/manifests/latest`. */
  readonly path: string;
  /** The repository at the upstream, for the token scope. */
  readonly repository: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
}

export class UpstreamClient {
  private readonly breaker: Breaker;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  /** The scheme the upstream asked for last (basic credentials are sent up front once it asked for them). */
  private scheme: string | undefined;
  private readonly transport: UpstreamTransport;

  /** `around` wraps each HTTP exchange with the upstream (tracing). */
  constructor(
    readonly settings: UpstreamSettings,
    around?: AroundExchange,
  ) {
    this.transport = new UpstreamTransport(around);
    this.breaker = new Breaker(settings.breakerFailures, settings.breakerOpenMs);
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /**
   * Sends the request and resolves the response once its headers arrived
   * with a 2xx status; the caller reads (or cancels) the body. A 404 is an
   * UpstreamError 'not-found', other statuses are mapped as the class says.
   * `signal` may abort the body later too.
   */
  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const name = this.settings.name;
    if (!this.breaker.allow()) throw new UpstreamError(name, 'breaker-open', `upstream ${name} is failing; not asked again for a while (circuit breaker open)`);
    try {
      const res = await this.authorized(req);
      if (res.ok) {
        this.breaker.success();
        return res;
      }
      res.cancel();
      const error = this.statusError(res);
      if (error.transient) this.breaker.failure();
      else this.breaker.success();
      throw error;
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      if (req.signal?.aborted) throw req.signal.reason;
      this.breaker.failure();
      const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : err instanceof Error ? `: ${err.message}` : '';
      throw new UpstreamError(name, timeout ? 'timeout' : 'unreachable', `upstream ${name} ${timeout ? `did not answer within ${this.settings.timeoutMs} ms` : `is unreachable${cause}`}`);
    }
  }

  private statusError(res: UpstreamResponse): UpstreamError {
    const name = this.settings.name;
    const s = res.status;
    if (s === 404) return new UpstreamError(name, 'not-found', `upstream ${name} does not have it (404)`);
    if (s === 429) return new UpstreamError(name, 'throttled', `upstream ${name} is rate-limiting this registry (429)`, retryAfter(res));
    if (s === 401 || s === 403) return new UpstreamError(name, 'auth', `upstream ${name} refused this registry's credentials (${s})`);
    if (s >= 500) return new UpstreamError(name, 'server', `upstream ${name} failed (${s})`, retryAfter(res));
    return new UpstreamError(name, 'refused', `upstream ${name} answered ${s}`);
  }

  private async authorized(req: UpstreamRequest): Promise<UpstreamResponse> {
    const scope = `repository:${req.repository}:pull`;
    let res = await this.request(req, this.authorization(scope));
    if (res.status !== 401) return res;
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    if (!challenge) return res;
    this.scheme = challenge.scheme;
    let authorization: string | undefined;
    if (challenge.scheme === 'bearer' && challenge.params.realm) authorization = await this.token(challenge.params, scope, req.signal);
    else if (challenge.scheme === 'basic' && this.settings.credentials) authorization = this.basic();
    if (authorization === undefined) return res;
    res.cancel();
    res = await this.request(req, authorization);
    return res;
  }

  private authorization(scope: string): string | undefined {
    const cached = this.tokens.get(scope);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    return this.scheme === 'basic' && this.settings.credentials ? this.basic() : undefined;
  }

  private basic(): string {
    const c = this.settings.credentials!;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  /** The distribution token flow: GET realm?service=&scope= with basic credentials when configured. */
  private async token(params: Readonly<Record<string, string>>, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      return undefined;
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', scope);
    const res = await fetch(realm, {
      headers: this.settings.credentials ? { authorization: this.basic() } : {},
      signal: this.signal(signal),
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return undefined;
    }
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined) return undefined;
    // Token spec: expires_in defaults to 60 s; renewed 10 s early.
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope, { token, expires: Date.now() + Math.max(0, seconds - 10) * 1000 });
    return `Bearer ${token}`;
  }

  private signal(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  /** One HTTP exchange; the timeout covers the response headers only (the body is watched by its reader). */
  private async request(req: UpstreamRequest, authorization: string | undefined): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'user-agent': 'ferro-oci-server-mirror' };
    if (req.accept) headers.accept = req.accept;
    if (authorization) headers.authorization = authorization;
    const headersDone = new AbortController();
    const timer = setTimeout(() => headersDone.abort(new DOMException(`no answer within ${this.settings.timeoutMs} ms`, 'TimeoutError')), this.settings.timeoutMs);
    try {
      const signal = req.signal ? AbortSignal.any([req.signal, headersDone.signal]) : headersDone.signal;
      return await this.transport.send({ url: `${this.settings.url.replace(/\/+$/, '')}/v2/${req.path}`, method: req.method, headers, signal });
    } finally {
      clearTimeout(timer);
    }
  }
}

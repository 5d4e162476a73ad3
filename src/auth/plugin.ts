/**
 * authPlugin(): access control for the registry as a Fastify plugin. Register
 * it before createRegistry() in the same scope (it is not encapsulated: its
 * onRequest hook must reach the registry's routes):
 *
 *   await app.register(authPlugin({ mode: 'token', policy, users, token: { service, issuer } }));
 *   await app.register(createRegistry({ blobStore, metadataStore }));
 *
 * For every /v2 request the hook parses the path with the registry's own
 * parser, decides the access it needs (access.ts), authenticates the caller
 * and refuses with a RegistryError (written by the registry's error handler):
 *   - no or bad credentials: 401 UNAUTHORIZED with a challenge naming the scope;
 *   - basic mode, known user without the permission: 403 DENIED;
 *   - token mode, token without the permission: 401 with error="insufficient_scope"
 *     (clients then ask the token endpoint for that scope);
 *   - too many failed logins: 429 TOOMANYREQUESTS with Retry-After.
 * It then sets request.ociCanPull, which the registry uses to filter _catalog
 * and to refuse mounting from a repository the caller may not pull.
 *
 * Modes: `basic` checks Basic credentials on every request against the users;
 * `token` accepts Bearer tokens from `token.verifier` (default: the built-in
 * `token.issuer`, which also serves the token endpoint at `token.path`). In
 * both, a request without credentials passes when the policy grants
 * anonymous callers what it needs. Paths under /admin (registry
 * administration, e.g. POST /admin/gc) need an authenticated admin of the
 * policy: 401 with a challenge without credentials, 403 DENIED for anyone
 * else, in both modes. Other paths outside /v2 are not touched.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { parseV2Path, type RouteKind } from '../http/paths.js';
import { RegistryError } from '../oci/errors.js';
import type {} from '../registry.js'; // FastifyRequest.ociRoute, ociCanPull
import { requiredAccess, type RequiredAccess } from './access.js';
import { basicChallenge, bearerChallenge, isQuotable, realmOf, unauthorized } from './challenge.js';
import { parseBasic, PasswordChecker } from './credentials.js';
import type { UserStore } from './htpasswd.js';
import type { AccessPolicy } from './policy.js';
import { accessGrants, type ResourceScope } from './scope.js';
import { LoginThrottle, type ThrottleOptions } from './throttle.js';
import { tokenEndpoint } from './token-endpoint.js';
import type { TokenIssuer, TokenVerifier } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user of a /v2 request (set by authPlugin); undefined when anonymous. */
    ociUser?: string;
  }
}

export interface TokenAuthOptions {
  /** The `service` of challenges and the audience of tokens. */
  readonly service: string;
  /** Token realm URL for challenges; default `<protocol>://<Host><path>` of each request. */
  readonly realm?: string;
  /** The built-in issuer: serves the token endpoint at `path`. Omit when an external issuer issues tokens. */
  readonly issuer?: TokenIssuer;
  /** Verifies presented tokens; default `issuer.verifier()`. Required without `issuer`. */
  readonly verifier?: TokenVerifier;
  /** Token endpoint path; default '/token'. */
  readonly path?: string;
}

export interface AuthOptions {
  readonly mode: 'basic' | 'token';
  readonly policy: AccessPolicy;
  /** Users with passwords: required in basic mode and by the built-in token issuer. */
  readonly users?: UserStore;
  /** Realm of Basic challenges; default 'ferro-oci-server'. */
  readonly realm?: string;
  readonly token?: TokenAuthOptions;
  /** Failed-login throttling (default 5 failures per minute per client IP and per user name). */
  readonly throttle?: ThrottleOptions | LoginThrottle;
}

/** Who is calling: a user (or anonymous), and in token mode what the presented token grants. */
interface Caller {
  readonly user: string | undefined;
  readonly token?: readonly ResourceScope[];
}

function pathOf(request: FastifyRequest): string {
  const url = request.raw.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function routeOf(path: string): { route: RouteKind | 'invalid'; repository?: string } {
  try {
    const parsed = parseV2Path(path);
    if (!parsed) return { route: 'invalid' };
    return parsed.name === undefined ? { route: parsed.kind } : { route: parsed.kind, repository: parsed.name };
  } catch {
    return { route: 'invalid' }; // the registry reports why (NAME_INVALID …) once the caller is authenticated
  }
}

export function authPlugin(options: AuthOptions): FastifyPluginAsync {
  const { mode, policy } = options;
  const realm = options.realm ?? 'ferro-oci-server';
  const token = options.token;
  if (mode === 'token' && !token) throw new TypeError('auth mode token needs token options');
  if (mode === 'token' && !token!.issuer && !token!.verifier) throw new TypeError('auth mode token needs token.issuer or token.verifier');
  if ((mode === 'basic' || token?.issuer) && !options.users) throw new TypeError(`auth mode ${mode} needs users`);
  for (const [what, value] of [['realm', realm], ['token.service', token?.service], ['token.realm', token?.realm]] as const) {
    if (value !== undefined && !isQuotable(value)) throw new TypeError(`${what} must be printable ASCII without '"' or '\\'`);
  }
  const tokenPath = token?.path ?? '/token';
  const throttle = options.throttle instanceof LoginThrottle ? options.throttle : new LoginThrottle(options.throttle);
  const passwords = options.users ? new PasswordChecker(options.users, throttle) : undefined;
  const verifier = token?.verifier ?? token?.issuer?.verifier();

  /** 401 for `access` in this mode. */
  const challenge = (request: FastifyRequest, access: RequiredAccess, error?: 'invalid_token' | 'insufficient_scope', message?: string) => {
    if (mode === 'basic') return unauthorized(basicChallenge(realm), message);
    const scopes = access.kind === 'repository' ? access.scopes : access.kind === 'catalog' ? ['registry:catalog:*'] : [];
    const value = bearerChallenge({ realm: realmOf(request, token!.realm, tokenPath), service: token!.service, scopes, ...(error ? { error } : {}) });
    return unauthorized(value, message);
  };

  const authenticate = async (request: FastifyRequest, access: RequiredAccess): Promise<Caller> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') return { user: undefined };
    if (mode === 'basic') {
      const credentials = parseBasic(header);
      if (!credentials || !(await passwords!.check(credentials, request.ip))) {
        request.log.info({ user: credentials?.username.slice(0, 100) }, 'bad credentials');
        throw challenge(request, access, undefined, 'invalid username or password');
      }
      return { user: credentials.username };
    }
    if (!/^Bearer\b/i.test(header)) throw challenge(request, access, undefined, 'a Bearer token is required');
    const m = /^Bearer +([A-Za-z0-9\-_.=]{1,16384}) *$/i.exec(header);
    if (!m) throw challenge(request, access, 'invalid_token', 'malformed Bearer token');
    try {
      const verified = await verifier!.verify(m[1]!);
      return { user: verified.subject, token: verified.access };
    } catch (err) {
      request.log.info({ reason: err instanceof Error ? err.message : String(err) }, 'token refused');
      throw challenge(request, access, 'invalid_token', 'invalid or expired token');
    }
  };

  const may = (caller: Caller, repository: string, action: 'pull' | 'push' | 'delete'): boolean =>
    caller.token ? accessGrants(caller.token, 'repository', repository, action) : policy.allows(caller.user, repository, action);

  const authorize = (request: FastifyRequest, caller: Caller, access: RequiredAccess): void => {
    const presented = request.headers.authorization !== undefined && request.headers.authorization !== '';
    if (access.kind === 'login' || access.kind === 'catalog') {
      if (caller.user === undefined) throw challenge(request, access, presented ? 'insufficient_scope' : undefined);
      if (access.kind === 'catalog' && caller.token && !accessGrants(caller.token, 'registry', 'catalog', '*')) {
        throw challenge(request, access, 'insufficient_scope', 'the token does not grant registry:catalog:*');
      }
      return;
    }
    const missing = access.actions.filter((a) => !may(caller, access.repository, a));
    if (missing.length === 0) return;
    const message = `${missing.join(', ')} access to repository ${access.repository} is not granted`;
    if (caller.user === undefined && !caller.token) throw challenge(request, access);
    if (mode === 'basic') throw new RegistryError('DENIED', message);
    throw challenge(request, access, 'insufficient_scope', message);
  };

  const plugin = async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', async (request, reply) => {
      const path = pathOf(request);
      if (path === '/admin' || path.startsWith('/admin/')) {
        const access: RequiredAccess = { kind: 'login' };
        const caller = await authenticate(request, access);
        if (caller.user === undefined) throw challenge(request, access);
        if (!policy.isAdmin(caller.user)) throw new RegistryError('DENIED', `${path.slice(0, 100)} is for administrators only`);
        request.ociUser = caller.user;
        return;
      }
      if (path !== '/v2' && !path.startsWith('/v2/')) return;
      // Refusals happen before the registry's own hooks; docker reads this header on the 401 of its ping.
      reply.header('Docker-Distribution-API-Version', 'registry/2.0');
      const { route, repository } = routeOf(path);
      request.ociRoute = route;
      if (repository !== undefined) request.ociRepository = repository;
      const access = requiredAccess(request.method, route, repository, request.query);
      const caller = await authenticate(request, access);
      authorize(request, caller, access);
      if (caller.user !== undefined) request.ociUser = caller.user;
      request.ociCanPull = (name: string) => policy.allows(caller.user, name, 'pull') || (caller.token !== undefined && accessGrants(caller.token, 'repository', name, 'pull'));
    });
    if (mode === 'token' && token!.issuer) {
      const endpoint = { path: tokenPath, service: token!.service, issuer: token!.issuer, passwords: passwords!, policy, realm };
      await app.register(async (scope) => tokenEndpoint(scope, endpoint));
    }
  };
  // Not encapsulated (what fastify-plugin does): the hook applies to routes registered after it in the parent scope.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'ferro-oci-auth' });
}

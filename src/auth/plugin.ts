/**
 * authPlugin(): access control for the registry as a Fastify plugin. Register
 * it before createRegistry() in the same scope (it is not encapsulated: its
 * onRequest hook must reach the registry's routes):
 *
 *   await app.register(authPlugin({ mode: 'token', policy, users, token: { service, issuer } }));
 *   await app.register(createRegistry({ blobStore, metadataStore }));
 *
 * For every request the hook takes the access the matched route declares
 * (http/route-access.ts; for /v2, the route table's action for the path
 * resolved once by resolveV2Route; see access.ts), authenticates the caller
 * and refuses with a RegistryError (written by the registry's error handler):
 *   - no or bad credentials: 401 UNAUTHORIZED with a challenge naming the scope;
 *   - basic mode, known user without the permission: 403 DENIED;
 *   - token mode, token without the permission: 401 with error="insufficient_scope"
 *     (clients then ask the token endpoint for that scope);
 *   - admin routes: 403 DENIED for an authenticated non-admin, in both modes;
 *   - too many failed logins: 429 TOOMANYREQUESTS with Retry-After (throttle.ts).
 * It then sets request.ociCanPull (what the credentials may read: in token
 * mode the token's own grants, used for mounts), request.ociCanList (what
 * _catalog and the web UI show: the user's rules, or the token's grants),
 * request.ociCanDelete (the same for the UI's deletes) and request.ociLogin.
 *
 * Modes: `basic` checks Basic credentials on every request against the users;
 * `token` accepts Bearer tokens from `token.verifier` (default: the built-in
 * `token.issuer`, which also serves the token endpoint at `token.path`). In
 * both, a request without credentials passes when the policy grants
 * anonymous callers what it needs. The client address (throttling) and the
 * default token realm come from `trustedProxies` (http/proxy.ts), never from
 * a Host header.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { TrustedProxies } from '../http/proxy.js';
import { RegistryError } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import type {} from '../registry.js'; // FastifyRequest.ociCanPull, ociCanList
import { requiredAccess, type RequiredAccess } from './access.js';
import { basicChallenge, bearerChallenge, isQuotable, unauthorized } from './challenge.js';
import { parseBasic, PasswordChecker } from './credentials.js';
import type { UserStore } from './htpasswd.js';
import type { AccessPolicy } from './policy.js';
import { accessGrants, type ResourceScope } from './scope.js';
import { LoginThrottle, type ThrottleOptions } from './throttle.js';
import { tokenEndpoint } from './token-endpoint.js';
import { Live } from '../live.js';
import type { TokenIssuer, TokenVerifier } from './tokens.js';

export interface TokenAuthOptions {
  /** The `service` of challenges and the audience of tokens. */
  readonly service: string;
  /**
   * Token realm URL for challenges; default `<origin><path>`, the origin
   * being the one a trusted proxy forwarded, else the local address the
   * request arrived on (TrustedProxies.origin), never the Host header.
   */
  readonly realm?: string;
  /** The built-in issuer: serves the token endpoint at `path`. Omit when an external issuer issues tokens. */
  readonly issuer?: TokenIssuer;
  /** Verifies presented tokens; default `issuer.verifier()`. Required without `issuer`. */
  readonly verifier?: TokenVerifier;
  /** Token endpoint path; default '/token'. */
  readonly path?: string;
}

/**
 * `policy` and `users` may be Live (live.ts) and replaced while the server
 * runs (configuration reload): each request is decided by the policy and
 * users current when it arrives.
 */
export interface AuthOptions {
  readonly mode: 'basic' | 'token';
  readonly policy: AccessPolicy | Live<AccessPolicy>;
  /** Users with passwords: required in basic mode and by the built-in token issuer. */
  readonly users?: UserStore | Live<UserStore>;
  /** Realm of Basic challenges; default 'ferro-oci-server'. */
  readonly realm?: string;
  readonly token?: TokenAuthOptions;
  /** Failed-login throttling (default 5 failures per minute per user and client address, 20 per address). */
  readonly throttle?: ThrottleOptions | LoginThrottle;
  /** Proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or CIDRs); default none. */
  readonly trustedProxies?: readonly string[] | TrustedProxies;
}

/** Who is calling: a user (or anonymous), and in token mode what the presented token grants. */
interface Caller {
  readonly user: string | undefined;
  readonly token?: readonly ResourceScope[];
}

export function authPlugin(options: AuthOptions): FastifyPluginAsync {
  const { mode } = options;
  const policies = Live.of(options.policy);
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
  const proxies = options.trustedProxies instanceof TrustedProxies ? options.trustedProxies : new TrustedProxies(options.trustedProxies);
  const realmOf = (request: FastifyRequest) => token!.realm ?? `${proxies.origin(request)}${tokenPath}`;

  /**
   * 401 for `access` in this mode, with the challenge /v2 gives (RFC 7235
   * §3.1: a 401 carries one). The web UI's API too: the UI fetches with
   * `credentials: 'omit'`, so its browser opens no login dialog over the page.
   */
  const challenge = (request: FastifyRequest, access: RequiredAccess, error?: 'invalid_token' | 'insufficient_scope', message?: string) => {
    if (mode === 'basic') return unauthorized(basicChallenge(realm), message);
    const scopes =
      access.kind === 'repository' ? access.scopes
      : access.kind === 'catalog' ? ['registry:catalog:*']
      : access.kind === 'browse-repository' && isValidName(access.repository) ? [`repository:${access.repository}:${access.action}`] // a query parameter: only a valid name is quoted
      : [];
    const value = bearerChallenge({ realm: realmOf(request), service: token!.service, scopes, ...(error ? { error } : {}) });
    return unauthorized(value, message);
  };

  const authenticate = async (request: FastifyRequest, access: RequiredAccess): Promise<Caller> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') return { user: undefined };
    if (mode === 'basic') {
      const credentials = parseBasic(header);
      if (!credentials || !(await passwords!.check(credentials, proxies.clientAddress(request)))) {
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

  /** What the presented credentials allow: in token mode the token's grants only, else the user's rules. */
  const may = (policy: AccessPolicy, caller: Caller, repository: string, action: 'pull' | 'push' | 'delete'): boolean =>
    caller.token ? accessGrants(caller.token, 'repository', repository, action) : policy.allows(caller.user, repository, action);

  /** What the web UI shows a caller: the user's rules, or what the token grants. */
  const browses = (policy: AccessPolicy, caller: Caller, repository: string, action: 'pull' | 'delete'): boolean =>
    policy.allows(caller.user, repository, action) || (caller.token !== undefined && accessGrants(caller.token, 'repository', repository, action));

  const authorize = (request: FastifyRequest, policy: AccessPolicy, caller: Caller, access: RequiredAccess): void => {
    const presented = request.headers.authorization !== undefined && request.headers.authorization !== '';
    if (access.kind === 'none' || access.kind === 'browse') return;
    if (access.kind === 'browse-repository') {
      if (browses(policy, caller, access.repository, access.action)) return;
      const message = `${access.action} access to repository ${access.repository} is not granted`;
      // Signed in and refused: 403, in token mode too (a token is judged by its subject's rules, so another would not help).
      throw caller.user === undefined ? challenge(request, access, caller.token ? 'insufficient_scope' : undefined, `${message}; sign in`) : new RegistryError('DENIED', message);
    }
    if (access.kind === 'admin') {
      if (caller.user === undefined) throw challenge(request, access, presented ? 'insufficient_scope' : undefined);
      if (!policy.isAdmin(caller.user)) throw new RegistryError('DENIED', `${request.routeOptions.url ?? 'this endpoint'} is for administrators only`);
      return;
    }
    if (access.kind === 'login' || access.kind === 'catalog') {
      if (caller.user === undefined) throw challenge(request, access, presented ? 'insufficient_scope' : undefined);
      if (access.kind === 'catalog' && caller.token && !accessGrants(caller.token, 'registry', 'catalog', '*')) {
        throw challenge(request, access, 'insufficient_scope', 'the token does not grant registry:catalog:*');
      }
      return;
    }
    const missing = access.actions.filter((a) => !may(policy, caller, access.repository, a));
    if (missing.length === 0) return;
    const message = `${missing.join(', ')} access to repository ${access.repository} is not granted`;
    if (caller.user === undefined && !caller.token) throw challenge(request, access);
    if (mode === 'basic') throw new RegistryError('DENIED', message);
    throw challenge(request, access, 'insufficient_scope', message);
  };

  const login: NonNullable<FastifyRequest['ociLogin']> = mode === 'basic' ? { mode } : { mode, service: token!.service, ...(token!.issuer ? { tokenPath } : {}) };

  const plugin = async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', async (request, reply) => {
      // Refusals happen before the registry's own hooks; docker reads this header on the 401 of its ping.
      if (request.routeOptions.config?.access === 'v2') reply.header('Docker-Distribution-API-Version', 'registry/2.0');
      const access = requiredAccess(request);
      if (access.kind === 'none') return;
      const policy = policies.current; // this request's snapshot, whatever a reload does meanwhile
      const caller = await authenticate(request, access);
      // Set before the decision, so that a refusal's access line names the user too.
      if (caller.user !== undefined) request.ociUser = caller.user;
      authorize(request, policy, caller, access);
      request.ociCanPull = (name: string) => may(policy, caller, name, 'pull');
      request.ociCanList = (name: string) => browses(policy, caller, name, 'pull');
      request.ociCanDelete = (name: string) => browses(policy, caller, name, 'delete');
      request.ociLogin = login;
    });
    if (mode === 'token' && token!.issuer) {
      const endpoint = { path: tokenPath, service: token!.service, issuer: token!.issuer, passwords: passwords!, policy: policies, realm, clientAddress: (r: FastifyRequest) => proxies.clientAddress(r) };
      await app.register(async (scope) => tokenEndpoint(scope, endpoint));
    }
  };
  // Not encapsulated (what fastify-plugin does): the hook applies to routes registered after it in the parent scope.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'ferro-oci-auth' });
}

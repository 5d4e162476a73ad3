/**
 * The built-in token endpoint (Docker token spec and its OAuth2 variant):
 *
 *   GET  <path>?service=&scope=…&scope=…&account=&offline_token=true   Basic credentials, or none for an anonymous token
 *   POST <path>  (form) grant_type=password&username=&password=  |  grant_type=refresh_token&refresh_token=
 *                       with service, scope (space-separated), access_type=offline, client_id
 *
 * Answers `{"token","access_token","expires_in","issued_at"}` (plus
 * `refresh_token` for offline_token / access_type=offline, and `scope` on
 * POST). A token grants only what is both asked for and held: for each
 * `repository:<name>:<actions>` scope, the requested actions the caller holds
 * (`*`: all it holds); `registry:catalog:*` to any authenticated user.
 * Bad credentials are 401 (throttled, see credentials.ts); errors use the
 * registry's error handler and envelope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { registryErrorHandler } from '../http/error-handler.js';
import { routeAccess } from '../http/route-access.js';
import { RegistryError } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import { basicChallenge, unauthorized } from './challenge.js';
import { parseBasic, type PasswordChecker } from './credentials.js';
import { ACTIONS, type AccessPolicy, type Action } from './policy.js';
import { formatScope, parseScopes, type ResourceScope } from './scope.js';
import type { TokenIssuer } from './tokens.js';
import type { Live } from '../live.js';

export interface TokenEndpointOptions {
  readonly path: string;
  readonly service: string;
  readonly issuer: TokenIssuer;
  readonly passwords: PasswordChecker;
  /** Read once per token request (it may be reloaded). */
  readonly policy: Live<AccessPolicy>;
  /** Realm of the Basic challenge answered to bad credentials. */
  readonly realm: string;
  /** The client's address, for throttling (TrustedProxies.clientAddress). */
  readonly clientAddress: (request: FastifyRequest) => string;
}

type Form = Record<string, string[]>;

function all(source: unknown, name: string): string[] {
  const v = (source as Record<string, string | string[] | undefined> | undefined)?.[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function one(source: unknown, name: string): string | undefined {
  return all(source, name)[0];
}

/** What `user` (undefined: anonymous) may be granted of `requested`. */
export function grantScopes(policy: AccessPolicy, user: string | undefined, requested: readonly ResourceScope[]): ResourceScope[] {
  const granted: ResourceScope[] = [];
  for (const scope of requested) {
    if (scope.type === 'registry' && scope.name === 'catalog') {
      if (user !== undefined) granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      continue;
    }
    if (scope.type !== 'repository' || !isValidName(scope.name)) continue;
    const held = policy.actions(user, scope.name);
    const wanted: readonly string[] = scope.actions.includes('*') ? ACTIONS : scope.actions;
    const actions = ACTIONS.filter((a: Action) => wanted.includes(a) && held.has(a));
    if (actions.length > 0) granted.push({ type: 'repository', name: scope.name, actions });
  }
  return granted;
}

export async function tokenEndpoint(app: FastifyInstance, options: TokenEndpointOptions): Promise<void> {
  const { issuer, passwords, policy, service } = options;
  app.setErrorHandler(registryErrorHandler);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    const form: Form = {};
    for (const [k, v] of new URLSearchParams(body as string)) (form[k] ??= []).push(v);
    done(null, form);
  });

  const checkService = (given: string | undefined) => {
    if (given !== undefined && given !== service) throw new RegistryError('UNSUPPORTED', `unknown service ${JSON.stringify(given.slice(0, 100))}; this is ${service}`);
  };
  const refreshFor = (user: string) => issuer.issueRefresh(user, passwords.passwordVersion(user) ?? '');
  const badCredentials = () => unauthorized(basicChallenge(options.realm), 'invalid username or password');

  const login = async (request: FastifyRequest, username: string, password: string): Promise<string> => {
    if (!(await passwords.check({ username, password }, options.clientAddress(request)))) {
      request.log.info({ user: username.slice(0, 100) }, 'token request with bad credentials');
      throw badCredentials();
    }
    request.ociUser = username; // for the access line
    return username;
  };

  const answer = async (reply: FastifyReply, user: string | undefined, scopes: readonly ResourceScope[], refresh: string | undefined, oauth: boolean) => {
    const granted = grantScopes(policy.current, user, scopes);
    const issued = await issuer.issueAccess(user, granted);
    const body = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(oauth ? { token_type: 'Bearer', scope: granted.map(formatScope).join(' ') } : {}),
      ...(refresh !== undefined ? { refresh_token: refresh } : {}),
    };
    await reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').type('application/json').send(JSON.stringify(body));
  };

  // Open to anyone: the endpoint checks the credentials it is given itself.
  const declared = routeAccess('token-endpoint');
  app.get(options.path, declared, async (request, reply) => {
    checkService(one(request.query, 'service'));
    const header = request.headers.authorization;
    let user: string | undefined;
    if (header !== undefined) {
      const credentials = parseBasic(header);
      if (!credentials) throw badCredentials();
      user = await login(request, credentials.username, credentials.password);
      const account = one(request.query, 'account');
      if (account !== undefined && account !== '' && account !== user) throw new RegistryError('UNSUPPORTED', 'account does not match the credentials');
    }
    const offline = user !== undefined && one(request.query, 'offline_token') === 'true';
    await answer(reply, user, parseScopes(all(request.query, 'scope')), offline ? await refreshFor(user!) : undefined, false);
  });

  app.post(options.path, declared, async (request, reply) => {
    const form = (request.body ?? {}) as Form;
    checkService(one(form, 'service'));
    const grant = one(form, 'grant_type');
    let user: string;
    let refresh: string | undefined;
    if (grant === 'password') {
      const username = one(form, 'username');
      const password = one(form, 'password');
      if (!username || password === undefined) throw new RegistryError('UNSUPPORTED', 'grant_type=password needs username and password');
      user = await login(request, username, password);
      if (one(form, 'access_type') === 'offline') refresh = await refreshFor(user);
    } else if (grant === 'refresh_token') {
      refresh = one(form, 'refresh_token') ?? '';
      const claims = await issuer.verifyRefresh(refresh).catch(() => undefined);
      // The user must still exist with the same password: a password change revokes refresh tokens.
      if (claims === undefined || passwords.passwordVersion(claims.subject) !== claims.passwordVersion) {
        throw unauthorized(basicChallenge(options.realm), 'invalid or expired refresh token');
      }
      user = claims.subject;
    } else {
      throw new RegistryError('UNSUPPORTED', `unsupported grant_type ${JSON.stringify((grant ?? '').slice(0, 40))}: use password or refresh_token`);
    }
    await answer(reply, user, parseScopes(all(form, 'scope')), refresh, true);
  });
}

/**
 * The `auth` section of the configuration file (see README "Securing the
 * registry"). Its structure is checked by the schema (config-schema.ts);
 * this adds the rules between keys (what each mode needs), checks that
 * repository patterns compile, and resolves relative paths against the
 * file's directory. authWarnings() names the mistakes that still start:
 * rules and admins naming users or groups that do not exist.
 *
 *   auth:
 *     mode: token                      # none | basic | token
 *     htpasswd: ./htpasswd             # bcrypt entries (htpasswd -B)
 *     realm: my-registry               # Basic realm (basic mode)
 *     token:
 *       service: registry.example.com  # audience of tokens, `service` of challenges
 *       issuer: ferro-oci-server
 *       realm: https://registry.example.com/token   # default: <local address or trusted proxy's forwarded origin>/token
 *       keyFile: ./token-key.pem       # ES256 key, generated (0600) when absent
 *       expiresIn: 300                 # seconds
 *       refreshExpiresIn: 604800
 *       external:                      # trust another issuer instead of the built-in one
 *         publicKeyFile: ./issuer.pem  # or jwksUrl: https://auth.example.com/jwks.json
 *     throttle: { maxFailures: 5, maxAddressFailures: 20, windowSeconds: 60 }   # per user+address, per address
 *     groups: { devs: [alice, bob] }
 *     admins: { users: [root], groups: [ops] }
 *     rules:
 *       - { repositories: ["team-a/**"], users: [alice], groups: [devs], actions: [pull, push, delete] }
 *       - { repositories: ["public/**"], anonymousPull: true }
 */
import { resolve } from 'node:path';
import type { AuthConfig } from '../auth/config.js';
import type { Action, PolicyRule } from '../auth/policy.js';
import { RepositoryPattern } from '../oci/patterns.js';
import { Sources, validateSection } from './config-schema.js';

type Obj = Record<string, unknown>;
type Token = NonNullable<AuthConfig['token']>;

function rule(r: Obj, at: string, sources: Sources): PolicyRule {
  const repositories = r.repositories as string[];
  for (const p of repositories) {
    try {
      RepositoryPattern.compile(p);
    } catch (err) {
      throw sources.error(`${at}.repositories`, (err as Error).message);
    }
  }
  const { users, groups, actions } = r as { users?: string[]; groups?: string[]; actions?: Action[] };
  if ((users || groups) && !actions) throw sources.error(`${at}.actions`, 'must be given when users or groups are');
  if (actions && !users && !groups) throw sources.error(at, 'actions need users or groups to go to');
  if (!actions && r.anonymousPull !== true) throw sources.error(at, 'grants nothing: give users or groups with actions, or anonymousPull: true');
  return {
    repositories,
    ...(users ? { users } : {}),
    ...(groups ? { groups } : {}),
    ...(actions ? { actions } : {}),
    ...(r.anonymousPull === true ? { anonymousPull: true } : {}),
  };
}

function token(t: Obj, at: string, path: (p: unknown) => string | undefined, sources: Sources): Token {
  const e = t.external as { publicKeyFile?: string; jwksUrl?: string } | undefined;
  if (e && (e.publicKeyFile === undefined) === (e.jwksUrl === undefined)) throw sources.error(`${at}.external`, 'give exactly one of publicKeyFile and jwksUrl');
  const external = e === undefined ? undefined : e.publicKeyFile !== undefined ? { publicKeyFile: path(e.publicKeyFile)! } : { jwksUrl: e.jwksUrl! };
  const keyFile = path(t.keyFile);
  if (external && keyFile) throw sources.error(at, 'keyFile is for the built-in issuer; remove it or external');
  if (external && t.realm === undefined) throw sources.error(`${at}.realm`, 'is required with an external issuer (its token endpoint URL)');
  if (!external && keyFile === undefined) throw sources.error(`${at}.keyFile`, 'is required for the built-in issuer (it is generated when absent)');
  const optional = (k: string) => (t[k] !== undefined ? { [k]: t[k] } : {});
  return {
    service: t.service as string,
    issuer: t.issuer as string,
    ...optional('realm'),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...optional('expiresIn'),
    ...optional('refreshExpiresIn'),
    ...(external ? { external } : {}),
  };
}

/** The AuthConfig of a schema-validated `auth` section (defaults filled in); `baseDir` resolves relative paths. */
export function authOf(a: Obj, baseDir: string, sources: Sources, at = 'auth'): AuthConfig {
  const path = (v: unknown) => (typeof v === 'string' ? resolve(baseDir, v) : undefined);
  const mode = a.mode as AuthConfig['mode'];
  const htpasswd = path(a.htpasswd);
  const tokenSettings = a.token === undefined ? undefined : token(a.token as Obj, `${at}.token`, path, sources);
  if (mode === 'basic' && htpasswd === undefined) throw sources.error(`${at}.htpasswd`, 'is required in basic mode');
  if (mode === 'token' && tokenSettings === undefined) throw sources.error(`${at}.token`, 'is required in token mode');
  if (mode === 'token' && !tokenSettings!.external && htpasswd === undefined) throw sources.error(`${at}.htpasswd`, 'is required by the built-in token issuer');
  const admins = a.admins as { users?: string[]; groups?: string[] } | undefined;
  return {
    mode,
    ...(htpasswd !== undefined ? { htpasswd } : {}),
    ...(a.realm !== undefined ? { realm: a.realm as string } : {}),
    ...(tokenSettings ? { token: tokenSettings } : {}),
    ...(a.throttle !== undefined ? { throttle: a.throttle as AuthConfig['throttle'] } : {}),
    policy: {
      rules: ((a.rules as Obj[] | undefined) ?? []).map((r, i) => rule(r, `${at}.rules[${i}]`, sources)),
      groups: (a.groups as Record<string, string[]> | undefined) ?? {},
      ...(admins ? { admins: { users: admins.users ?? [], groups: admins.groups ?? [] } } : {}),
    },
  };
}

/**
 * Validates an `auth` section given on its own (the library's way to build
 * the auth plugin from the same settings as the file: loadAuth(parseAuthConfig(…))).
 * `baseDir` resolves relative paths. Throws ConfigError naming the key.
 */
export function parseAuthConfig(raw: unknown, baseDir: string, at = 'auth'): AuthConfig {
  const section = structuredClone(raw);
  const sources = new Sources();
  validateSection('auth', section, sources, at);
  return authOf(section as Obj, baseDir, sources, at);
}

/**
 * Mistakes that leave the registry running but not as meant: rules and
 * admins naming groups the `groups` section lacks, and, when the users come
 * from an htpasswd file (`users`), users (also group members) it lacks.
 * With a file but no auth section, the registry is open: openRegistryWarning.
 */
export function authWarnings(auth: AuthConfig, users: { has(user: string): boolean } | undefined): string[] {
  const groups = new Set(Object.keys(auth.policy.groups ?? {}));
  const warnings: string[] = [];
  const check = (names: readonly string[] | undefined, where: string) => {
    for (const user of names ?? []) if (users && !users.has(user)) warnings.push(`${where} names user ${JSON.stringify(user)}, who is not in the htpasswd file`);
  };
  const checkGroups = (names: readonly string[] | undefined, where: string) => {
    for (const group of names ?? []) if (!groups.has(group)) warnings.push(`${where} names group ${JSON.stringify(group)}, which auth.groups does not define`);
  };
  (auth.policy.rules ?? []).forEach((r, i) => {
    check(r.users, `auth.rules[${i}]`);
    checkGroups(r.groups, `auth.rules[${i}]`);
  });
  check(auth.policy.admins?.users, 'auth.admins.users');
  checkGroups(auth.policy.admins?.groups, 'auth.admins.groups');
  for (const [group, members] of Object.entries(auth.policy.groups ?? {})) check(members, `auth.groups.${group}`);
  return warnings;
}

/** The warning for a configuration file without an auth section: anyone who can reach the registry can push and delete. */
export function openRegistryWarning(file: string): string {
  return `the configuration file ${file} has no auth section: the registry is open, anyone who can reach it can push and delete (add auth, or auth: {mode: none} to mean it)`;
}

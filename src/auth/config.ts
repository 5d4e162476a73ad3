/**
 * The `auth` section of the server's configuration file (YAML or JSON),
 * validated strictly: unknown keys and wrong types are errors naming the key
 * (e.g. `auth.token.service`). Relative file paths are resolved against the
 * configuration file's directory. See README "Securing the registry".
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
import YAML from 'yaml';
import { RepositoryPattern } from '../oci/patterns.js';
import { ACTIONS, type Action, type PolicyOptions, type PolicyRule } from './policy.js';
import { isQuotable } from './challenge.js';
import { MIRROR_SECTION, MirrorConfigError, parseMirrorConfig } from '../server/mirror-config.js';
import type { UpstreamSettings } from '../services/mirror/settings.js';
import { parseUpkeepConfig, UPKEEP_SECTIONS, UpkeepConfigError, type UpkeepConfig } from '../server/upkeep-config.js';
import { parseUiConfig, UiConfigError, type UiConfig } from '../server/config-ui.js';

export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthConfigError';
  }
}

export interface AuthConfig {
  readonly mode: 'none' | 'basic' | 'token';
  /** Absolute path of the htpasswd file (basic mode, built-in token issuer). */
  readonly htpasswd?: string;
  readonly realm?: string;
  readonly token?: {
    readonly service: string;
    readonly issuer: string;
    readonly realm?: string;
    readonly keyFile?: string;
    readonly expiresIn?: number;
    readonly refreshExpiresIn?: number;
    readonly external?: { readonly publicKeyFile?: string; readonly jwksUrl?: string };
  };
  readonly throttle?: { readonly maxFailures?: number; readonly maxAddressFailures?: number; readonly windowSeconds?: number };
  readonly policy: PolicyOptions;
}

type Obj = Record<string, unknown>;

function fail(at: string, why: string): never {
  throw new AuthConfigError(`${at}: ${why}`);
}

function object(value: unknown, at: string, keys: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be a mapping');
  for (const k of Object.keys(value)) if (!keys.includes(k)) fail(`${at}.${k}`, `unknown setting; expected one of ${keys.join(', ')}`);
  return value as Obj;
}

function str(value: unknown, at: string, quoted = false): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(at, 'must be a non-empty string');
  if (quoted && !isQuotable(value)) fail(at, 'must be printable ASCII without \'"\' or \'\\\'');
  return value;
}

function int(value: unknown, at: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(at, `must be an integer from ${min} to ${max}`);
  return value;
}

function names(value: unknown, at: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '' && !v.includes(':'))) fail(at, 'must be a list of names');
  return value as string[];
}

function rule(value: unknown, at: string): PolicyRule {
  const r = object(value, at, ['repositories', 'users', 'groups', 'actions', 'anonymousPull']);
  const repositories = names(r.repositories, `${at}.repositories`);
  if (!repositories || repositories.length === 0) fail(`${at}.repositories`, 'must list at least one pattern');
  for (const p of repositories) {
    try {
      RepositoryPattern.compile(p);
    } catch (err) {
      fail(`${at}.repositories`, (err as Error).message);
    }
  }
  const actions = names(r.actions, `${at}.actions`);
  for (const a of actions ?? []) if (!ACTIONS.includes(a as Action)) fail(`${at}.actions`, `unknown action ${JSON.stringify(a)}; use ${ACTIONS.join(', ')}`);
  if (r.anonymousPull !== undefined && typeof r.anonymousPull !== 'boolean') fail(`${at}.anonymousPull`, 'must be true or false');
  const users = names(r.users, `${at}.users`);
  const groups = names(r.groups, `${at}.groups`);
  if ((users || groups) && !actions) fail(`${at}.actions`, 'must be given when users or groups are');
  if (actions && !users && !groups) fail(at, 'actions need users or groups to go to');
  if (!actions && r.anonymousPull !== true) fail(at, 'grants nothing: give users or groups with actions, or anonymousPull: true');
  return {
    repositories,
    ...(users ? { users } : {}),
    ...(groups ? { groups } : {}),
    ...(actions ? { actions: actions as Action[] } : {}),
    ...(r.anonymousPull === true ? { anonymousPull: true } : {}),
  };
}

/** Validates the `auth` section; `baseDir` resolves relative paths. */
export function parseAuthConfig(raw: unknown, baseDir: string, at = 'auth'): AuthConfig {
  const a = object(raw, at, ['mode', 'htpasswd', 'realm', 'token', 'throttle', 'groups', 'admins', 'rules']);
  const mode = a.mode ?? 'none';
  if (mode !== 'none' && mode !== 'basic' && mode !== 'token') fail(`${at}.mode`, 'must be none, basic or token');
  const path = (v: unknown, where: string) => {
    const s = str(v, where);
    return s === undefined ? undefined : resolve(baseDir, s);
  };
  const htpasswd = path(a.htpasswd, `${at}.htpasswd`);
  let token: AuthConfig['token'];
  if (a.token !== undefined) {
    const t = object(a.token, `${at}.token`, ['service', 'issuer', 'realm', 'keyFile', 'expiresIn', 'refreshExpiresIn', 'external']);
    const service = str(t.service, `${at}.token.service`, true) ?? fail(`${at}.token.service`, 'is required');
    const issuer = str(t.issuer, `${at}.token.issuer`) ?? 'ferro-oci-server';
    let external: { publicKeyFile?: string; jwksUrl?: string } | undefined;
    if (t.external !== undefined) {
      const e = object(t.external, `${at}.token.external`, ['publicKeyFile', 'jwksUrl']);
      const publicKeyFile = path(e.publicKeyFile, `${at}.token.external.publicKeyFile`);
      const jwksUrl = str(e.jwksUrl, `${at}.token.external.jwksUrl`);
      if ((publicKeyFile === undefined) === (jwksUrl === undefined)) fail(`${at}.token.external`, 'give exactly one of publicKeyFile and jwksUrl');
      if (jwksUrl !== undefined && !/^https?:\/\//.test(jwksUrl)) fail(`${at}.token.external.jwksUrl`, 'must be an http(s) URL');
      external = publicKeyFile !== undefined ? { publicKeyFile } : { jwksUrl: jwksUrl! };
    }
    const keyFile = path(t.keyFile, `${at}.token.keyFile`);
    const realm = str(t.realm, `${at}.token.realm`, true);
    const expiresIn = int(t.expiresIn, `${at}.token.expiresIn`, 10, 86_400);
    const refreshExpiresIn = int(t.refreshExpiresIn, `${at}.token.refreshExpiresIn`, 60, 365 * 86_400);
    if (external && keyFile) fail(`${at}.token`, 'keyFile is for the built-in issuer; remove it or external');
    if (external && realm === undefined) fail(`${at}.token.realm`, 'is required with an external issuer (its token endpoint URL)');
    if (!external && keyFile === undefined) fail(`${at}.token.keyFile`, 'is required for the built-in issuer (it is generated when absent)');
    token = {
      service,
      issuer,
      ...(realm !== undefined ? { realm } : {}),
      ...(keyFile !== undefined ? { keyFile } : {}),
      ...(expiresIn !== undefined ? { expiresIn } : {}),
      ...(refreshExpiresIn !== undefined ? { refreshExpiresIn } : {}),
      ...(external ? { external } : {}),
    };
  }
  if (mode === 'basic' && htpasswd === undefined) fail(`${at}.htpasswd`, 'is required in basic mode');
  if (mode === 'token' && token === undefined) fail(`${at}.token`, 'is required in token mode');
  if (mode === 'token' && !token!.external && htpasswd === undefined) fail(`${at}.htpasswd`, 'is required by the built-in token issuer');
  let throttle: AuthConfig['throttle'];
  if (a.throttle !== undefined) {
    const t = object(a.throttle, `${at}.throttle`, ['maxFailures', 'maxAddressFailures', 'windowSeconds']);
    const maxAddressFailures = int(t.maxAddressFailures, `${at}.throttle.maxAddressFailures`, 1, 100_000);
    throttle = {
      maxFailures: int(t.maxFailures, `${at}.throttle.maxFailures`, 1, 1000) ?? 5,
      ...(maxAddressFailures !== undefined ? { maxAddressFailures } : {}),
      windowSeconds: int(t.windowSeconds, `${at}.throttle.windowSeconds`, 1, 86_400) ?? 60,
    };
  }
  const groups: Record<string, string[]> = {};
  if (a.groups !== undefined) {
    const g = object(a.groups, `${at}.groups`, Object.keys(a.groups as Obj));
    for (const [name, members] of Object.entries(g)) groups[name] = names(members, `${at}.groups.${name}`) ?? [];
  }
  let admins: PolicyOptions['admins'];
  if (a.admins !== undefined) {
    const ad = object(a.admins, `${at}.admins`, ['users', 'groups']);
    admins = { users: names(ad.users, `${at}.admins.users`) ?? [], groups: names(ad.groups, `${at}.admins.groups`) ?? [] };
  }
  if (a.rules !== undefined && !Array.isArray(a.rules)) fail(`${at}.rules`, 'must be a list');
  const rules = ((a.rules as unknown[] | undefined) ?? []).map((r, i) => rule(r, `${at}.rules[${i}]`));
  return {
    mode,
    ...(htpasswd !== undefined ? { htpasswd } : {}),
    ...(a.realm !== undefined ? { realm: str(a.realm, `${at}.realm`, true)! } : {}),
    ...(token ? { token } : {}),
    ...(throttle ? { throttle } : {}),
    policy: { rules, groups, ...(admins ? { admins } : {}) },
  };
}

/**
 * Parses a configuration file's text (YAML, or JSON which is YAML too); `path`
 * names it and anchors relative paths. Besides `auth`, the storage upkeep
 * sections (gc, …: server/upkeep-config.ts) are validated and returned as
 * `upkeep` when present, and the `ui` section (server/config-ui.ts) as `ui`. Every error is an AuthConfigError naming the file.
 */
export function parseConfigFile(text: string, path: string): { auth?: AuthConfig; upkeep?: UpkeepConfig; ui?: UiConfig; mirrors?: UpstreamSettings[] } {
  let raw: unknown;
  try {
    raw = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    throw new AuthConfigError(`${path}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) return {};
  try {
    const top = object(raw, 'configuration', ['auth', 'ui', ...UPKEEP_SECTIONS, MIRROR_SECTION]);
    const upkeep = UPKEEP_SECTIONS.some((k) => top[k] !== undefined) ? parseUpkeepConfig(top) : undefined;
    return {
      ...(top.auth === undefined ? {} : { auth: parseAuthConfig(top.auth, resolve(path, '..')) }),
      ...(upkeep ? { upkeep } : {}),
      ...(top.ui === undefined ? {} : { ui: parseUiConfig(top.ui) }),
      ...(top[MIRROR_SECTION] === undefined ? {} : { mirrors: parseMirrorConfig(top[MIRROR_SECTION], resolve(path, '..')) }),
    };
  } catch (err) {
    if (err instanceof AuthConfigError || err instanceof UpkeepConfigError || err instanceof UiConfigError || err instanceof MirrorConfigError) throw new AuthConfigError(`${path}: ${err.message}`);
    throw err;
  }
}

/**
 * Builds the auth plugin from a validated AuthConfig: reads the htpasswd
 * file, reads or generates the token signing key, reads the external
 * issuer's public key or sets up its JWKS. Every failure is an error naming
 * the file at fault, for a clear startup error. Returns what a server should
 * log (e.g. a key generated, a key file readable by others), and the plugin's
 * live policy and users, which a reload replaces.
 */
import type { FastifyPluginAsync } from 'fastify';
import { createRemoteJWKSet } from 'jose';
import type { AuthConfig } from './config.js';
import { UserStore } from './htpasswd.js';
import { loadOrCreateSigningKey, loadPublicKey } from './keys.js';
import { authPlugin, type TokenAuthOptions } from './plugin.js';
import { AccessPolicy } from './policy.js';
import { TokenIssuer, TokenVerifier } from './tokens.js';
import { Live } from '../live.js';

/** Lower bcrypt costs are warned about at startup. */
export const MIN_GOOD_COST = 10;

type Notice = { readonly level: 'info' | 'warn'; readonly msg: string; readonly fields: Record<string, unknown> };

export interface LoadedAuth {
  /** undefined for mode none. */
  readonly plugin: FastifyPluginAsync | undefined;
  readonly notices: readonly Notice[];
  /**
   * The plugin's policy and users (undefined for mode none): set() new ones to
   * change who may do what without a restart (server/reload.ts).
   */
  readonly live?: { readonly policy: Live<AccessPolicy>; readonly users?: Live<UserStore> };
}

/**
 * The users of the htpasswd file `config` names (undefined when it names none),
 * with what to log about them. `text`: the file's content, already read.
 */
export async function loadUsers(config: AuthConfig, text?: string): Promise<{ users: UserStore | undefined; notices: Notice[] }> {
  const notices: Notice[] = [];
  if (config.mode === 'none' || config.htpasswd === undefined) return { users: undefined, notices };
  const users = text === undefined ? await UserStore.load(config.htpasswd) : UserStore.fromText(text, config.htpasswd);
  notices.push({ level: 'info', msg: 'users loaded', fields: { htpasswd: config.htpasswd, users: users.size } });
  const costs = users.costs();
  if (costs.length > 1) {
    const msg = `the htpasswd file mixes bcrypt costs ${costs.join(', ')}: every login costs as much as cost ${users.maxCost}; rehash the others with htpasswd -B -C ${users.maxCost}`;
    notices.push({ level: 'warn', msg, fields: { htpasswd: config.htpasswd, costs } });
  }
  if (costs[0] !== undefined && costs[0] < MIN_GOOD_COST) {
    const msg = `bcrypt cost ${costs[0]} is weak: rehash with htpasswd -B -C ${MIN_GOOD_COST} (or higher)`;
    notices.push({ level: 'warn', msg, fields: { htpasswd: config.htpasswd } });
  }
  return { users, notices };
}

/** `trustedProxies`: the server's reverse proxies (addresses, CIDRs): client addresses and the default realm come through them. */
export async function loadAuth(config: AuthConfig, options: { trustedProxies?: readonly string[] } = {}): Promise<LoadedAuth> {
  if (config.mode === 'none') return { plugin: undefined, notices: [] };
  const policy = new Live(new AccessPolicy(config.policy));
  const loaded = await loadUsers(config);
  const notices = loaded.notices;
  const users = loaded.users ? new Live(loaded.users) : undefined;
  let token: TokenAuthOptions | undefined;
  if (config.mode === 'token') {
    const t = config.token!;
    const common = { service: t.service, ...(t.realm !== undefined ? { realm: t.realm } : {}) };
    if (t.external?.publicKeyFile !== undefined) {
      const key = await loadPublicKey(t.external.publicKeyFile);
      token = { ...common, verifier: new TokenVerifier({ key, issuer: t.issuer, service: t.service }) };
    } else if (t.external?.jwksUrl !== undefined) {
      const jwks = createRemoteJWKSet(new URL(t.external.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      token = { ...common, verifier: new TokenVerifier({ key: jwks, issuer: t.issuer, service: t.service }) };
    } else {
      const key = await loadOrCreateSigningKey(t.keyFile!);
      if (key.created) notices.push({ level: 'info', msg: 'token signing key generated', fields: { keyFile: t.keyFile } });
      if (key.insecureMode) notices.push({ level: 'warn', msg: 'token signing key file is readable by group or others: chmod 600 it', fields: { keyFile: t.keyFile } });
      const issuer = new TokenIssuer({
        privateKey: key.privateKey,
        publicKey: key.publicKey,
        issuer: t.issuer,
        service: t.service,
        ...(t.expiresIn !== undefined ? { expiresInSeconds: t.expiresIn } : {}),
        ...(t.refreshExpiresIn !== undefined ? { refreshExpiresInSeconds: t.refreshExpiresIn } : {}),
      });
      token = { ...common, issuer };
    }
  }
  const plugin = authPlugin({
    mode: config.mode,
    policy,
    ...(users ? { users } : {}),
    ...(config.realm !== undefined ? { realm: config.realm } : {}),
    ...(token ? { token } : {}),
    ...(config.throttle ? { throttle: { maxFailures: config.throttle.maxFailures, windowMs: (config.throttle.windowSeconds ?? 60) * 1000, ...(config.throttle.maxAddressFailures !== undefined ? { maxAddressFailures: config.throttle.maxAddressFailures } : {}) } } : {}),
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
  });
  return { plugin, notices, live: { policy, ...(users ? { users } : {}) } };
}

/**
 * A registry with auth on a real loopback socket, for the auth tests:
 * users (bcrypt cost 4) and rules given inline, stores in memory, the token
 * signing key in a fresh temp dir. The loopback address is a trusted proxy
 * (by default) so that a test can choose its client IP with X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import { SignJWT } from 'jose';
import { authPlugin, type AuthOptions } from '../../src/auth/plugin.js';
import { UserStore } from '../../src/auth/htpasswd.js';
import { loadOrCreateSigningKey } from '../../src/auth/keys.js';
import { AccessPolicy, type PolicyOptions } from '../../src/auth/policy.js';
import { TokenIssuer, TokenVerifier } from '../../src/auth/tokens.js';
import type { ThrottleOptions } from '../../src/auth/throttle.js';
import type { RegistryLimits } from '../../src/limits.js';
import type { PolicyRules } from '../../src/services/policy.js';
import { createRegistry } from '../../src/registry.js';
import { createRegistryServer } from '../../src/server/app.js';
import { EventDelivery } from '../../src/services/events/delivery.js';
import { AuditRecorder } from '../../src/services/audit/recorder.js';
import { databaseSink } from '../../src/services/audit/sinks.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { digestOf } from '../../src/oci/digest.js';
import { expectError, fetchRaw, type HttpResponse } from '../../support/http.js';

export { expectError, type HttpResponse };

export const SERVICE = 'registry.test';
export const ISSUER = 'ferro-test-issuer';

/** Users of every test registry: name → password. */
export const USERS: Readonly<Record<string, string>> = {
  admin: 'admin-pass',
  alice: 'alice-pass',
  bob: 'bob-pass',
  carol: 'carol-pass',
};

/** alice: team-a/** pull+push, public/** push; bob (group devs): team-b/** all; carol: pull on team-a/app only; public/** anonymous pull. */
export const POLICY: PolicyOptions = {
  groups: { devs: ['bob'] },
  admins: { users: ['admin'] },
  rules: [
    { repositories: ['team-a/**'], users: ['alice'], actions: ['pull', 'push'] },
    { repositories: ['team-b/**'], groups: ['devs'], actions: ['pull', 'push', 'delete'] },
    { repositories: ['team-a/app'], users: ['carol'], actions: ['pull'] },
    { repositories: ['public/**'], anonymousPull: true },
    { repositories: ['public/**'], users: ['alice'], actions: ['push'] },
  ],
};

export function htpasswdText(users: Readonly<Record<string, string>> = USERS): string {
  // Mix the prefixes htpasswd and other tools write.
  const prefixes = ['$2y$', '$2a$', '$2b$'];
  return Object.entries(users)
    .map(([u, p], i) => `${u}:${prefixes[i % 3]}${bcrypt.hashSync(p, 4).slice(4)}`)
    .join('\n');
}

export interface AuthRegistry {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly dir: string;
  readonly privateKey: KeyObject;
  readonly issuer?: TokenIssuer;
  close(): Promise<void>;
}

export interface StartAuthOptions {
  readonly mode?: 'basic' | 'token';
  readonly policy?: PolicyOptions;
  readonly throttle?: ThrottleOptions;
  readonly limits?: Partial<RegistryLimits>;
  /** Verify with this instead of the built-in issuer (external issuer). */
  readonly verifier?: TokenVerifier;
  readonly fastify?: Partial<FastifyServerOptions>;
  /** Called on the new instance before anything is registered (not with `server`). */
  readonly setup?: (app: FastifyInstance) => void;
  /** Default ['127.0.0.1']: tests choose their client address with X-Forwarded-For. */
  readonly trustedProxies?: readonly string[];
  /** Token realm; default: derived by the plugin. */
  readonly realm?: string;
  /** The whole server (createRegistryServer: health, metrics, admin, token endpoint) instead of auth + registry only. */
  readonly server?: boolean;
  /** CORS origins of the server (with `server`). */
  readonly cors?: { readonly origins: readonly string[] };
  /** Immutable-tag and other storage rules of the registry. */
  readonly storagePolicy?: PolicyRules;
  /** Users (name → password) and bcrypt cost of the htpasswd; default USERS at cost 4. */
  readonly users?: { readonly text: string };
}

export async function startAuthRegistry(options: StartAuthOptions = {}): Promise<AuthRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-auth-'));
  const key = await loadOrCreateSigningKey(join(dir, 'token-key.pem'));
  const mode = options.mode ?? 'token';
  const issuer = options.verifier
    ? undefined
    : new TokenIssuer({ privateKey: key.privateKey, publicKey: key.publicKey, issuer: ISSUER, service: SERVICE, expiresInSeconds: 120 });
  const trustedProxies = options.trustedProxies ?? ['127.0.0.1'];
  const auth: AuthOptions = {
    mode,
    policy: new AccessPolicy(options.policy ?? POLICY),
    users: UserStore.fromText(options.users?.text ?? htpasswdText()),
    realm: 'ferro-test',
    throttle: options.throttle ?? { maxFailures: 1000, maxAddressFailures: 1000 },
    trustedProxies,
    ...(mode === 'token'
      ? {
          token: {
            service: SERVICE,
            ...(issuer ? { issuer } : {}),
            ...(options.verifier ? { verifier: options.verifier, realm: 'https://auth.example.com/token' } : {}),
            ...(options.realm !== undefined ? { realm: options.realm } : {}),
          },
        }
      : {}),
  };
  const blobStore = new MemoryBlobStore();
  const metadataStore = new MemoryMetadataStore();
  const registryOptions = { blobStore, metadataStore, sweepIntervalMs: 0, ...(options.limits ? { limits: options.limits } : {}), ...(options.storagePolicy ? { storagePolicy: options.storagePolicy } : {}) };
  let app: FastifyInstance;
  if (options.server) {
    // Events and an audit log on, so that their admin endpoints exist (the security table covers them).
    const extensions = { events: new EventDelivery({ store: metadataStore, subscriptions: [] }), audit: new AuditRecorder({ sinks: [databaseSink(metadataStore)] }) };
    app = await createRegistryServer({ ...registryOptions, ...extensions, auth: authPlugin(auth), trustedProxies, ...(options.fastify ? { fastify: options.fastify } : {}), ...(options.cors ? { cors: options.cors } : {}) });
  } else {
    app = Fastify({ logger: false, ...(trustedProxies.length > 0 ? { trustProxy: [...trustedProxies] } : {}), ...options.fastify } as FastifyServerOptions) as unknown as FastifyInstance;
    options.setup?.(app);
    await app.register(authPlugin(auth));
    await app.register(createRegistry(registryOptions));
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    dir,
    privateKey: key.privateKey,
    ...(issuer ? { issuer } : {}),
    close: async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function basic(user: string, password = USERS[user] ?? ''): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** One HTTP request on a fresh connection, the path (or an absolute-form target) sent exactly as given (no dot-segment normalisation). */
export function call(reg: { url: string }, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array | string): Promise<HttpResponse> {
  // an absolute-form target (http://host/path) is sent as the request target itself
  const target = path.startsWith('/') ? {} : { target: path };
  return fetchRaw(path.startsWith('/') ? reg.url + path : reg.url, { method, headers, ...(body === undefined ? {} : { body }), rawPath: true, ...target });
}

/** A token from GET /token for `user` (undefined: anonymous) and `scopes`. */
export async function tokenFor(reg: { url: string }, user: string | undefined, ...scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: SERVICE });
  for (const s of scopes) query.append('scope', s);
  const res = await call(reg, 'GET', `/token?${query}`, user ? { authorization: basic(user) } : {});
  assert.equal(res.status, 200, res.body.toString());
  return (res.json() as { token: string }).token;
}

/** The claims of a JWT, unverified. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Signs a token with `key` and any claims, for hostile-token tests. */
export async function signToken(key: KeyObject, claims: Record<string, unknown>, options: { alg?: string; kid?: string; iss?: string; aud?: string; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'ES256', typ: 'JWT', ...(options.kid ? { kid: options.kid } : {}) })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? SERVICE)
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 60)
    .sign(key);
}


/** Pushes a blob (POST + PUT) with `auth`; returns its digest. */
export async function pushBlob(reg: { url: string }, repo: string, bytes: Uint8Array, auth: string): Promise<string> {
  const digest = digestOf(bytes);
  const start = await call(reg, 'POST', `/v2/${repo}/blobs/uploads/`, { authorization: auth });
  assert.equal(start.status, 202, start.body.toString());
  const location = String(start.headers.location);
  const put = await call(reg, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { authorization: auth, 'content-type': 'application/octet-stream' }, bytes);
  assert.equal(put.status, 201, put.body.toString());
  return digest;
}

/** Pushes a one-layer OCI image under `tag` with `auth`; returns the manifest digest. */
export async function pushImage(reg: { url: string }, repo: string, tag: string, auth: string): Promise<{ digest: string; layer: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rand: randomBytes(4).toString('hex') }));
  const layerBytes = randomBytes(64);
  const configDigest = await pushBlob(reg, repo, config, auth);
  const layer = await pushBlob(reg, repo, layerBytes, auth);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerBytes.length }],
    }),
  );
  const res = await call(reg, 'PUT', `/v2/${repo}/manifests/${tag}`, { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, manifest);
  assert.equal(res.status, 201, res.body.toString());
  return { digest: digestOf(manifest), layer };
}

/** A registry (memory stores) behind any auth plugin, e.g. one built by loadAuth(). */
export async function startWithPlugin(plugin: FastifyPluginAsync | undefined, fastify: Partial<FastifyServerOptions> = {}): Promise<{ url: string; app: FastifyInstance; close(): Promise<void> }> {
  const app = Fastify({ logger: false, ...fastify } as FastifyServerOptions) as unknown as FastifyInstance;
  if (plugin) await app.register(plugin);
  await app.register(createRegistry({ blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore(), sweepIntervalMs: 0 }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { url: `http://127.0.0.1:${address.port}`, app, close: () => app.close() };
}

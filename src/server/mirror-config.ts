/**
 * The `mirrors` section of the server's configuration file (YAML or JSON; see
 * docs/mirror.md), validated strictly: unknown keys and wrong types are
 * errors naming the key. Each entry is one upstream registry:
 *
 *   mirrors:
 *     - name: dockerhub                      # for logs and metrics (required, unique)
 *       url: https://registry-1.docker.io    # required, http or https
 *       namespace: docker.io                 # local namespace; default the URL's host when it is a valid name component
 *       hosts: [docker.io]                   # `?ns=` values that select it; default [namespace]
 *       default: true                        # names outside every namespace are this upstream's (at most one)
 *       username: alice                      # basic credentials, also for the token flow
 *       password: secret                     # or passwordFile: /run/secrets/hub (read at start, trailing newline dropped)
 *       tagTtlSeconds: 300                   # revalidate a cached tag at most this often
 *       notFoundTtlSeconds: 60               # remember an upstream 404
 *       staleSeconds: 604800                 # serve cached tags this long while the upstream fails
 *       timeoutSeconds: 30                   # response headers, and the gap between body chunks
 *       breakerFailures: 5                   # consecutive failures that open the circuit breaker
 *       breakerOpenSeconds: 30               # how long it stays open
 *       evictAfterSeconds: 604800            # the GC evicts cached content not pulled this long
 *       maxBytes: 50GiB                      # and, beyond this many bytes, the least recently pulled (default no cap)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isValidName, isValidRegistryHost } from '../oci/names.js';
import { parseSize } from './config-schema.js';
import { MirrorNamespaces, UPSTREAM_DEFAULTS, type UpstreamSettings } from '../services/mirror/settings.js';

export class MirrorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MirrorConfigError';
  }
}

/** The top-level key of the configuration file this module owns. */
export const MIRROR_SECTION = 'mirrors';

const KEYS = [
  'name',
  'url',
  'namespace',
  'hosts',
  'default',
  'username',
  'password',
  'passwordFile',
  'tagTtlSeconds',
  'notFoundTtlSeconds',
  'staleSeconds',
  'timeoutSeconds',
  'breakerFailures',
  'breakerOpenSeconds',
  'evictAfterSeconds',
  'maxBytes',
] as const;

type Obj = Record<string, unknown>;

function fail(at: string, why: string): never {
  throw new MirrorConfigError(`${at}: ${why}`);
}

function mapping(value: unknown, at: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be a mapping');
  for (const k of Object.keys(value)) if (!(KEYS as readonly string[]).includes(k)) fail(`${at}.${k}`, `unknown setting; expected one of ${KEYS.join(', ')}`);
  return value as Obj;
}

function text(value: unknown, at: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(at, 'must be a non-empty string');
  return value;
}

function number(value: unknown, at: string, min: number, max: number, fallback: number, unitMs = 1000): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(at, `must be a number from ${min} to ${max}`);
  return Math.round(value * unitMs);
}

/** A byte count: a number, or a size string as elsewhere in the file ("50GiB"). */
function size(value: unknown, at: string): number {
  const bytes = typeof value === 'string' ? parseSize(value) : value;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) fail(at, 'must be a byte count such as 53687091200 or "50GiB"');
  return bytes;
}

function upstream(raw: unknown, at: string, dir: string): UpstreamSettings {
  const m = mapping(raw, at);
  const name = text(m.name, `${at}.name`) ?? fail(`${at}.name`, 'is required');
  const url = text(m.url, `${at}.url`) ?? fail(`${at}.url`, 'is required');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(`${at}.url`, `${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(`${at}.url`, 'must be an http or https URL');
  if (parsed.username || parsed.password) fail(`${at}.url`, 'must not carry credentials: use username and password');
  const namespace = text(m.namespace, `${at}.namespace`) ?? (isValidName(parsed.hostname) ? parsed.hostname : fail(`${at}.namespace`, `is required (the URL's host is no repository-name component)`));
  if (namespace.includes('/') || !isValidName(namespace)) fail(`${at}.namespace`, 'must be one repository-name component such as docker.io');
  const hostsRaw = m.hosts ?? [namespace];
  if (!Array.isArray(hostsRaw) || hostsRaw.some((h) => typeof h !== 'string' || !isValidRegistryHost(h))) fail(`${at}.hosts`, 'must be a list of registry hosts such as docker.io or localhost:5000');
  if (m.default !== undefined && typeof m.default !== 'boolean') fail(`${at}.default`, 'must be true or false');
  const username = text(m.username, `${at}.username`);
  if (m.password !== undefined && m.passwordFile !== undefined) fail(at, 'give password or passwordFile, not both');
  let password = text(m.password, `${at}.password`);
  const passwordFile = text(m.passwordFile, `${at}.passwordFile`);
  if (passwordFile !== undefined) {
    try {
      password = readFileSync(resolve(dir, passwordFile), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      fail(`${at}.passwordFile`, `cannot read ${passwordFile}: ${(err as Error).message}`);
    }
  }
  if ((username === undefined) !== (password === undefined)) fail(at, 'username and password (or passwordFile) go together');
  const d = UPSTREAM_DEFAULTS;
  const day = 86_400;
  return {
    name,
    url: parsed.href.replace(/\/+$/, ''),
    namespace,
    hosts: hostsRaw as string[],
    ...(m.default === true ? { default: true } : {}),
    ...(username !== undefined ? { credentials: { username, password: password! } } : {}),
    tagTtlMs: number(m.tagTtlSeconds, `${at}.tagTtlSeconds`, 0, 366 * day, d.tagTtlMs),
    notFoundTtlMs: number(m.notFoundTtlSeconds, `${at}.notFoundTtlSeconds`, 0, day, d.notFoundTtlMs),
    staleMs: number(m.staleSeconds, `${at}.staleSeconds`, 0, 3660 * day, d.staleMs),
    timeoutMs: number(m.timeoutSeconds, `${at}.timeoutSeconds`, 0.1, 3600, d.timeoutMs),
    breakerFailures: number(m.breakerFailures, `${at}.breakerFailures`, 1, 1000, d.breakerFailures, 1),
    breakerOpenMs: number(m.breakerOpenSeconds, `${at}.breakerOpenSeconds`, 0, 3600, d.breakerOpenMs),
    evictAfterMs: number(m.evictAfterSeconds, `${at}.evictAfterSeconds`, 0, 3660 * day, d.evictAfterMs),
    ...(m.maxBytes !== undefined ? { maxBytes: size(m.maxBytes, `${at}.maxBytes`) } : {}),
  };
}

/**
 * Validates the `mirrors` section (`value`); `dir` anchors relative
 * passwordFile paths. Names, namespaces and hosts must be unique, and at
 * most one upstream the default.
 */
export function parseMirrorConfig(value: unknown, dir: string): UpstreamSettings[] {
  if (!Array.isArray(value)) fail(MIRROR_SECTION, 'must be a list of upstream registries');
  const upstreams = value.map((u, i) => upstream(u, `${MIRROR_SECTION}[${i}]`, dir));
  const names = new Set<string>();
  for (const u of upstreams) {
    if (names.has(u.name)) fail(MIRROR_SECTION, `two upstreams are named ${u.name}`);
    names.add(u.name);
  }
  try {
    new MirrorNamespaces(upstreams);
  } catch (err) {
    fail(MIRROR_SECTION, (err as Error).message);
  }
  return upstreams;
}

/**
 * The one resolution of /v2 paths. The router matches `/v2` and `/v2/*`; the
 * rest of the path (the router's wildcard) is resolved here, once per request
 * (resolveV2Route), and both the access-control hook and the dispatcher use
 * that result. Repository names contain slashes, so the rest is split into
 * segments at its literal slashes and each segment is percent-decoded on its
 * own (an encoded slash never changes the structure, and in a name is
 * NAME_INVALID); the decoded segments must join to exactly the router's
 * wildcard, else nothing is resolved (ROUTE_UNKNOWN). Segments are matched
 * from the right:
 *
 *   /v2/                                   base
 *   /v2/_catalog                           catalog
 *   /v2/<name>/tags/list                   tags
 *   /v2/<name>/manifests/<reference>       manifest
 *   /v2/<name>/referrers/<digest>          referrers
 *   /v2/<name>/blobs/uploads/              uploads       (trailing slash optional)
 *   /v2/<name>/blobs/uploads/<id>          upload
 *   /v2/<name>/blobs/<digest>              blob
 *
 * The name is then validated (NAME_INVALID: `.`/`..` and empty components
 * never pass, so dot-segments and doubled slashes name no repository). The
 * digest is parsed by its handler (context.ts pathDigest), the reference and
 * the upload id by the services.
 *
 * When the route declares mirror namespaces (route config `mirrors`, set by
 * the registry when upstreams are configured), a name is then resolved to
 * its upstream once here (`?ns=`, path prefix or default upstream; see
 * services/mirror/settings.ts): `name` becomes the local name under the
 * upstream's namespace, the one access control and storage use, and
 * `mirror` says which upstream and which name there.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { assertValidName } from '../oci/names.js';
import type { MirrorNamespaces, MirrorRoute } from '../services/mirror/settings.js';
import { sourceNamespace } from './headers.js';

export type RouteKind = 'base' | 'catalog' | 'tags' | 'manifest' | 'referrers' | 'uploads' | 'upload' | 'blob';

export interface ParsedPath {
  readonly kind: RouteKind;
  /** Repository name (absent for base and catalog). */
  readonly name?: string;
  /** Reference, digest or upload id, depending on kind. */
  readonly ref?: string;
  /** Set when the repository is mirrored: its upstream (`name` is then the local name). */
  readonly mirror?: MirrorRoute;
}

/** A /v2 request's route: the parsed path, or the error the dispatcher answers (after access control). */
export type ResolvedV2 = { readonly path: ParsedPath; readonly error?: undefined } | { readonly path?: undefined; readonly error: RegistryError };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The mirror namespaces the /v2 routes resolve names with (see above). */
    mirrors?: MirrorNamespaces;
  }
  interface FastifyRequest {
    /** The /v2 route kind of this request ('base', 'blob', 'manifest', …; 'invalid' when the path names none), for metrics and auth. */
    ociRoute?: RouteKind | 'invalid';
    /** The repository name of this request, when its route has one. */
    ociRepository?: string;
  }
}

function named(kind: RouteKind, nameSegments: string[], ref?: string): ParsedPath {
  if (nameSegments.length === 0) throw new RegistryError('NAME_INVALID', 'repository name is empty');
  if (nameSegments.some((p) => p.includes('/'))) throw new RegistryError('NAME_INVALID', 'repository name must not contain encoded slashes');
  const name = assertValidName(nameSegments.join('/'));
  return ref === undefined ? { kind, name } : { kind, name, ref };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RegistryError('NAME_INVALID', `path segment ${JSON.stringify(segment.slice(0, 100))} is not valid percent-encoding`);
  }
}

/**
 * Resolves the decoded segments of the path below `/v2/` ([''] for the base)
 * to an endpoint. Returns undefined when they name none; throws NAME_INVALID
 * for an endpoint with an invalid repository name.
 */
export function parseV2Path(s: readonly string[]): ParsedPath | undefined {
  if (s.length === 1 && s[0] === '') return { kind: 'base' };
  const n = s.length;
  if (n === 1 && s[0] === '_catalog') return { kind: 'catalog' };
  if (n >= 3 && s[n - 2] === 'tags' && s[n - 1] === 'list') return named('tags', s.slice(0, n - 2));
  if (n >= 3 && s[n - 2] === 'manifests' && s[n - 1] !== '') return named('manifest', s.slice(0, n - 2), s[n - 1]);
  if (n >= 3 && s[n - 2] === 'referrers' && s[n - 1] !== '') return named('referrers', s.slice(0, n - 2), s[n - 1]);
  if (n >= 3 && s[n - 2] === 'blobs' && s[n - 1] === 'uploads') return named('uploads', s.slice(0, n - 2));
  if (n >= 4 && s[n - 3] === 'blobs' && s[n - 2] === 'uploads') {
    return s[n - 1] === '' ? named('uploads', s.slice(0, n - 3)) : named('upload', s.slice(0, n - 3), s[n - 1]);
  }
  if (n >= 3 && s[n - 2] === 'blobs' && s[n - 1] !== '') return named('blob', s.slice(0, n - 2), s[n - 1]);
  return undefined;
}

/** `path` with its name resolved against the mirror namespaces (unchanged for a local repository). */
function mirrored(path: ParsedPath, mirrors: MirrorNamespaces, ns: string | undefined): ParsedPath {
  const found = mirrors.resolve(path.name!, ns);
  return found ? { ...path, name: assertValidName(found.name), mirror: found.mirror } : path;
}

const resolved = new WeakMap<FastifyRequest, ResolvedV2>();

/** The raw (undecoded) request target below the router's `/v2/` match: after the first segment, without origin and query. */
function rawRest(url: string): string {
  let target = url;
  if (!target.startsWith('/')) {
    const scheme = target.indexOf('://');
    const slash = scheme === -1 ? -1 : target.indexOf('/', scheme + 3);
    target = slash === -1 ? '/' : target.slice(slash);
  }
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  const slash = path.indexOf('/', 1);
  return slash === -1 ? '' : path.slice(slash + 1);
}

/**
 * The route of a request the router matched to `/v2` or `/v2/*`, resolved on
 * the first call and remembered for the request: every later call (the
 * access-control hook, then the dispatcher) gets the same result. Sets
 * request.ociRoute and request.ociRepository.
 */
export function resolveV2Route(request: FastifyRequest): ResolvedV2 {
  const known = resolved.get(request);
  if (known) return known;
  const wildcard = request.routeOptions.url === '/v2' ? '' : ((request.params as Record<string, string | undefined>)['*'] ?? '');
  const rest = wildcard === '' ? '' : rawRest(request.raw.url ?? '');
  let result: ResolvedV2;
  try {
    const segments = rest.split('/').map(decode);
    const parsed = segments.join('/') === wildcard ? parseV2Path(segments) : undefined;
    const mirrors = request.routeOptions.config.mirrors;
    const path = parsed?.name !== undefined && mirrors ? mirrored(parsed, mirrors, sourceNamespace(request.query)) : parsed;
    result = path ? { path } : { error: new RegistryError('ROUTE_UNKNOWN', `no /v2 endpoint matches /v2/${wildcard.slice(0, 200)}`) };
  } catch (err) {
    result = { error: err instanceof RegistryError ? err : new RegistryError('NAME_INVALID', String(err)) };
  }
  request.ociRoute = result.path?.kind ?? 'invalid';
  if (result.path?.name !== undefined) request.ociRepository = result.path.name;
  resolved.set(request, result);
  return result;
}

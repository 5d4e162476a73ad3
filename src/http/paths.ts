/**
 * The one resolution of /v2 paths. The router matches `/v2` and `/v2/*`; the
 * rest of the path (the router's wildcard, percent-decoded once by the
 * router) is resolved here, once per request (resolveV2Route), and both the
 * access-control hook and the dispatcher use that result. Repository names
 * contain slashes, so the rest is split into segments and matched from the
 * right:
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
 * reference, digest and id are validated by the services.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { assertValidName } from '../oci/names.js';

export type RouteKind = 'base' | 'catalog' | 'tags' | 'manifest' | 'referrers' | 'uploads' | 'upload' | 'blob';

export interface ParsedPath {
  readonly kind: RouteKind;
  /** Repository name (absent for base and catalog). */
  readonly name?: string;
  /** Reference, digest or upload id, depending on kind. */
  readonly ref?: string;
}

/** A /v2 request's route: the parsed path, or the error the dispatcher answers (after access control). */
export type ResolvedV2 = { readonly path: ParsedPath; readonly error?: undefined } | { readonly path?: undefined; readonly error: RegistryError };

declare module 'fastify' {
  interface FastifyRequest {
    /** The /v2 route kind of this request ('base', 'blob', 'manifest', …; 'invalid' when the path names none), for metrics and auth. */
    ociRoute?: RouteKind | 'invalid';
    /** The repository name of this request, when its route has one. */
    ociRepository?: string;
  }
}

function named(kind: RouteKind, nameSegments: string[], ref?: string): ParsedPath {
  if (nameSegments.length === 0) throw new RegistryError('NAME_INVALID', 'repository name is empty');
  const name = assertValidName(nameSegments.join('/'));
  return ref === undefined ? { kind, name } : { kind, name, ref };
}

/**
 * Resolves `rest`, the decoded path below `/v2/` ('' for the base), to an
 * endpoint. Returns undefined when it names none; throws NAME_INVALID for an
 * endpoint with an invalid repository name.
 */
export function parseV2Path(rest: string): ParsedPath | undefined {
  if (rest === '') return { kind: 'base' };
  const s = rest.split('/');
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

const resolved = new WeakMap<FastifyRequest, ResolvedV2>();

/**
 * The route of a request the router matched to `/v2` or `/v2/*`, resolved on
 * the first call and remembered for the request: every later call (the
 * access-control hook, then the dispatcher) gets the same result. Sets
 * request.ociRoute and request.ociRepository.
 */
export function resolveV2Route(request: FastifyRequest): ResolvedV2 {
  const known = resolved.get(request);
  if (known) return known;
  const rest = request.routeOptions.url === '/v2' ? '' : ((request.params as Record<string, string | undefined>)['*'] ?? '');
  let result: ResolvedV2;
  try {
    const path = parseV2Path(rest);
    result = path ? { path } : { error: new RegistryError('ROUTE_UNKNOWN', `no /v2 endpoint matches /v2/${rest.slice(0, 200)}`) };
  } catch (err) {
    result = { error: err instanceof RegistryError ? err : new RegistryError('NAME_INVALID', String(err)) };
  }
  request.ociRoute = result.path?.kind ?? 'invalid';
  if (result.path?.name !== undefined) request.ociRepository = result.path.name;
  resolved.set(request, result);
  return result;
}

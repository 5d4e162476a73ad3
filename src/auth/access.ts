/**
 * The access a /v2 request needs, decided from its method, route kind,
 * repository and query only (the path is parsed by http/paths.ts, the same
 * parser the registry uses, so both always agree on the repository):
 *
 *   base /v2/, unknown or invalid paths, unlisted methods   any authenticated caller
 *   GET _catalog                                            any authenticated caller; the listing is filtered
 *   GET/HEAD blob, manifest, tags, referrers, upload        pull
 *   POST/PATCH/PUT uploads, PUT manifest, DELETE upload     push (the challenge asks pull,push as docker does)
 *   DELETE blob, manifest                                   delete
 *
 * A mount (`POST …/uploads/?mount=&from=`) also needs pull on `from`; that is
 * checked when the mount is attempted (without it, a plain session opens),
 * and the challenge names the source scope so that clients ask for it.
 */
import { queryParam } from '../http/headers.js';
import type { RouteKind } from '../http/paths.js';
import { isValidName } from '../oci/names.js';
import type { Action } from './policy.js';

export type RequiredAccess =
  | { readonly kind: 'login' }
  | { readonly kind: 'catalog' }
  | {
      readonly kind: 'repository';
      readonly repository: string;
      /** Every one of these is needed. */
      readonly actions: readonly Action[];
      /** The scopes to name in a challenge, e.g. `repository:a:pull,push`. */
      readonly scopes: readonly string[];
    };

const REPOSITORY_ROUTES: ReadonlySet<string> = new Set(['tags', 'manifest', 'referrers', 'uploads', 'upload', 'blob']);

export function requiredAccess(method: string, route: RouteKind | 'invalid', repository: string | undefined, query: unknown): RequiredAccess {
  if (route === 'catalog') return method === 'GET' ? { kind: 'catalog' } : { kind: 'login' };
  if (repository === undefined || !REPOSITORY_ROUTES.has(route)) return { kind: 'login' };
  const one = (action: Action, challenge: string) => ({
    kind: 'repository' as const,
    repository,
    actions: [action],
    scopes: [`repository:${repository}:${challenge}`],
  });
  switch (method) {
    case 'GET':
    case 'HEAD':
      return one('pull', 'pull');
    case 'DELETE':
      return route === 'upload' || route === 'uploads' ? one('push', 'pull,push') : one('delete', 'delete');
    case 'POST':
    case 'PUT':
    case 'PATCH': {
      const access = one('push', 'pull,push');
      const from = route === 'uploads' && method === 'POST' && queryParam(query, 'mount') !== undefined ? queryParam(query, 'from') : undefined;
      if (from !== undefined && from !== repository && isValidName(from)) return { ...access, scopes: [...access.scopes, `repository:${from}:pull`] };
      return access;
    }
    default:
      return { kind: 'login' };
  }
}

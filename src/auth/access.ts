/**
 * The access a request needs, from the declaration of the route the router
 * matched (http/route-access.ts), never from its path string:
 *
 *   open, token-endpoint       nothing
 *   admin                      an authenticated administrator
 *   v2                         the route table's action for the resolved /v2 route and method:
 *     login (base), unknown or invalid paths, unlisted methods   any authenticated caller
 *     catalog                                                     any authenticated caller; the listing is filtered
 *     pull / push / delete                                        that action on the repository
 *                                                                 (push challenges ask pull,push, as docker does)
 *   browse                     nothing (the UI's listing is filtered)
 *   browse-pull, browse-delete that action on the repository named by the `name` query parameter
 *   browse-admin               an authenticated administrator
 *   no route matched           any authenticated caller (then 404)
 *   a route without a declaration   an administrator (fails closed)
 *
 * A mount (`POST …/uploads/?mount=&from=`) also reads `from`: the challenge
 * names that pull scope so that clients ask for it, and without it the mount
 * is not attempted (a plain session opens).
 */
import type { FastifyRequest } from 'fastify';
import { resolveV2Route } from '../http/paths.js';
import { v2Route } from '../http/routes.js';
import type { Action } from './policy.js';

export type RequiredAccess =
  | { readonly kind: 'none' }
  | { readonly kind: 'login' }
  | { readonly kind: 'admin' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'browse' }
  | { readonly kind: 'browse-repository'; readonly repository: string; readonly action: 'pull' | 'delete' }
  | {
      readonly kind: 'repository';
      readonly repository: string;
      /** Every one of these is needed. */
      readonly actions: readonly Action[];
      /** The scopes to name in a challenge, e.g. `repository:a:pull,push`. */
      readonly scopes: readonly string[];
    };

const CHALLENGE_ACTIONS: Readonly<Record<Action, string>> = { pull: 'pull', push: 'pull,push', delete: 'delete' };

function v2Access(request: FastifyRequest): RequiredAccess {
  const { path } = resolveV2Route(request);
  const route = path && v2Route(path.kind, request.method);
  if (!path || !route) return { kind: 'login' };
  if (route.access === 'login' || route.access === 'catalog') return { kind: route.access };
  const repository = path.name;
  if (repository === undefined) return { kind: 'login' };
  const scopes = [`repository:${repository}:${CHALLENGE_ACTIONS[route.access]}`];
  const also = route.alsoPulls?.(request.query);
  if (also !== undefined && also !== repository) scopes.push(`repository:${also}:pull`);
  return { kind: 'repository', repository, actions: [route.access], scopes };
}

export function requiredAccess(request: FastifyRequest): RequiredAccess {
  if (request.is404) return { kind: 'login' };
  switch (request.routeOptions.config?.access) {
    case 'open':
    case 'token-endpoint':
      return { kind: 'none' };
    case 'admin':
    case 'browse-admin':
      return { kind: 'admin' };
    case 'v2':
      return v2Access(request);
    case 'browse':
      return { kind: 'browse' };
    case 'browse-pull':
    case 'browse-delete': {
      const name = (request.query as Record<string, unknown> | undefined)?.name;
      return { kind: 'browse-repository', repository: typeof name === 'string' ? name : '', action: request.routeOptions.config.access === 'browse-pull' ? 'pull' : 'delete' };
    }
    default:
      return { kind: 'admin' };
  }
}

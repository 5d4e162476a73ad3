/**
 * What each route needs from access control, declared where the route is
 * defined, in its Fastify route config: `{ config: { access: … } }`. An
 * access-control hook (src/auth) reads the declaration of the route the
 * router matched (request.routeOptions.config.access), never the request's
 * path string; a route without a declaration, and a request no route
 * matched, are refused to anyone who is not authenticated (unmatched) or not
 * an administrator (undeclared).
 *
 *   open            anyone: probes and metrics
 *   token-endpoint  anyone: the endpoint checks the credentials it is given itself
 *   admin           an authenticated administrator
 *   v2              the registry API: the action the route table declares for the
 *                   resolved /v2 route and method (http/routes.ts, resolveV2Route)
 *   browse          the web UI's API (http/routes-ui.ts): anyone, anonymous callers
 *                   included; what it lists is filtered by request.ociCanList
 *   browse-pull     the web UI's API: pull on the repository of the `name` query parameter
 *   browse-delete   the web UI's API: delete on the repository of the `name` query parameter
 *   browse-admin    the web UI's API: an authenticated administrator
 * The browse kinds judge a token by its subject's rules as well as its grants
 * (one UI token serves every repository the user may see). Refused, they
 * answer as /v2 does: 401 with the mode's challenge to a caller without
 * credentials (browse-pull/-delete: Bearer scope `repository:<name>:<action>`),
 * 403 DENIED to a signed-in one (token mode too: another token would not help).
 */
export type RouteAccess = 'open' | 'token-endpoint' | 'admin' | 'v2' | 'browse' | 'browse-pull' | 'browse-delete' | 'browse-admin';

/**
 * What a /v2 route and method needs, in the route table: `login` any
 * authenticated caller; `catalog` one that may list (the listing is then
 * filtered); `pull`, `push`, `delete` that action on the route's repository.
 */
export type V2Action = 'login' | 'catalog' | 'pull' | 'push' | 'delete';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The access this route needs (see http/route-access.ts). */
    access?: RouteAccess;
  }
}

/** The route config declaring `access`, for route options: `app.get(url, routeAccess('open'), handler)`. */
export function routeAccess(access: RouteAccess): { config: { access: RouteAccess } } {
  return { config: { access } };
}

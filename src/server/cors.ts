/**
 * CORS for web UIs served from other origins (docs/ui.md): requests whose
 * Origin is one of the allowed origins get Access-Control-Allow-Origin, and
 * their preflights (OPTIONS with Access-Control-Request-Method) are answered
 * 204 here, before access control: browsers send preflights without
 * credentials, so a registry that challenged them (distribution#4458) could
 * never be used from another origin with auth on. Credentials are sent by
 * the UI in an Authorization header, not cookies: no Allow-Credentials.
 * Other origins get no CORS header, and their preflights go on (to a 401 or 404).
 */
import type { FastifyInstance } from 'fastify';

export interface CorsOptions {
  /** Exact origins (`https://ui.example.com`), or `*` for any. */
  readonly origins: readonly string[];
}

const EXPOSED = ['Docker-Content-Digest', 'Docker-Distribution-API-Version', 'Docker-Upload-UUID', 'Link', 'Location', 'Range', 'Content-Range', 'OCI-Subject', 'OCI-Filters-Applied', 'OCI-Tag', 'WWW-Authenticate', 'X-Request-Id'];

export function corsHook(app: FastifyInstance, options: CorsOptions): void {
  const any = options.origins.includes('*');
  const origins = new Set(options.origins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined || !(any || origins.has(origin))) return;
    reply.header('Access-Control-Allow-Origin', any ? '*' : origin).header('Vary', 'Origin').header('Access-Control-Expose-Headers', EXPOSED.join(', '));
    if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return;
    return reply
      .code(204)
      .header('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE')
      .header('Access-Control-Allow-Headers', 'Authorization, Content-Type, Content-Range, Range, Accept')
      .header('Access-Control-Max-Age', '600')
      .send();
  });
}

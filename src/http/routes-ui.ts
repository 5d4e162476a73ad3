/**
 * The web UI's JSON API (docs/ui.md), a registry extension under
 * /v2/_ferro/ui/<module> (distribution-spec extensions/README.md:
 * `_<extension>/<component>/<module>`). Each route declares its access
 * (http/route-access.ts): what a caller sees and may delete here is what the
 * registry API lets them pull and delete. Answers are never cached.
 *
 *   GET    session        how to sign in, and who is signed in               browse
 *   GET    repositories   ?search=&sort=name|pushed|size&page=&perPage=      browse (filtered; with the session)
 *   GET    repository     ?name=&sort=name|pushed&page=&perPage=&untagged=   browse-pull
 *   GET    image          ?name=&ref=                                        browse-pull
 *   GET    delete         ?name=&ref=   what a delete would do               browse-delete
 *   DELETE delete         ?name=&ref=   deletes the tag or the manifest      browse-delete
 *   GET    gc             the last garbage collection's report               browse-admin
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { BrowseService } from '../services/browse.js';
import type { GcReport } from '../services/gc.js';
import { booleanParam } from './admin.js';
import { queryParam } from './headers.js';
import { routeAccess } from './route-access.js';

export const UI_API_PREFIX = '/v2/_ferro/ui';

const MAX_PER_PAGE = 200;

/** A positive integer query parameter up to `max`; `fallback` when absent; PAGINATION_INVALID (400) otherwise. */
function intParam(query: unknown, name: string, fallback: number, max: number): number {
  const raw = queryParam(query, name);
  if (raw === undefined || raw === '') return fallback;
  const value = /^[0-9]{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= max)) throw new RegistryError('PAGINATION_INVALID', `${name} must be an integer from 1 to ${max}`);
  return value;
}

function choice<T extends string>(query: unknown, name: string, allowed: readonly T[]): T {
  const raw = queryParam(query, name);
  if (raw === undefined || raw === '') return allowed[0]!;
  if (!(allowed as readonly string[]).includes(raw)) throw new RegistryError('UNSUPPORTED', `${name} must be one of ${allowed.join(', ')}`);
  return raw as T;
}

function required(query: unknown, name: string): string {
  const raw = queryParam(query, name);
  if (raw === undefined || raw === '') throw new RegistryError(name === 'name' ? 'NAME_INVALID' : 'UNSUPPORTED', `the ${name} query parameter is required`);
  return raw;
}

/** Aborted when the client goes away before the answer is complete. */
function signalOf(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new RegistryError('REQUEST_TIMEOUT', 'the client closed the connection'));
  });
  return controller.signal;
}

const json = (reply: FastifyReply, body: unknown, code = 200) => reply.code(code).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(body));

const canDelete = async (request: FastifyRequest, name: string) => (request.ociCanDelete ? await request.ociCanDelete(name) : true);

/** How to sign in here, and who is signed in. */
function sessionOf(request: FastifyRequest) {
  const login = request.ociLogin;
  const token = login?.mode === 'token' ? { service: login.service, ...(login.tokenPath ? { tokenPath: login.tokenPath } : {}) } : {};
  return { auth: login?.mode ?? 'none', ...token, ...(request.ociUser ? { user: request.ociUser } : {}) };
}

export function uiApiRoutes(app: FastifyInstance, browse: BrowseService, lastGc: () => GcReport | undefined): void {
  const at = (module: string) => `${UI_API_PREFIX}/${module}`;

  app.get(at('session'), routeAccess('browse'), async (request, reply) => json(reply, sessionOf(request)));

  app.get(at('repositories'), routeAccess('browse'), async (request, reply) => {
    const q = request.query;
    const search = queryParam(q, 'search')?.slice(0, 255) || undefined;
    const visible = request.ociCanList ?? request.ociCanPull; // undefined without access control: everything
    const query = { sort: choice(q, 'sort', ['name', 'pushed', 'size'] as const), page: intParam(q, 'page', 1, 1_000_000), perPage: intParam(q, 'perPage', 25, MAX_PER_PAGE), ...(search ? { search } : {}) };
    // The session rides along: the UI's first page needs one request for its data.
    return json(reply, { ...(await browse.repositories(query, visible, signalOf(reply))), session: sessionOf(request) });
  });

  app.get(at('repository'), routeAccess('browse-pull'), async (request, reply) => {
    const q = request.query;
    const name = required(q, 'name');
    const query = { sort: choice(q, 'sort', ['pushed', 'name'] as const), page: intParam(q, 'page', 1, 1_000_000), perPage: intParam(q, 'perPage', 25, MAX_PER_PAGE), untagged: booleanParam(q, 'untagged') };
    const details = await browse.repository(name, query, signalOf(reply));
    return json(reply, { ...details, canDelete: await canDelete(request, name) });
  });

  app.get(at('image'), routeAccess('browse-pull'), async (request, reply) => {
    const name = required(request.query, 'name');
    const details = await browse.image(name, required(request.query, 'ref'), signalOf(reply));
    return json(reply, { repository: name, ...details, canDelete: await canDelete(request, name) });
  });

  app.get(at('delete'), routeAccess('browse-delete'), async (request, reply) => {
    return json(reply, await browse.deletePreview(required(request.query, 'name'), required(request.query, 'ref'), signalOf(reply)));
  });

  app.delete(at('delete'), routeAccess('browse-delete'), async (request, reply) => {
    const name = required(request.query, 'name');
    const ref = required(request.query, 'ref');
    await browse.delete(name, ref, signalOf(reply));
    request.log.info({ repository: name, reference: ref, user: request.ociUser }, 'deleted from the web UI');
    return json(reply, { deleted: ref }, 202);
  });

  app.get(at('gc'), routeAccess('browse-admin'), async (_request, reply) => json(reply, { last: lastGc() ?? null }));
}

/**
 * The audit log in the metadata store (README "Events and audit"), declared
 * `admin` (http/route-access.ts) like /admin/events/*:
 *
 *   GET /admin/audit[?since=&until=&actor=&repository=&after=&limit=]
 *     records with since <= time < until (RFC 3339 or ms since the epoch), of that actor and repository,
 *     after seq `after`, oldest first, at most `limit` (1 to 1000, default 100), as
 *     {"records": [AuditEntry...], "next": <seq>}; `next` (present when the page is full) is the next page's `after`
 */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { AuditTrail } from '../services/audit/trail.js';
import { integerParam, queryParam } from './headers.js';
import { routeAccess } from './route-access.js';

function timeParam(query: unknown, name: string): number | undefined {
  const raw = queryParam(query, name);
  if (raw === undefined) return undefined;
  const t = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t)) throw new RegistryError('UNSUPPORTED', `${name}=${JSON.stringify(raw.slice(0, 40))} must be an RFC 3339 time or milliseconds since the epoch`);
  return t;
}

export function auditAdminRoutes(app: FastifyInstance, trail: AuditTrail): void {
  app.get('/admin/audit', routeAccess('admin'), async (request, reply) => {
    const q = request.query;
    const optional = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
    const page = await trail.page({
      ...optional('since', timeParam(q, 'since')),
      ...optional('until', timeParam(q, 'until')),
      ...optional('actor', queryParam(q, 'actor')),
      ...optional('repository', queryParam(q, 'repository')),
      ...optional('afterSeq', integerParam(q, 'after', 0, Number.MAX_SAFE_INTEGER)),
      limit: integerParam(q, 'limit', 1, 1000) ?? 100,
    });
    return reply.code(200).header('Cache-Control', 'no-store').send(page);
  });
}

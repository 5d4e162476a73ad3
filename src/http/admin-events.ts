/**
 * Administrative endpoints of event delivery (outside /v2), declared `admin`
 * (http/route-access.ts) like /admin/gc:
 *
 *   GET  /admin/events/dead[?after=<seq>&limit=<n>]   the dead events (parked after their retry window), oldest first,
 *                                                     as {"events": [OutboxEntry...]} (limit 1 to 1000, default 100)
 *   POST /admin/events/replay[?id=<id>...]            makes the dead events named (all without `id`) pending again;
 *                                                     answers {"replayed": n}; a request body is refused (400), so
 *                                                     ids sent in a body never turn into "replay all"
 */
import type { FastifyInstance } from 'fastify';
import type { DeadLetters } from '../services/events/dead-letters.js';
import { RegistryError } from '../oci/errors.js';
import { integerParam, queryParams } from './headers.js';
import { routeAccess } from './route-access.js';

export function eventAdminRoutes(app: FastifyInstance, dead: DeadLetters): void {
  app.get('/admin/events/dead', routeAccess('admin'), async (request, reply) => {
    const after = integerParam(request.query, 'after', 0, Number.MAX_SAFE_INTEGER);
    const limit = integerParam(request.query, 'limit', 1, 1000) ?? 100;
    const events = await dead.list({ ...(after === undefined ? {} : { afterSeq: after }), limit });
    return reply.code(200).header('Cache-Control', 'no-store').send({ events });
  });
  app.post('/admin/events/replay', routeAccess('admin'), async (request, reply) => {
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > 0 || request.headers['transfer-encoding'] !== undefined) {
      throw new RegistryError('UNSUPPORTED', 'the events to replay are named in the query (?id=<id>&id=…; none for all dead events), not in a request body');
    }
    const ids = queryParams(request.query, 'id');
    const replayed = await dead.replay(ids.length > 0 ? ids : undefined);
    request.log.info({ replayed, ids: ids.length > 0 ? ids : 'all' }, 'dead events replayed');
    return reply.code(200).header('Cache-Control', 'no-store').send({ replayed });
  });
}

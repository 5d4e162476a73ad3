/**
 * Administrative endpoints of the registry (outside /v2):
 *
 *   POST /admin/gc[?dryRun=true]   runs a garbage collection now, or after the one under way (joining the follow-up already queued, if any)
 *                                  and answers its report as JSON (services/gc.ts GcReport)
 *
 * Access: declared `admin` (http/route-access.ts): an access-control plugin
 * (src/auth) lets only admins through; without one the registry is open,
 * these included.
 */
import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { type GarbageCollector } from '../services/gc.js';
import { queryParam } from './headers.js';
import { routeAccess } from './route-access.js';

/** `true`/`1` → true, `false`/`0`/absent → false, else UNSUPPORTED (400). */
export function booleanParam(query: unknown, name: string): boolean {
  const raw = queryParam(query, name);
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new RegistryError('UNSUPPORTED', `${name}=${JSON.stringify(raw.slice(0, 40))} must be true or false`);
}

export function adminRoutes(app: FastifyInstance, gc: Pick<GarbageCollector, 'run'>): void {
  app.post('/admin/gc', routeAccess('admin'), async (request, reply) => {
    const dryRun = booleanParam(request.query, 'dryRun');
    const report = await gc.run({ dryRun });
    request.log.info({ gc: report }, 'garbage collection run on request');
    return reply.code(200).header('Cache-Control', 'no-store').send(report);
  });
}

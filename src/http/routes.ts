/**
 * The one /v2 route table: route kind → method → handler and the access it
 * needs (http/route-access.ts). A method a kind does not list is 405.
 */
import { deleteBlob, getBlob } from './blobs.js';
import type { Handler } from './context.js';
import { getBase, getCatalog, getReferrers, getTags } from './listings.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import type { RouteKind } from './paths.js';
import type { V2Action } from './route-access.js';
import { mountSource, deleteUpload, getUpload, patchUpload, postUpload, putUpload } from './uploads.js';

export interface V2Route {
  readonly handler: Handler;
  readonly access: V2Action;
  /**
   * A repository this request would also read when allowed (a mount's `from`):
   * challenges name its pull scope, and without pull on it the handler does
   * without (request.ociCanPull), it is never refused for it.
   */
  readonly alsoPulls?: (query: unknown) => string | undefined;
}

const pull = (handler: Handler): V2Route => ({ handler, access: 'pull' });
const push = (handler: Handler): V2Route => ({ handler, access: 'push' });
const del = (handler: Handler): V2Route => ({ handler, access: 'delete' });

export const ROUTE_TABLE: Readonly<Record<RouteKind, Readonly<Partial<Record<string, V2Route>>>>> = {
  base: { GET: { handler: getBase, access: 'login' }, HEAD: { handler: getBase, access: 'login' } }, // end-1
  catalog: { GET: { handler: getCatalog, access: 'catalog' } },
  tags: { GET: pull(getTags) }, // end-8a, end-8b
  manifest: { GET: pull(getManifest), HEAD: pull(getManifest), PUT: push(putManifest), DELETE: del(deleteManifest) }, // end-3, end-7, end-9
  referrers: { GET: pull(getReferrers) }, // end-12a, end-12b
  blob: { GET: pull(getBlob), HEAD: pull(getBlob), DELETE: del(deleteBlob) }, // end-2, end-10
  uploads: { POST: { handler: postUpload, access: 'push', alsoPulls: mountSource } }, // end-4a, end-4b, end-4c, end-11
  upload: { GET: pull(getUpload), PATCH: push(patchUpload), PUT: push(putUpload), DELETE: push(deleteUpload) }, // end-13, end-5, end-6, cancel
};

/** The table entry of `kind` and `method`; undefined when the method is not allowed there. */
export function v2Route(kind: RouteKind, method: string): V2Route | undefined {
  return ROUTE_TABLE[kind][method];
}

/** The Allow header value of a route kind. */
export function allowedMethods(kind: RouteKind): string {
  return Object.keys(ROUTE_TABLE[kind]).join(', ');
}

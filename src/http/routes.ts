/** The one /v2 route table: route kind → method → handler. */
import { deleteBlob, getBlob } from './blobs.js';
import type { Handler } from './context.js';
import { getBase, getCatalog, getReferrers, getTags } from './listings.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import type { RouteKind } from './paths.js';
import { deleteUpload, getUpload, patchUpload, postUpload, putUpload } from './uploads.js';

export const ROUTE_TABLE: Readonly<Record<RouteKind, Readonly<Partial<Record<string, Handler>>>>> = {
  base: { GET: getBase, HEAD: getBase }, // end-1
  catalog: { GET: getCatalog },
  tags: { GET: getTags }, // end-8a, end-8b
  manifest: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest }, // end-3, end-7, end-9
  referrers: { GET: getReferrers }, // end-12a, end-12b
  blob: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob }, // end-2, end-10
  uploads: { POST: postUpload }, // end-4a, end-4b, end-4c, end-11
  upload: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload }, // end-13, end-5, end-6, cancel
};

/** The Allow header value of a route kind. */
export function allowedMethods(kind: RouteKind): string {
  return Object.keys(ROUTE_TABLE[kind]).join(', ');
}

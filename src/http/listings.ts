/** end-1 (base), end-8a/8b (tags/list), _catalog, end-12a/12b (referrers). */
import { MediaType } from '../oci/mediatypes.js';
import type { Page } from '../services/listings.js';
import { pageSize, queryParam } from './headers.js';
import { pathDigest, type HandlerContext } from './context.js';

export async function getBase(ctx: HandlerContext): Promise<void> {
  await ctx.reply.type('application/json').send('{}');
}

function linkNext(ctx: HandlerContext, path: string, page: Page): void {
  // spec "Listing Tags": Link per RFC 5988 with rel="next" when more remain.
  if (page.next) ctx.reply.header('Link', `<${path}?n=${page.next.n}&last=${encodeURIComponent(page.next.last)}>; rel="next"`);
}

export async function getTags(ctx: HandlerContext): Promise<void> {
  const last = queryParam(ctx.request.query, 'last');
  const n = pageSize(ctx.request.query);
  const page = await ctx.services.listings.tags(ctx.name, { ...(n !== undefined ? { n } : {}), ...(last ? { last } : {}) }, ctx.signal);
  linkNext(ctx, `/v2/${ctx.name}/tags/list`, page);
  await ctx.reply.type('application/json').send(tagsJson(ctx.name, page.entries));
}

/** The JSON of frozen pages (a store's cached page, e.g. SQLite's listing-cache.ts), kept while the page is. */
const frozenJson = new WeakMap<readonly string[], { readonly name: string; readonly json: string }>();

function tagsJson(name: string, tags: readonly string[]): string {
  const known = frozenJson.get(tags);
  if (known?.name === name) return known.json;
  const json = JSON.stringify({ name, tags });
  if (Object.isFrozen(tags)) frozenJson.set(tags, { name, json });
  return json;
}

export async function getCatalog(ctx: HandlerContext): Promise<void> {
  const last = queryParam(ctx.request.query, 'last');
  const n = pageSize(ctx.request.query);
  const page = await ctx.services.listings.catalog({ ...(n !== undefined ? { n } : {}), ...(last ? { last } : {}) }, ctx.signal, ctx.request.ociCanList ?? ctx.request.ociCanPull);
  linkNext(ctx, '/v2/_catalog', page);
  await ctx.reply.type('application/json').send(JSON.stringify({ repositories: page.entries }));
}

export async function getReferrers(ctx: HandlerContext): Promise<void> {
  const artifactType = queryParam(ctx.request.query, 'artifactType') || undefined;
  const index = await ctx.services.listings.referrers(ctx.name, pathDigest(ctx), artifactType, ctx.signal);
  // spec "Listing Referrers": MUST answer OCI-Filters-Applied when the filter was applied.
  if (artifactType) ctx.reply.header('OCI-Filters-Applied', 'artifactType');
  // A Buffer, so that Fastify adds no charset parameter (the conformance suite compares exactly).
  await ctx.reply.header('Content-Type', MediaType.OciIndex).send(Buffer.from(JSON.stringify(index)));
}

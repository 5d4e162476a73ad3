/** end-3 (GET/HEAD manifest), end-7a/7b (PUT), end-9 (DELETE). */
import { RegistryError } from '../oci/errors.js';
import { readSmallBody } from './body.js';
import { eventContext, type HandlerContext } from './context.js';
import { digestAlgorithmParam, queryParams } from './headers.js';

export async function getManifest(ctx: HandlerContext): Promise<void> {
  const { reply, request, name, ref, services, signal } = ctx;
  const { path } = ctx;
  const { record, warning } = path.mirror && services.mirror ? await services.mirror.manifest(path.mirror, name, ref, signal) : { record: await services.manifests.get(name, ref, signal), warning: undefined };
  // RFC 9111 §5.5: served from the cache while the upstream failed.
  if (warning !== undefined) reply.header('Warning', warning);
  const etag = `"${record.digest}"`;
  // distribution-spec-next "Pulling manifests", "Checking if content exists": Docker-Content-Digest and Content-Length MUST be on GET and HEAD.
  reply.header('Docker-Content-Digest', record.digest).header('ETag', etag).header('Content-Type', record.mediaType).header('Content-Length', record.size);
  if (request.headers['if-none-match'] === etag) {
    await reply.code(304).send();
    return;
  }
  await reply.send(request.method === 'HEAD' ? undefined : Buffer.from(record.bytes.buffer, record.bytes.byteOffset, record.bytes.byteLength));
}

export async function putManifest(ctx: HandlerContext): Promise<void> {
  const { reply, request, name, ref, services, signal } = ctx;
  const tags = queryParams(request.query, 'tag');
  // distribution-spec-next "Pushing Manifests": MAY answer 414 when too many tags are included.
  if (tags.length > services.limits.maxTagsPerPush) {
    throw new RegistryError('TOO_MANY_TAGS', `${tags.length} tag query parameters; at most ${services.limits.maxTagsPerPush} per request`);
  }
  const algorithm = digestAlgorithmParam(request.query);
  const bytes = await readSmallBody(request.raw, services.limits.maxManifestSize);
  const context = eventContext(ctx);
  const options = { ...(tags.length > 0 ? { tags } : {}), ...(algorithm ? { algorithm } : {}), ...(context ? { context } : {}) };
  const outcome = await services.manifests.put(name, ref, bytes, request.headers['content-type'], options, signal);
  reply.code(201).header('Location', `/v2/${name}/manifests/${outcome.digest}`).header('Docker-Content-Digest', outcome.digest).header('Content-Length', 0);
  // distribution-spec-next "Pushing Manifests": MUST answer an OCI-Tag header for each accepted tag (one header per tag).
  if (tags.length > 0) reply.header('OCI-Tag', outcome.tags);
  // spec "Pushing Manifests with Subject": MUST answer OCI-Subject when the subject was processed.
  if (outcome.subject) reply.header('OCI-Subject', outcome.subject);
  await reply.send();
}

export async function deleteManifest(ctx: HandlerContext): Promise<void> {
  await ctx.services.manifests.delete(ctx.name, ctx.ref, ctx.signal, eventContext(ctx));
  await ctx.reply.code(202).header('Content-Length', 0).send();
}

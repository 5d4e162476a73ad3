/** end-3 (GET/HEAD manifest), end-7 (PUT), end-9 (DELETE). */
import { readSmallBody } from './body.js';
import type { HandlerContext } from './context.js';

export async function getManifest(ctx: HandlerContext): Promise<void> {
  const { reply, request, name, ref, services, signal } = ctx;
  const record = await services.manifests.get(name, ref, signal);
  const etag = `"${record.digest}"`;
  reply.header('Docker-Content-Digest', record.digest).header('ETag', etag).header('Content-Type', record.mediaType).header('Content-Length', record.size);
  if (request.headers['if-none-match'] === etag) {
    await reply.code(304).send();
    return;
  }
  await reply.send(request.method === 'HEAD' ? undefined : Buffer.from(record.bytes.buffer, record.bytes.byteOffset, record.bytes.byteLength));
}

export async function putManifest(ctx: HandlerContext): Promise<void> {
  const { reply, request, name, ref, services, signal } = ctx;
  const bytes = await readSmallBody(request.raw, services.limits.maxManifestSize);
  const outcome = await services.manifests.put(name, ref, bytes, request.headers['content-type'], signal);
  reply.code(201).header('Location', `/v2/${name}/manifests/${outcome.digest}`).header('Docker-Content-Digest', outcome.digest).header('Content-Length', 0);
  // spec "Pushing Manifests with Subject": MUST answer OCI-Subject when the subject was processed.
  if (outcome.subject) reply.header('OCI-Subject', outcome.subject);
  await reply.send();
}

export async function deleteManifest(ctx: HandlerContext): Promise<void> {
  await ctx.services.manifests.delete(ctx.name, ctx.ref, ctx.signal);
  await ctx.reply.code(202).header('Content-Length', 0).send();
}

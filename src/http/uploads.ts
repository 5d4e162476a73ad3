/** end-4a/4b/4c, end-11 (POST), end-5 (PATCH), end-6 (PUT), end-13 (GET), cancel (DELETE). */
import { RegistryError } from '../oci/errors.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { assertValidName, isValidName } from '../oci/names.js';
import type { ChunkInput, UploadState } from '../services/uploads.js';
import { contentLength, digestAlgorithmParam, queryParam, uploadContentRange } from './headers.js';
import { eventContext, type HandlerContext } from './context.js';
import { uploadLocation, uploadRange } from './upload-headers.js';

function chunk(ctx: HandlerContext): ChunkInput {
  const length = contentLength(ctx.request.headers);
  const range = uploadContentRange(ctx.request.headers);
  const context = eventContext(ctx);
  return {
    body: ctx.request.raw,
    signal: ctx.signal,
    ...(context ? { context } : {}),
    ...(length !== undefined ? { contentLength: length } : {}),
    ...(range ? { range } : {}),
  };
}

async function accepted(ctx: HandlerContext, state: UploadState, status: 202 | 204): Promise<void> {
  await ctx.reply
    .code(status)
    .header('Location', uploadLocation(state.repository, state.id))
    .header('Range', uploadRange(state.offset))
    .header('Docker-Upload-UUID', state.id)
    .header('Content-Length', 0)
    .send();
}

async function created(ctx: HandlerContext, digest: Digest): Promise<void> {
  await ctx.reply.code(201).header('Location', `/v2/${ctx.name}/blobs/${digest}`).header('Docker-Content-Digest', digest).header('Content-Length', 0).send();
}

function requiredDigest(ctx: HandlerContext): Digest {
  const digest = queryParam(ctx.request.query, 'digest');
  if (digest === undefined || digest === '') throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to close an upload');
  return parseDigest(digest).digest;
}

/** The repository a POST would mount from (`?mount=&from=`), when it names a valid one. */
export function mountSource(query: unknown): string | undefined {
  const from = queryParam(query, 'mount') !== undefined ? queryParam(query, 'from') : undefined;
  return from !== undefined && isValidName(from) ? from : undefined;
}

/**
 * POST: `?mount=&from=` mounts (201) or falls back to a new session (202);
 * `?digest=` uploads the body in one request (201); otherwise a new session (202).
 * A mount without `from`, or from a repository the caller may not pull, is
 * not attempted: it opens a session (spec: MAY).
 */
export async function postUpload(ctx: HandlerContext): Promise<void> {
  const { request, name, services, signal } = ctx;
  digestAlgorithmParam(request.query);
  const mount = queryParam(request.query, 'mount');
  const from = queryParam(request.query, 'from');
  if (mount !== undefined && from !== undefined && from !== '') {
    const digest = parseDigest(mount).digest;
    const source = assertValidName(from);
    // A source the caller's credentials may not read is never mounted from (request.ociCanPull, set by an access-control hook).
    const readable = request.ociCanPull === undefined || (await request.ociCanPull(source));
    if (readable && (await services.uploads.mount(name, digest, source, signal, eventContext(ctx)))) {
      await created(ctx, digest);
      return;
    }
  }
  const digest = queryParam(request.query, 'digest');
  if (digest !== undefined && mount === undefined) {
    await created(ctx, await services.uploads.uploadWhole(name, parseDigest(digest).digest, chunk(ctx)));
    return;
  }
  await accepted(ctx, await services.uploads.start(name, signal, request.ociUser), 202);
}

export async function patchUpload(ctx: HandlerContext): Promise<void> {
  await accepted(ctx, await ctx.services.uploads.append(ctx.name, ctx.ref, chunk(ctx)), 202);
}

export async function putUpload(ctx: HandlerContext): Promise<void> {
  const digest = requiredDigest(ctx);
  await created(ctx, await ctx.services.uploads.finish(ctx.name, ctx.ref, digest, chunk(ctx)));
}

export async function getUpload(ctx: HandlerContext): Promise<void> {
  await accepted(ctx, await ctx.services.uploads.status(ctx.name, ctx.ref, ctx.signal), 204);
}

export async function deleteUpload(ctx: HandlerContext): Promise<void> {
  await ctx.services.uploads.cancel(ctx.name, ctx.ref, ctx.signal);
  await ctx.reply.code(204).send();
}

/** end-2 (GET/HEAD blob), end-10 (DELETE blob). */
import { blobRange } from './headers.js';
import { pathDigest, type HandlerContext } from './context.js';

export async function getBlob(ctx: HandlerContext): Promise<void> {
  const { reply, request, name, services, signal, path } = ctx;
  const ref = pathDigest(ctx);
  if (path.mirror && services.mirror) {
    // Uncached: a whole-blob GET streams the upstream's bytes as they are stored; HEAD asks the upstream; a Range GET stores first.
    const mode = request.method === 'HEAD' ? 'head' : request.headers.range === undefined ? 'stream' : 'store';
    const fetched = await services.mirror.blob(path.mirror, name, ref, mode, signal);
    if (fetched.kind !== 'local') {
      reply.header('Docker-Content-Digest', ref).header('ETag', `"${ref}"`).header('Content-Length', fetched.size).type('application/octet-stream');
      await reply.send(fetched.kind === 'stream' ? fetched.stream : undefined);
      return;
    }
  }
  const link = await services.blobs.stat(name, ref, signal);
  const { digest, size } = link;
  const etag = `"${digest}"`;
  // distribution-spec-next "Pulling blobs", "Checking if content exists": Docker-Content-Digest MUST be on every GET and HEAD (the 307 too).
  reply.header('Docker-Content-Digest', digest).header('ETag', etag).header('Accept-Ranges', 'bytes').type('application/octet-stream');
  if (request.headers['if-none-match'] === etag) {
    await reply.code(304).send();
    return;
  }
  const range = request.method === 'GET' ? blobRange(request.headers.range, size) : undefined;
  if (request.method === 'GET' && request.headers.range === undefined) {
    const location = await services.blobs.redirect(link, services.redirectBlobGets);
    if (location) {
      await reply.code(307).header('Location', location).header('Content-Length', 0).send();
      return;
    }
  }
  if (request.method === 'HEAD') {
    // spec "Checking if content exists": Content-Length of the blob, no content read.
    await reply.header('Content-Length', size).send();
    return;
  }
  const stream = await services.blobs.read(link, name, range, signal);
  if (range) {
    reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`).header('Content-Length', range.end - range.start + 1);
  } else {
    reply.header('Content-Length', size);
  }
  await reply.send(stream);
}

export async function deleteBlob(ctx: HandlerContext): Promise<void> {
  await ctx.services.blobs.delete(ctx.name, pathDigest(ctx), ctx.signal);
  await ctx.reply.code(202).header('Content-Length', 0).send();
}

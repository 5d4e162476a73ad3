/** What a /v2 handler receives: the parsed path, the request, the reply and the services. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { RegistryLimits } from '../limits.js';
import type { BlobService } from '../services/blobs.js';
import type { ListingService } from '../services/listings.js';
import type { ManifestService } from '../services/manifests.js';
import type { UploadService } from '../services/uploads.js';
import type { MirrorService } from '../services/mirror/mirror.js';
import type { ParsedPath } from './paths.js';
import type { EventContext } from '../storage/meta/events.js';

export interface Services {
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly listings: ListingService;
  /** The pull-through cache, when upstreams are configured (routes with `path.mirror` use it). */
  readonly mirror?: MirrorService;
  readonly limits: RegistryLimits;
  /** Redirect whole-blob GETs to the blob store's own URL when it can serve them (307). */
  readonly redirectBlobGets: boolean;
  /** Record events of changes (subscriptions are configured): handlers pass eventContext(ctx) to the services. */
  readonly recordEvents: boolean;
}

export interface HandlerContext {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly path: ParsedPath;
  /** Repository name; handlers of named routes only. */
  readonly name: string;
  /** Reference, digest or upload id from the path ('' when the route has none). */
  readonly ref: string;
  /**
   * The `ns` query parameter, validated (http/headers.ts sourceNamespace).
   * When it names a configured upstream's host, the route resolution scoped
   * the request by it (path.mirror.ns, answered as OCI-Namespace); otherwise
   * it is ignored (the draft's "MAY ignore").
   */
  readonly namespace?: string;
  readonly services: Services;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

export type Handler = (ctx: HandlerContext) => Promise<void>;

/** Who makes this request, for the events of its changes; undefined when events are not recorded. */
export function eventContext(ctx: HandlerContext): EventContext | undefined {
  if (!ctx.services.recordEvents) return undefined;
  const { request } = ctx;
  return { requestId: request.id, address: request.ip, ...(request.ociUser === undefined ? {} : { actor: request.ociUser }) };
}

/**
 * The digest in the path (blob and referrers routes), parsed: the request's
 * one parse of it, handed down to the services and stores as a Digest.
 * Throws DIGEST_INVALID (400).
 */
export function pathDigest(ctx: HandlerContext): Digest {
  return parseDigest(ctx.ref).digest;
}

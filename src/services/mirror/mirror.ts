/**
 * The pull-through cache (docs/mirror.md): manifests and blobs of mirrored
 * repositories come from the local stores when cached, else from their
 * upstream, and are stored under the upstream's namespace as they pass.
 *
 * - Digest references (manifests and blobs) never go upstream once cached.
 * - A tag is revalidated with a HEAD (its digest) at most once per
 *   `tagTtlMs`; a changed digest is fetched (GET by digest) and the tag moved.
 * - One upstream request per uncached blob, tag or digest at a time: in this
 *   process (flights.ts for blobs; manifests share one promise) and across
 *   replicas sharing the metadata store (a lease per key, replica-flights.ts).
 * - An upstream 404 is remembered for `notFoundTtlMs`.
 * - Upstream down (UpstreamError.transient): a cached tag checked within
 *   `staleMs` is served with a `warning`; otherwise the request fails
 *   (UPSTREAM_UNAVAILABLE 503, or TOOMANYREQUESTS 429 for an upstream 429).
 * Cached manifests record no references (their blobs are fetched on demand,
 * not before): their links are receipts renewed by pulls, and the eviction
 * (eviction.ts, run by the GC) decides when they go with their manifests.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../../oci/errors.js';
import { digestOf, tryParseDigest, type Digest } from '../../oci/digest.js';
import { parseManifest } from '../../oci/manifest.js';
import { MediaType } from '../../oci/mediatypes.js';
import { parseReference } from '../../oci/names.js';
import type { ManifestRecord, MetadataStore } from '../../storage/meta/types.js';
import type { UploadService } from '../uploads.js';
import { MirrorEviction } from './eviction.js';
import { BlobFlights } from './flights.js';
import { ReplicaFlights, type HeldLease } from './replica-flights.js';
import { PullRecorder, pullGranularity } from './pulls.js';
import { MirrorNamespaces, type MirrorRoute, type UpstreamSettings } from './settings.js';
import { emptyStats, type FetchEvent, type MirrorStatsBoard, type UpstreamStats, type UpstreamStatsRow } from './stats.js';
import type { AroundExchange, UpstreamResponse } from './exchange.js';
import { UpstreamClient, UpstreamError } from './upstream.js';

const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');

export interface MirrorOptions {
  readonly upstreams: readonly UpstreamSettings[];
  /** Where the counters are published (e.g. for metrics). */
  readonly board?: MirrorStatsBoard;
  /** The expiry of the single-flight leases across replicas (default LEASE_TTL_MS); a dead holder is taken over after it. */
  readonly leaseMs?: number;
  /** Wraps every HTTP exchange with an upstream (tracing); the token requests are not wrapped. */
  readonly around?: AroundExchange;
  /** A manifest's pull is written at most once per this long per process (pulls.ts). Default pullGranularity(upstreams). */
  readonly pullGranularityMs?: number;
}

export interface MirrorManifest {
  readonly record: ManifestRecord;
  /** Set when served from the cache because the upstream failed: the Warning to answer. */
  readonly warning?: string;
}

/** A blob: serve the local copy, stream this fetch (whole blob, `size` bytes), or answer a HEAD with the upstream's size. */
export type MirrorBlob = { readonly kind: 'local' } | { readonly kind: 'stream'; readonly size: number; readonly stream: Readable } | { readonly kind: 'remote'; readonly size: number };

export class MirrorService {
  readonly namespaces: MirrorNamespaces;
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly counters = new Map<string, UpstreamStats>();
  /** local repository:tag → when the upstream last confirmed it (this process). */
  private readonly checked = new Map<string, number>();
  /** key → until when an upstream 404 is remembered; expired keys are swept at most once a minute (rememberNotFound). */
  private readonly notFound = new Map<string, number>();
  private notFoundSweptAt = Date.now();
  private readonly manifestFlights = new Map<string, Promise<MirrorManifest>>();
  private readonly blobFlights: BlobFlights;
  private readonly replicas: ReplicaFlights;
  /** Last-pulled times of cached manifests (pulls.ts), read by the eviction the GC runs. */
  readonly pulls: PullRecorder;
  readonly eviction: MirrorEviction;

  constructor(
    private readonly meta: MetadataStore,
    private readonly uploads: UploadService,
    private readonly maxManifestSize: number,
    options: MirrorOptions,
    private readonly onFetch: (event: FetchEvent) => void = () => undefined,
  ) {
    this.namespaces = new MirrorNamespaces(options.upstreams);
    for (const u of options.upstreams) {
      this.clients.set(u.name, new UpstreamClient(u, options.around));
      this.counters.set(u.name, emptyStats());
    }
    options.board?.attach(() => this.stats());
    this.replicas = new ReplicaFlights(meta, options.leaseMs);
    this.pulls = new PullRecorder(meta, { granularityMs: options.pullGranularityMs ?? pullGranularity(options.upstreams) });
    this.eviction = new MirrorEviction(meta, options.upstreams, this.pulls, (upstream) => this.counters.get(upstream)!);
    this.blobFlights = new BlobFlights((key) => this.settingsOf(key.slice(0, key.indexOf(' '))).timeoutMs);
  }

  /** Counters and breaker state per upstream, for metrics. */
  stats(): UpstreamStatsRow[] {
    return [...this.clients].map(([name, client]) => ({ upstream: name, stats: { ...this.counters.get(name)! }, breaker: client.breakerState }));
  }

  /** The manifest `reference` of the mirrored repository `name` (its local name); records the pull (eviction). */
  async manifest(route: MirrorRoute, name: string, reference: string, signal?: AbortSignal): Promise<MirrorManifest> {
    const served = await this.lookup(route, name, reference, signal);
    this.pulls.touch(name, served.record.digest);
    return served;
  }

  private async lookup(route: MirrorRoute, name: string, reference: string, signal?: AbortSignal): Promise<MirrorManifest> {
    const ref = parseReference(reference);
    const stats = this.counters.get(route.upstream)!;
    if (ref.kind === 'digest') {
      const local = await this.meta.getManifest(name, ref.digest, signal);
      if (local) {
        stats.hits++;
        return { record: local };
      }
      return this.coalesce(route, `${name}@${ref.digest}`, () => this.fetchManifest(route, name, ref.digest, undefined));
    }
    const key = `${name}:${ref.tag}`;
    const digest = await this.meta.getTag(name, ref.tag, signal);
    const local = digest === undefined ? undefined : await this.meta.getManifest(name, digest, signal);
    const settings = this.settingsOf(route.upstream);
    const checkedAt = this.checked.get(key) ?? local?.createdAt ?? 0;
    if (local && this.checked.has(key) && Date.now() - checkedAt < settings.tagTtlMs) {
      stats.hits++;
      return { record: local };
    }
    try {
      return await this.coalesce(route, key, () => this.revalidate(route, name, ref.tag, local));
    } catch (err) {
      if (!(err instanceof UpstreamError && err.transient) || !local || Date.now() - checkedAt >= settings.staleMs) throw this.failure(err, 'manifest', reference, route);
      stats.staleServes++;
      return { record: local, warning: `110 - "Response is Stale: ${err.message.replace(/["\\]/g, '')}"` };
    }
  }

  /**
   * The blob `digest` of the mirrored repository `name`. `stream`: the caller
   * would send the whole blob now (a GET without Range); otherwise an
   * uncached blob is stored first and answered as local (a Range GET), or
   * only asked about (`head`).
   */
  async blob(route: MirrorRoute, name: string, digest: Digest, mode: 'stream' | 'store' | 'head', signal?: AbortSignal): Promise<MirrorBlob> {
    const stats = this.counters.get(route.upstream)!;
    if (await this.meta.getBlobLink(name, digest, signal)) {
      stats.hits++;
      return { kind: 'local' };
    }
    const key = `${route.upstream} ${name}@${digest}`;
    this.rememberedNotFound(key, 'blob', digest, route);
    const running = this.blobFlights.current(key);
    if (mode === 'head' && !running) {
      stats.misses++;
      const started = Date.now();
      const res = await this.send(route, key, { method: 'HEAD', path: `${route.remote}/blobs/${digest}`, kind: 'blob-head', reference: digest, signal });
      const size = contentLength(res);
      this.onFetch({ upstream: route.upstream, kind: 'blob-head', repository: route.remote, reference: digest, outcome: 'ok', ms: Date.now() - started });
      if (size !== undefined) return { kind: 'remote', size };
      mode = 'store'; // no usable size (a missing header is not 0): fetch and store, then answer the local copy
    }
    const client = this.clients.get(route.upstream)!;
    const started = Date.now();
    const event = (outcome: FetchEvent['outcome'], bytes?: number, error?: string) =>
      this.onFetch({ upstream: route.upstream, kind: 'blob', repository: route.remote, reference: digest, outcome, ms: Date.now() - started, ...(bytes !== undefined ? { bytes } : {}), ...(error ? { error } : {}) });
    let fetched = 0;
    let lease: HeldLease | undefined; // held from before the GET until the blob is stored or the fetch failed
    const flight = await this.blobFlights
      .start(
        key,
        async (flightSignal) => {
          const led = await this.replicas.lead(`blob ${key}`, async () => ((await this.meta.getBlobLink(name, digest, flightSignal)) ? true : undefined), flightSignal);
          if ('found' in led) return undefined; // another replica stored it
          lease = led.lease;
          try {
            const res = await this.send(route, key, { method: 'GET', path: `${route.remote}/blobs/${digest}`, kind: 'blob', reference: digest, signal: flightSignal });
            return { body: res.body, size: contentLength(res) };
          } catch (err) {
            await lease.release();
            throw err;
          }
        },
        async (body, size, flightSignal) => {
          try {
            await this.uploads.uploadWhole(name, digest, { body, ...(size !== undefined ? { contentLength: size } : {}), signal: flightSignal });
            event('ok', fetched);
          } catch (err) {
            stats.errors++;
            event('failed', fetched, err instanceof Error ? err.message : String(err));
            throw err;
          } finally {
            await lease?.release();
          }
        },
        (n) => {
          fetched += n;
          stats.bytesFetched += n;
        },
      )
      .catch((err: unknown) => Promise.reject(this.failure(err, 'blob', digest, route)));
    if (!flight.leader) stats.coalesced++;
    else stats.misses++;
    if (flight.leader && mode === 'stream' && flight.size !== undefined) return { kind: 'stream', size: flight.size, stream: flight.stream };
    if (flight.leader) flight.stream.destroy(); // nobody reads it: the flight only stores
    await flight.done.catch((err: unknown) => Promise.reject(this.failure(err, 'blob', digest, route, `the transfer from upstream ${client.settings.name} failed; retry`)));
    return { kind: 'local' };
  }

  private settingsOf(upstream: string): UpstreamSettings {
    return this.clients.get(upstream)!.settings;
  }

  /** One promise per key: a second caller meanwhile gets the first caller's answer. */
  private coalesce(route: MirrorRoute, key: string, fn: () => Promise<MirrorManifest>): Promise<MirrorManifest> {
    const running = this.manifestFlights.get(key);
    if (running) {
      this.counters.get(route.upstream)!.coalesced++;
      return running;
    }
    const flight = fn().finally(() => this.manifestFlights.delete(key));
    this.manifestFlights.set(key, flight);
    return flight;
  }

  /** A tag: HEAD when cached (unchanged: confirmed), else GET and store. */
  private async revalidate(route: MirrorRoute, name: string, tag: string, local: ManifestRecord | undefined): Promise<MirrorManifest> {
    const key = `${name}:${tag}`;
    if (!local) this.rememberedNotFound(`${route.upstream} ${key}`, 'manifest', tag, route);
    if (local) {
      const started = Date.now();
      const res = await this.send(route, `${route.upstream} ${key}`, { method: 'HEAD', path: `${route.remote}/manifests/${tag}`, accept: MANIFEST_ACCEPT, kind: 'revalidate', reference: tag });
      const digest = res.headers.get('docker-content-digest');
      if (digest === local.digest) {
        this.checked.set(key, Date.now());
        this.counters.get(route.upstream)!.hits++;
        this.onFetch({ upstream: route.upstream, kind: 'revalidate', repository: route.remote, reference: tag, outcome: 'unchanged', ms: Date.now() - started });
        return { record: local };
      }
      const moved = digest === null ? undefined : tryParseDigest(digest)?.digest;
      this.onFetch({ upstream: route.upstream, kind: 'revalidate', repository: route.remote, reference: tag, outcome: 'changed', ms: Date.now() - started });
      if (moved !== undefined) {
        const cached = await this.meta.getManifest(name, moved);
        if (cached) return this.storeTag(name, tag, cached);
        return this.fetchManifest(route, name, moved, tag);
      }
    }
    return this.fetchManifest(route, name, tag, tag, local?.digest);
  }

  private async storeTag(name: string, tag: string, record: ManifestRecord): Promise<MirrorManifest> {
    await this.store(name, record.digest, record.bytes, record.mediaType, tag);
    this.checked.set(`${name}:${tag}`, Date.now());
    return { record };
  }

  /**
   * GET the manifest `reference` (a digest, or the tag), verify its digest,
   * store it (and the tag), holding the lease of the key across replicas;
   * or take what another replica stored meanwhile (for a tag: one other than
   * `stale`, the copy being revalidated).
   */
  private async fetchManifest(route: MirrorRoute, name: string, reference: string, tag: string | undefined, stale?: Digest): Promise<MirrorManifest> {
    const stats = this.counters.get(route.upstream)!;
    const key = `${route.upstream} ${name}${tag !== undefined ? `:${tag}` : `@${reference}`}`;
    if (tag === undefined) this.rememberedNotFound(key, 'manifest', reference, route);
    const byDigest = tryParseDigest(reference)?.digest;
    const ready = async (): Promise<ManifestRecord | undefined> => {
      const digest = byDigest ?? (await this.meta.getTag(name, reference));
      return digest === undefined || (byDigest === undefined && digest === stale) ? undefined : this.meta.getManifest(name, digest);
    };
    const led = await this.replicas.lead(`manifest ${key}`, ready);
    if ('found' in led) {
      stats.coalesced++;
      if (tag === undefined) return { record: led.found };
      if (byDigest !== undefined) return this.storeTag(name, tag, led.found); // a moved tag: ours moves too
      this.checked.set(`${name}:${tag}`, Date.now());
      return { record: led.found };
    }
    try {
      return await this.fetchManifestHolding(route, name, reference, tag, key);
    } finally {
      await led.lease.release();
    }
  }

  private async fetchManifestHolding(route: MirrorRoute, name: string, reference: string, tag: string | undefined, key: string): Promise<MirrorManifest> {
    const stats = this.counters.get(route.upstream)!;
    stats.misses++;
    const started = Date.now();
    const res = await this.send(route, key, { method: 'GET', path: `${route.remote}/manifests/${reference}`, accept: MANIFEST_ACCEPT, kind: 'manifest', reference });
    const bytes = await readLimited(res, this.maxManifestSize, route.upstream);
    stats.bytesFetched += bytes.byteLength;
    const header = res.headers.get('docker-content-digest');
    const algorithm = reference.startsWith('sha512:') || (reference === tag && header?.startsWith('sha512:')) ? 'sha512' : 'sha256';
    const digest = digestOf(bytes, algorithm);
    const expected = reference === tag ? header : reference;
    if (expected !== null && expected !== digest) {
      throw new RegistryError('UPSTREAM_INVALID', `upstream ${route.upstream} sent manifest bytes with digest ${digest}, not ${expected}`);
    }
    const record = await this.store(name, digest, bytes, res.headers.get('content-type') ?? undefined, tag);
    if (tag !== undefined) this.checked.set(`${name}:${tag}`, Date.now());
    this.onFetch({ upstream: route.upstream, kind: 'manifest', repository: route.remote, reference, outcome: 'ok', bytes: bytes.byteLength, ms: Date.now() - started });
    return { record };
  }

  private async store(name: string, digest: Digest, bytes: Uint8Array, contentType: string | undefined, tag: string | undefined): Promise<ManifestRecord> {
    let parsed;
    try {
      parsed = parseManifest(bytes, contentType);
    } catch (err) {
      throw new RegistryError('UPSTREAM_INVALID', `the upstream's manifest ${digest} is not one this registry stores: ${err instanceof Error ? err.message : String(err)}`);
    }
    const result = await this.meta.putManifest({
      repository: name,
      digest,
      mediaType: parsed.mediaType,
      bytes,
      ...(tag !== undefined ? { tags: [tag] } : {}),
      blobs: [],
      manifests: [],
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      now: this.meta.clock(),
    });
    if (!result.ok) throw new RegistryError('UNAVAILABLE', `manifest ${digest} could not be cached in ${name}; retry`);
    const record = await this.meta.getManifest(name, digest);
    if (!record) throw new RegistryError('UNAVAILABLE', `manifest ${digest} was removed from ${name} while it was cached; retry`);
    return record;
  }

  /** Sends one upstream request; failures are logged (one line) and counted, 404s remembered under `key`. */
  private async send(route: MirrorRoute, key: string, req: { method: 'GET' | 'HEAD'; path: string; accept?: string; kind: FetchEvent['kind']; reference: string; signal?: AbortSignal | undefined }): Promise<UpstreamResponse> {
    const client = this.clients.get(route.upstream)!;
    const started = Date.now();
    try {
      return await client.send({ method: req.method, path: req.path, repository: route.remote, ...(req.accept ? { accept: req.accept } : {}), ...(req.signal ? { signal: req.signal } : {}) });
    } catch (err) {
      const notFound = err instanceof UpstreamError && err.failure === 'not-found';
      if (notFound) this.rememberNotFound(key, client.settings.notFoundTtlMs);
      else this.counters.get(route.upstream)!.errors++;
      const error = err instanceof Error ? err.message : String(err);
      this.onFetch({ upstream: route.upstream, kind: req.kind, repository: route.remote, reference: req.reference, outcome: notFound ? 'not-found' : 'failed', ms: Date.now() - started, ...(notFound ? {} : { error }) });
      throw err;
    }
  }

  /** Remembers an upstream 404; drops the expired ones (names never asked for again would otherwise stay forever). */
  private rememberNotFound(key: string, ttlMs: number): void {
    const now = Date.now();
    if (now - this.notFoundSweptAt >= 60_000) {
      this.notFoundSweptAt = now;
      for (const [k, until] of this.notFound) if (until <= now) this.notFound.delete(k);
    }
    this.notFound.set(key, now + ttlMs);
  }

  /** Throws the remembered upstream 404 of `key` while it is fresh. */
  private rememberedNotFound(key: string, what: 'blob' | 'manifest', reference: string, route: MirrorRoute): void {
    const until = this.notFound.get(key);
    if (until === undefined) return;
    if (until > Date.now()) throw this.failure(new UpstreamError(route.upstream, 'not-found', `upstream ${route.upstream} did not have it a moment ago`), what, reference, route);
    this.notFound.delete(key);
  }

  /** The RegistryError a client gets for `err` (an UpstreamError or anything else). */
  private failure(err: unknown, what: 'blob' | 'manifest', reference: string, route: MirrorRoute, transferFailed?: string): unknown {
    if (!(err instanceof UpstreamError)) {
      if (transferFailed && !(err instanceof RegistryError)) return new RegistryError('UPSTREAM_UNAVAILABLE', `${what} ${reference}: ${transferFailed}`, { cause: err });
      return err;
    }
    const where = `${route.remote} at upstream ${route.upstream}`;
    if (err.failure === 'not-found') {
      return new RegistryError(what === 'blob' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', `${what} ${reference} is not in ${where}`);
    }
    if (err.failure === 'throttled') return new RegistryError('TOOMANYREQUESTS', `${what} ${reference} is not cached and ${err.message}`, { retryAfterSeconds: err.retryAfterSeconds ?? 60 });
    if (err.failure === 'refused') return new RegistryError('UPSTREAM_INVALID', `${what} ${reference} of ${where}: ${err.message}`);
    const retry = err.failure === 'breaker-open' ? Math.ceil(this.settingsOf(route.upstream).breakerOpenMs / 1000) : err.retryAfterSeconds;
    return new RegistryError('UPSTREAM_UNAVAILABLE', `${what} ${reference} of ${route.remote} is not cached and ${err.message}`, retry !== undefined ? { retryAfterSeconds: retry } : {});
  }
}

/** The upstream's Content-Length, when present and a byte count (Number('') and Number(null) are 0, so not those). */
function contentLength(res: UpstreamResponse): number | undefined {
  const header = res.headers.get('content-length');
  const n = header === null || !/^\d+$/.test(header.trim()) ? NaN : Number(header);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The body, at most `limit` bytes (else UPSTREAM_INVALID). */
async function readLimited(res: UpstreamResponse, limit: number, upstream: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) {
      res.cancel();
      throw new RegistryError('UPSTREAM_INVALID', `upstream ${upstream} sent a manifest over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

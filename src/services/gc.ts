/**
 * Online blob garbage collection (docs/gc.md), HTTP-free. Safe next to live
 * traffic, in the server's process or another one (`ferro-oci-server gc`):
 * the MetadataStore decides, digest by digest, in its own short transaction
 * (markBlobForDeletion), whether a blob is garbage, and no upload can commit
 * that digest while the mark is held. No lock is held across the scan.
 *
 * For each committed digest the BlobStore lists: take the deletion mark (the
 * blob is linked nowhere, referenced by no manifest, not reserved by an
 * upload, unused for `graceMs`), delete the content, drop the mark. A mark
 * left by a collector that died expires after `leaseMs`; the next run takes it
 * over. Before the scan: expired upload sessions and orphaned upload data
 * are swept, manifests are pruned by the storage policy (retention, untagged
 * manifests: services/prune.ts), then the blob links that no manifest of
 * their repository references and whose receipt is older than the grace are
 * removed (unlinkBlobIf), so that their content is collected in the scan.
 * With a mirror, its eviction (services/mirror/eviction.ts) runs between the
 * policies and the link reclaim, and owns the links of mirrored repositories.
 */
import { randomUUID } from 'node:crypto';
import type { BlobStore } from '../storage/blob/types.js';
import type { EventContext, MetadataStore } from '../storage/meta/types.js';
import { paged } from './paged.js';
import type { StoragePolicy } from './policy.js';
import { pruneManifests, type PruneReport } from './prune.js';
import type { EvictionOptions, EvictionReport } from './mirror/eviction.js';

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
export const DEFAULT_GC_LEASE_MS = 60 * 1000;

/**
 * Receipts (docs/gc.md): a HEAD or GET renews a link's receipt only when it is
 * older than half the grace (at most one write per link per half grace), so
 * a collection reclaims a link only when its receipt is older than the grace
 * plus that half: every upload, mount or HEAD protects the link for at least
 * the grace period.
 */
export function receiptRenewAfterMs(graceMs: number): number {
  return Math.floor(graceMs / 2);
}

/** Links with a receipt strictly before this time are reclaimable (when no manifest references them). */
export function receiptCutoff(now: number, graceMs: number): number {
  return now - graceMs - receiptRenewAfterMs(graceMs);
}

export interface GcStores {
  readonly blobStore: BlobStore;
  readonly metadataStore: MetadataStore;
}

export interface GcOptions {
  /** Only report what would be deleted; changes nothing (no upload sweep either). */
  readonly dryRun?: boolean;
  /** Keep blobs last linked, unlinked or reserved less than this long ago. Default 1 h. */
  readonly graceMs?: number;
  /** Lifetime of a deletion mark. Default 60 s; a deletion is abandoned when half of it has passed before it starts. */
  readonly leaseMs?: number;
  /** Retention and untagged-manifest rules, applied before the blob scan when they prune anything. */
  readonly policy?: StoragePolicy;
  /** Removes expired upload sessions and orphaned upload data (UploadService.sweep); run before the scan when given. */
  readonly sweepUploads?: (signal?: AbortSignal) => Promise<{ sessions: number; orphans: number }>;
  /** With events on: the context of the events of the policy's removals (services/prune.ts). */
  readonly events?: EventContext;
  /** The mirror's eviction (MirrorService.eviction): run after the policies; the link reclaim leaves the repositories it owns to it. */
  readonly eviction?: { owns(repository: string): boolean; run(options: EvictionOptions): Promise<EvictionReport> };
  /** The clock. Default the metadata store's (MetadataStore.clock). */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  /** Called every `progressEvery` scanned blobs (default 1000). */
  readonly onProgress?: (progress: GcProgress) => void;
  readonly progressEvery?: number;
}

export interface GcProgress {
  /** Committed blobs looked at. */
  readonly scanned: number;
  /** Blobs deleted (dry run: that would be deleted). */
  readonly deleted: number;
  readonly bytesFreed: number;
}

export interface GcReport extends GcProgress {
  readonly dryRun: boolean;
  readonly graceMs: number;
  /** Blobs kept: in use, used within the grace period, reserved, or marked by another collector. */
  readonly kept: number;
  /** Blob links removed (dry run: that would be removed): referenced by no manifest of their repository, receipt older than the grace. */
  readonly linksRemoved: number;
  /** Blobs whose deletion failed; they are left for the next run. */
  readonly errors: number;
  /** What the upload sweep removed; absent when it did not run. */
  readonly uploads?: { readonly sessions: number; readonly orphans: number };
  /** What retention and the untagged policy removed (dry run: would remove); absent without such rules. */
  readonly manifests?: PruneReport;
  /** What the mirror's eviction removed per upstream (dry run: would remove); absent without a mirror. */
  readonly eviction?: EvictionReport;
  readonly startedAt: string;
  readonly durationMs: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One collection run. Rejects only when aborted or when a store cannot be listed; a failed deletion is counted in `errors`. */
export async function collectGarbage(stores: GcStores, options: GcOptions = {}): Promise<GcReport> {
  const { blobStore: blobs, metadataStore: meta } = stores;
  const now = options.now ?? (() => meta.clock());
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_GC_LEASE_MS;
  const dryRun = options.dryRun === true;
  const { signal } = options;
  const every = Math.max(1, options.progressEvery ?? 1000);
  const holder = `gc-${randomUUID()}`;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const report: Mutable<Omit<GcReport, 'durationMs' | 'uploads'>> = { dryRun, graceMs, scanned: 0, deleted: 0, bytesFreed: 0, kept: 0, linksRemoved: 0, errors: 0, startedAt };

  const uploads = !dryRun && options.sweepUploads ? await options.sweepUploads(signal) : undefined;
  const manifests = options.policy?.prunes ? await pruneManifests(meta, options.policy, { dryRun, graceMs, now, ...(signal ? { signal } : {}), ...(options.events ? { events: options.events } : {}) }) : undefined;
  const eviction = options.eviction
    ? await options.eviction.run({ dryRun, linkCutoff: receiptCutoff(now(), graceMs), now, policy: options.policy, signal })
    : undefined;
  report.linksRemoved = await reclaimLinks(meta, graceMs, now, dryRun, signal, options.eviction);

  for await (const digest of blobs.list(signal)) {
    signal?.throwIfAborted();
    report.scanned++;
    if (report.scanned % every === 0) options.onProgress?.({ scanned: report.scanned, deleted: report.deleted, bytesFreed: report.bytesFreed });
    const markedAt = now();
    if (!(await meta.markBlobForDeletion(digest, holder, { now: markedAt, graceMs, leaseMs, dryRun }, signal))) {
      report.kept++;
      continue;
    }
    if (dryRun) {
      const info = await blobs.stat(digest, signal);
      if (info) {
        report.deleted++;
        report.bytesFreed += info.size;
      }
      continue;
    }
    try {
      const info = await blobs.stat(digest);
      // A mark is only trusted well within its lease: past it, another collector may hold the digest.
      if (info && now() - markedAt < leaseMs / 2 && (await blobs.delete(digest))) {
        report.deleted++;
        report.bytesFreed += info.size;
      }
    } catch {
      report.errors++;
    } finally {
      // Without the signal: an aborted run still drops its mark (else it blocks uploads of the digest until the lease ends).
      await meta.unmarkBlob(digest, holder).catch(() => undefined);
    }
  }
  return { ...report, ...(uploads ? { uploads } : {}), ...(manifests ? { manifests } : {}), ...(eviction ? { eviction } : {}), durationMs: Math.round(performance.now() - started) };
}

/**
 * Removes the blob links no manifest of their repository references whose
 * receipt is older than the grace (plus the renewal half), each by its own
 * conditional transaction (unlinkBlobIf). Resolves how many it removed.
 */
async function reclaimLinks(meta: MetadataStore, graceMs: number, now: () => number, dryRun: boolean, signal?: AbortSignal, owned?: { owns(repository: string): boolean }): Promise<number> {
  let removed = 0;
  for await (const repository of paged((page) => meta.listRepositories(page, signal), (r) => r, 500)) {
    if (owned?.owns(repository)) continue;
    const links = paged((page) => meta.listReclaimableBlobLinks(repository, receiptCutoff(now(), graceMs), page, signal), (l) => l.digest, 500);
    for await (const link of links) {
      signal?.throwIfAborted();
      if (dryRun || (await meta.unlinkBlobIf(repository, link.digest, { touchedBefore: receiptCutoff(now(), graceMs), now: now() }, signal))) removed++;
    }
  }
  return removed;
}

/** The summary of a report as text lines (CLI, logs); with `detail`, one line per tag and manifest removed. */
export function formatGcReport(report: GcReport, detail = false): string[] {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines: string[] = [];
  const m = report.manifests;
  if (m) {
    const remove = report.dryRun ? 'would remove' : 'removed';
    if (detail) {
      for (const t of m.tags) lines.push(`${remove} tag ${t.repository}:${t.tag} (${t.digest})`);
      for (const x of m.manifests) lines.push(`${remove} manifest ${x.repository}@${x.digest} (${x.reason})`);
      if (m.tags.length < m.tagsRemoved || m.manifests.length < m.manifestsRemoved) lines.push('(list truncated)');
    }
    lines.push(`retention and untagged policy: ${m.repositories} repositories, ${remove} ${m.tagsRemoved} tags and ${m.manifestsRemoved} manifests`);
  }
  for (const u of report.eviction?.upstreams ?? []) {
    lines.push(`mirror ${u.upstream}: ${report.dryRun ? 'would evict' : 'evicted'} ${u.manifests} manifests and ${u.blobs} blob links, ${u.bytes} bytes cached`);
  }
  lines.push(`${report.dryRun ? 'would remove' : 'removed'} ${report.linksRemoved} blob links no manifest references`);
  lines.push(
    `${report.dryRun ? 'dry run: ' : ''}scanned ${report.scanned} blobs, ${verb} ${report.deleted} (${report.bytesFreed} bytes), kept ${report.kept}` +
      `${report.errors > 0 ? `, ${report.errors} failed (left for the next run)` : ''} in ${report.durationMs} ms (grace ${Math.round(report.graceMs / 1000)} s)`,
  );
  if (report.uploads) lines.push(`removed ${report.uploads.sessions} expired upload sessions and ${report.uploads.orphans} orphaned upload data`);
  return lines;
}

/** What a GarbageCollector's runs use unless run() is given otherwise. */
export type GcDefaults = Omit<GcOptions, 'dryRun' | 'signal' | 'onProgress'>;

/**
 * Runs collections one at a time in this process, coalescing requests: a run
 * asked for while one is under way queues one follow-up (per set of options:
 * dry run or not, grace, policy), and every request that comes while that
 * follow-up waits joins it, getting its report. So background ticks slower
 * than the interval, or a burst of POST /admin/gc, never pile up: at most the
 * run under way and one follow-up. A follow-up, not the run under way,
 * because that run may have scanned past what the caller just deleted.
 * A joined run keeps the signal and progress callback of the request that
 * queued it. Other processes (the `gc` command) may collect concurrently;
 * the MetadataStore keeps that safe.
 */
export class GarbageCollector {
  #tail: Promise<unknown> = Promise.resolve();
  /** Runs under way or queued. */
  #pending = 0;
  /** The queued follow-up of each set of options, until it starts. */
  readonly #queued = new Map<string, Promise<GcReport>>();
  readonly #policyIds = new WeakMap<StoragePolicy, number>();
  #policies = 0;
  #last: GcReport | undefined;

  readonly #defaults: () => GcDefaults;

  /** `defaults` as a function is called when each run starts (settings that may be reloaded). */
  constructor(
    private readonly stores: GcStores,
    defaults: GcDefaults | (() => GcDefaults) = {},
  ) {
    this.#defaults = typeof defaults === 'function' ? defaults : () => defaults;
  }

  /** The last completed run's report. */
  get lastReport(): GcReport | undefined {
    return this.#last;
  }

  run(options: Pick<GcOptions, 'dryRun' | 'graceMs' | 'signal' | 'onProgress' | 'policy'> = {}): Promise<GcReport> {
    const key = this.#key(options);
    const joined = this.#queued.get(key);
    if (joined) return joined;
    const queued = this.#pending > 0;
    this.#pending++;
    const result = this.#tail
      .then(() => {
        this.#queued.delete(key); // started: a request from now on queues a new follow-up
        return collectGarbage(this.stores, { ...this.#defaults(), ...options });
      })
      .then((report) => (this.#last = report))
      .finally(() => this.#pending--);
    this.#tail = result.catch(() => undefined);
    if (queued) this.#queued.set(key, result);
    return result;
  }

  #key(options: Pick<GcOptions, 'dryRun' | 'graceMs' | 'policy'>): string {
    let policy = 0;
    if (options.policy) {
      policy = this.#policyIds.get(options.policy) ?? this.#policyIds.set(options.policy, ++this.#policies).get(options.policy)!;
    }
    return `${options.dryRun === true} ${options.graceMs ?? ''} ${policy}`;
  }
}

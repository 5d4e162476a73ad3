/**
 * Eviction of mirrored content (docs/mirror.md "Eviction"), run by the online
 * GC (services/gc.ts) after the retention and untagged policies and before
 * the blob links are reclaimed; the links of mirrored repositories are left
 * to it. Per upstream, over its whole namespace:
 *
 * - A cached manifest was last pulled at its recorded pull (pulls.ts) or,
 *   without one (cached before pulls were recorded), at the latest of when
 *   it was cached and its blobs' receipts. A blob link was last pulled at
 *   its receipt (docs/gc.md), renewed by every pull at half-grace granularity.
 * - Time: manifests not pulled for `evictAfterMs` are evicted (their tags
 *   and the manifest), and so are the links no remaining manifest of their
 *   repository uses whose receipt is older than evictAfterMs (and the GC's
 *   receipt cut-off).
 * - Cap: while the namespace's bytes (its manifests plus each linked blob
 *   once) exceed `maxBytes`, the least recently pulled manifest or unused
 *   link goes, a manifest with the links only it used.
 * - Manifests a retention rule keeps (docs/gc.md: the tags it does not
 *   remove, their index children too) are never evicted, nor their blobs.
 * Deletions are conditional (deleteTagIf, deleteManifestIf, unlinkBlobIf):
 * a manifest cached again after the listing, a moved tag or a blob reserved
 * by an upload stays. Evicted content is fetched again on its next pull.
 * A namespace is held in memory while it is planned (per manifest: digests
 * of its blobs and tags; per link: digest, size, receipt).
 */
import type { Digest } from '../../oci/digest.js';
import { parseManifest } from '../../oci/manifest.js';
import type { MetadataStore, TagRecord } from '../../storage/meta/types.js';
import { paged } from '../paged.js';
import type { StoragePolicy } from '../policy.js';
import { retentionRemovals } from '../prune.js';
import type { PullRecorder } from './pulls.js';
import { UPSTREAM_DEFAULTS, type UpstreamSettings } from './settings.js';
import type { UpstreamStats } from './stats.js';

export interface EvictionOptions {
  readonly dryRun: boolean;
  /** The GC's receipt cut-off (gc.ts receiptCutoff): links with newer receipts are not evicted by time. */
  readonly linkCutoff: number;
  readonly now: () => number;
  readonly policy?: StoragePolicy | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface UpstreamEviction {
  readonly upstream: string;
  /** Manifests evicted (dry run: that would be). */
  readonly manifests: number;
  /** Blob links removed (dry run: that would be). */
  readonly blobs: number;
  /** The namespace's bytes after the run (manifests, and each linked blob once). */
  readonly bytes: number;
}

export interface EvictionReport {
  readonly upstreams: readonly UpstreamEviction[];
}

interface Cached {
  readonly repository: string;
  readonly digest: Digest;
  readonly size: number;
  readonly lastPulled: number;
  readonly blobs: readonly Digest[];
  readonly tags: TagRecord[];
  kept: boolean;
  evicted: boolean;
}

interface Link {
  readonly repository: string;
  readonly digest: Digest;
  readonly size: number;
  readonly touchedAt: number;
  /** Manifests of the repository not evicted that use it. */
  users: number;
  dead?: 'time' | 'cap';
}

interface Namespace {
  readonly manifests: Cached[];
  readonly links: Map<string, Link>;
  /** Per repository, pull rows whose manifest is gone. */
  readonly stale: Map<string, Digest[]>;
}

export class MirrorEviction {
  constructor(
    private readonly meta: MetadataStore,
    private readonly upstreams: readonly UpstreamSettings[],
    private readonly pulls: PullRecorder,
    private readonly counters: (upstream: string) => UpstreamStats,
  ) {}

  /** Whether `repository` lies in a mirrored namespace (its links are this pass's). */
  owns(repository: string): boolean {
    return this.upstreams.some((u) => repository.startsWith(`${u.namespace}/`));
  }

  async run(options: EvictionOptions): Promise<EvictionReport> {
    await this.pulls.flush(options.signal); // a failure fails the run: evicting without the latest pulls could evict what is in use
    const upstreams: UpstreamEviction[] = [];
    for (const u of this.upstreams) upstreams.push(await this.#evict(u, options));
    return { upstreams };
  }

  async #evict(u: UpstreamSettings, o: EvictionOptions): Promise<UpstreamEviction> {
    const listedAt = o.now();
    const ns = await this.#scan(u.namespace, listedAt, o);
    const timeCutoff = listedAt - (u.evictAfterMs ?? UPSTREAM_DEFAULTS.evictAfterMs);
    const linkCutoff = Math.min(timeCutoff, o.linkCutoff);
    const linksOf = new Map<Digest, number>();
    const sizes = new Map<Digest, number>();
    for (const l of ns.links.values()) {
      linksOf.set(l.digest, (linksOf.get(l.digest) ?? 0) + 1);
      sizes.set(l.digest, l.size);
    }
    let bytes = ns.manifests.reduce((n, m) => n + m.size, 0) + [...sizes.values()].reduce((n, s) => n + s, 0);
    const kill = (l: Link, why: 'time' | 'cap') => {
      if (l.dead) return;
      l.dead = why;
      const left = linksOf.get(l.digest)! - 1;
      linksOf.set(l.digest, left);
      if (left === 0) bytes -= l.size;
    };
    const evict = (m: Cached, why: 'time' | 'cap') => {
      m.evicted = true;
      bytes -= m.size;
      for (const d of m.blobs) {
        const l = ns.links.get(`${m.repository} ${d}`);
        if (l && --l.users === 0 && (why === 'cap' || l.touchedAt < linkCutoff)) kill(l, why);
      }
    };
    for (const m of ns.manifests) if (!m.kept && m.lastPulled < timeCutoff) evict(m, 'time');
    for (const l of ns.links.values()) if (l.users === 0 && l.touchedAt < linkCutoff) kill(l, 'time');
    if (u.maxBytes !== undefined && bytes > u.maxBytes) {
      const units: Array<{ at: number; m?: Cached; l?: Link }> = [
        ...ns.manifests.filter((m) => !m.kept && !m.evicted).map((m) => ({ at: m.lastPulled, m })),
        ...[...ns.links.values()].filter((l) => l.users === 0 && !l.dead).map((l) => ({ at: l.touchedAt, l })),
      ].sort((a, b) => a.at - b.at);
      for (const unit of units) {
        if (bytes <= u.maxBytes) break;
        if (unit.m) evict(unit.m, 'cap');
        else if (unit.l!.users === 0) kill(unit.l!, 'cap');
      }
    }
    const evicted = ns.manifests.filter((m) => m.evicted);
    const dead = [...ns.links.values()].filter((l) => l.dead);
    if (o.dryRun) return { upstream: u.name, manifests: evicted.length, blobs: dead.length, bytes };
    const done = await this.#apply(ns, evicted, dead, { listedAt, linkCutoff }, o.signal);
    const stats = this.counters(u.name);
    stats.evictions += done.manifests;
    stats.evictedBlobs += done.blobs;
    stats.cachedBytes = bytes;
    return { upstream: u.name, ...done, bytes };
  }

  /** Everything cached under `namespace`/ (see Namespace). */
  async #scan(namespace: string, at: number, o: EvictionOptions): Promise<Namespace> {
    const { meta } = this;
    const signal = o.signal;
    const ns: Namespace = { manifests: [], links: new Map(), stale: new Map() };
    const prefix = `${namespace}/`;
    const repositories = paged((page) => meta.listRepositories({ limit: page.limit, last: page.last ?? prefix }, signal), (r) => r, 500);
    for await (const repository of repositories) {
      if (!repository.startsWith(prefix)) break;
      const tags: TagRecord[] = [];
      for await (const t of paged((page) => meta.listTagRecords(repository, page, signal), (t) => t.tag, 500)) tags.push(t);
      const pulled = new Map<Digest, number>();
      for await (const p of paged((page) => meta.listManifestPulls(repository, page, signal), (p) => p.digest, 500)) pulled.set(p.digest, p.pulledAt);
      const rule = o.policy?.retentionRule(repository);
      const removed = rule ? new Set(retentionRemovals(o.policy!, repository, rule, tags, at).map((t) => t.tag)) : undefined;
      const keep: Digest[] = removed ? tags.filter((t) => !removed.has(t.tag)).map((t) => t.digest) : [];
      const tagsOf = new Map<Digest, TagRecord[]>();
      for (const t of tags) tagsOf.set(t.digest, [...(tagsOf.get(t.digest) ?? []), t]);
      const children = new Map<Digest, readonly Digest[]>();
      const here = new Map<Digest, Cached>();
      const links = new Map<Digest, Link>();
      // Mirrored manifests record no references: every link of the repository is listed.
      for await (const l of paged((page) => meta.listReclaimableBlobLinks(repository, Number.MAX_SAFE_INTEGER, page, signal), (l) => l.digest, 500)) {
        const link: Link = { repository, digest: l.digest, size: l.size, touchedAt: l.touchedAt, users: 0 };
        links.set(l.digest, link);
        ns.links.set(`${repository} ${l.digest}`, link);
      }
      for await (const digest of paged((page) => meta.listManifests(repository, page, signal), (d) => d, 500)) {
        const record = await meta.getManifest(repository, digest, signal);
        if (!record) continue;
        let blobs: Digest[] = [];
        try {
          const parsed = parseManifest(record.bytes, record.mediaType);
          blobs = [...new Set(parsed.blobs.map((b) => b.digest))];
          children.set(digest, parsed.manifests.map((c) => c.digest));
        } catch {
          // An unparsable cached manifest uses no blobs we know of.
        }
        const lastPulled = pulled.get(digest) ?? Math.max(record.createdAt, ...blobs.map((d) => links.get(d)?.touchedAt ?? 0));
        const m: Cached = { repository, digest, size: record.size, lastPulled: Math.max(lastPulled, record.createdAt), blobs, tags: tagsOf.get(digest) ?? [], kept: false, evicted: false };
        for (const d of blobs) if (links.has(d)) links.get(d)!.users++;
        here.set(digest, m);
        ns.manifests.push(m);
      }
      // Retention-kept manifests and, through indexes, their children.
      for (let d = keep.pop(); d !== undefined; d = keep.pop()) {
        const m = here.get(d);
        if (!m || m.kept) continue;
        m.kept = true;
        keep.push(...(children.get(d) ?? []));
      }
      const stale = [...pulled.keys()].filter((d) => !here.has(d));
      if (stale.length > 0) ns.stale.set(repository, stale);
    }
    return ns;
  }

  /** Deletes what was planned; a manifest that cannot go (cached again, tag moved) keeps its links. */
  async #apply(ns: Namespace, evicted: Cached[], dead: Link[], cut: { listedAt: number; linkCutoff: number }, signal: AbortSignal | undefined): Promise<{ manifests: number; blobs: number }> {
    const { meta } = this;
    const forget = ns.stale;
    let manifests = 0;
    for (const m of evicted) {
      signal?.throwIfAborted();
      let untagged = true;
      for (const t of m.tags) if (!(await meta.deleteTagIf(m.repository, t.tag, t, signal))) untagged = false;
      if (untagged && (await meta.deleteManifestIf(m.repository, m.digest, { untagged: true, usedBefore: cut.listedAt }, signal))) {
        manifests++;
        forget.set(m.repository, [...(forget.get(m.repository) ?? []), m.digest]);
      } else {
        m.evicted = false;
      }
    }
    for (const [repository, digests] of forget) await meta.forgetManifestPulls(repository, digests, signal);
    const used = new Set(ns.manifests.filter((m) => !m.evicted).flatMap((m) => m.blobs.map((d) => `${m.repository} ${d}`)));
    let blobs = 0;
    for (const l of dead) {
      signal?.throwIfAborted();
      if (used.has(`${l.repository} ${l.digest}`)) continue;
      const touchedBefore = l.dead === 'cap' ? cut.listedAt : cut.linkCutoff;
      if (await meta.unlinkBlobIf(l.repository, l.digest, { touchedBefore, now: meta.clock() }, signal)) blobs++;
    }
    return { manifests, blobs };
  }
}

/**
 * Manifest pruning by policy (services/policy.ts): retention removes the tags
 * a rule does not keep, the untagged policy removes manifests no tag points
 * at. Runs before the blob scan of a collection (services/gc.ts).
 *
 * Every removal is a conditional delete decided by the MetadataStore in one
 * transaction (ManifestLifecycle), so nothing a client pushes meanwhile is
 * undone: a tag is removed only while it is unchanged since it was listed; a
 * manifest only while no tag points at it, no manifest of the repository
 * references it (an index's children, whatever tags the index has), it was
 * not put or untagged recently, and, for a referrer, while its subject is
 * gone (or never: `orphanReferrers: false`). Removing a manifest goes on
 * with its children and referrers under the same conditions; its blob links
 * stay, and are reclaimed by the collection once their receipt is older than
 * the grace (services/gc.ts), so that a blob a client pushed or checked
 * meanwhile for its next manifest stays in the repository.
 */
import type { Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { type EventContext, type ManifestDeleteConditions, type MetadataStore, type TagRecord } from '../storage/meta/types.js';
import { paged } from './paged.js';
import type { RetentionRule, StoragePolicy } from './policy.js';

export interface PruneOptions {
  readonly dryRun?: boolean;
  /** The default age (ms) under which the untagged policy keeps a manifest. */
  readonly graceMs: number;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  /** Removals listed in the report at most (the counts are exact). Default 1000. */
  readonly listLimit?: number;
  /** With events on: each removal records tag.deleted / manifest.deleted with this context and its `reason`. */
  readonly events?: EventContext;
}

export type PruneReason = 'retention' | 'untagged' | 'child' | 'referrer';

export interface PruneReport {
  /** Repositories a retention or untagged rule applies to. */
  readonly repositories: number;
  readonly tagsRemoved: number;
  readonly manifestsRemoved: number;
  /** The removed tags (dry run: that would be removed), at most listLimit. */
  readonly tags: ReadonlyArray<{ readonly repository: string; readonly tag: string; readonly digest: Digest }>;
  /**
   * The removed manifests, at most listLimit. A dry run lists those removable
   * now, and the manifests retention would leave untagged; the children and
   * referrers that a real run removes with them are not listed.
   */
  readonly manifests: ReadonlyArray<{ readonly repository: string; readonly digest: Digest; readonly reason: PruneReason }>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The tags of `repository` (all its `records`) that its retention rule does
 * not keep at `at`: neither excepted, immutable, among the keepLast most
 * recently set, nor set within keepWithin. The others are kept by retention.
 */
export function retentionRemovals(policy: StoragePolicy, repository: string, rule: RetentionRule, records: readonly TagRecord[], at: number): TagRecord[] {
  const candidates = records
    .filter((r) => !policy.exceptedFromRetention(repository, r.tag) && !policy.isImmutable(repository, r.tag))
    .sort((a, b) => b.updatedAt - a.updatedAt || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  const kept = (r: TagRecord, i: number) => (rule.keepLast !== undefined && i < rule.keepLast) || (rule.keepWithinMs !== undefined && r.updatedAt >= at - rule.keepWithinMs);
  return candidates.filter((r, i) => !kept(r, i));
}

export async function pruneManifests(meta: MetadataStore, policy: StoragePolicy, options: PruneOptions): Promise<PruneReport> {
  const now = options.now ?? Date.now;
  const dryRun = options.dryRun === true;
  const limit = options.listLimit ?? 1000;
  const { signal } = options;
  const context = (reason: PruneReason): EventContext | undefined => (options.events === undefined ? undefined : { ...options.events, reason });
  const report: Mutable<PruneReport> & { tags: PruneReport['tags'][number][]; manifests: PruneReport['manifests'][number][] } = {
    repositories: 0,
    tagsRemoved: 0,
    manifestsRemoved: 0,
    tags: [],
    manifests: [],
  };
  const removedManifest = (repository: string, digest: Digest, reason: PruneReason) => {
    report.manifestsRemoved++;
    if (report.manifests.length < limit) report.manifests.push({ repository, digest, reason });
  };

  /** Removes `digest` under `conditions`, then its children and referrers under the same ones. */
  const prune = async (store: MetadataStore, repository: string, digest: Digest, conditions: ManifestDeleteConditions, reason: PruneReason) => {
    const stack: Array<[Digest, PruneReason]> = [[digest, reason]];
    while (stack.length > 0) {
      signal?.throwIfAborted();
      const [d, why] = stack.pop()!;
      const record = dryRun ? undefined : await store.getManifest(repository, d, signal);
      if (!dryRun && !record) continue;
      if (!(await store.deleteManifestIf(repository, d, { ...conditions, dryRun }, signal, context(why)))) continue;
      removedManifest(repository, d, why);
      if (!record) continue;
      let children: readonly { digest: Digest }[] = [];
      try {
        children = parseManifest(record.bytes, record.mediaType).manifests;
      } catch {
        // An unparsable manifest has no children to follow (the integrity check reports it).
      }
      for (const child of children) stack.push([child.digest, 'child']);
      for (const referrer of await store.listReferrers(repository, d, undefined, signal)) stack.push([referrer.digest, 'referrer']);
    }
  };

  for await (const repository of paged((page) => meta.listRepositories(page, signal), (r) => r, 500)) {
    const retention = policy.retentionRule(repository);
    const untagged = policy.untaggedRule(repository);
    if (!retention && !untagged) continue;
    report.repositories++;

    if (retention) {
      const records: TagRecord[] = [];
      for await (const r of paged((page) => meta.listTagRecords(repository, page, signal), (t) => t.tag, 500)) records.push(r);
      const listedAt = now();
      const remove = retentionRemovals(policy, repository, retention, records, listedAt);
      const untaggedDigests = new Set<Digest>();
      for (const r of remove) {
        if (!dryRun && !(await meta.deleteTagIf(repository, r.tag, r, signal, context('retention')))) continue;
        report.tagsRemoved++;
        if (report.tags.length < limit) report.tags.push({ repository, tag: r.tag, digest: r.digest });
        untaggedDigests.add(r.digest);
      }
      for (const digest of untaggedDigests) {
        if (dryRun) {
          const removed = new Set(remove.map((r) => r.tag));
          if (records.every((r) => r.digest !== digest || removed.has(r.tag))) removedManifest(repository, digest, 'retention');
          continue;
        }
        // Anything put or untagged after the listing is newer than listedAt, hence kept.
        await prune(meta, repository, digest, { untagged: true, unreferenced: true, usedBefore: listedAt, referrers: 'orphans' }, 'retention');
      }
    }

    if (untagged) {
      const conditions: ManifestDeleteConditions = {
        untagged: true,
        unreferenced: true,
        usedBefore: now() - (untagged.olderThanMs ?? options.graceMs),
        referrers: untagged.orphanReferrers === false ? 'keep' : 'orphans',
      };
      for await (const digest of paged((page) => meta.listManifests(repository, page, signal), (d) => d, 500)) {
        await prune(meta, repository, digest, conditions, 'untagged');
      }
    }
  }
  return report;
}

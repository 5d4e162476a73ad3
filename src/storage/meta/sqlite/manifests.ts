/**
 * The manifest writes of the SQLite MetadataStore (types.ts): putManifest,
 * deleteManifest, and the ManifestLifecycle transactions over the version 2
 * column `manifests.used_at` (deleteTag stamps it on the manifest the tag
 * leaves). Each is an IMMEDIATE transaction: it takes the write lock up
 * front, so a read-then-write waits (busy_timeout) for another process
 * instead of failing with SQLITE_BUSY; a dry run of deleteManifestIf is a
 * DEFERRED one and writes nothing.
 */
import type Database from 'better-sqlite3';
import type { Digest } from '../../../oci/digest.js';
import { missingReferences } from '../references.js';
import type { ManifestDeleteConditions, PutManifestInput, PutManifestResult } from '../types.js';
import type { Statements } from './schema.js';

export interface SqliteManifestWrites {
  putManifest(input: PutManifestInput): PutManifestResult;
  /** Removes the manifest, its tags and its references. */
  deleteManifest(repository: string, digest: Digest): boolean;
  /** deleteTag, recording a use of the manifest the tag pointed at. */
  deleteTag(repository: string, tag: string, now: number): boolean;
  deleteManifestIf(repository: string, digest: Digest, conditions: ManifestDeleteConditions, now: number): boolean;
}

export function sqliteManifestWrites(db: Database.Database, stmt: Statements): SqliteManifestWrites {
  const putManifest = db.transaction((input: PutManifestInput): PutManifestResult => {
    const { repository, digest } = input;
    const tags = [...new Set(input.tags ?? [])];
    const currentOf = (tag: string) => (stmt.getTag.get(repository, tag) as { digest: Digest } | undefined)?.digest;
    for (const tag of input.immutableTags ?? []) {
      const current = tags.includes(tag) ? currentOf(tag) : undefined;
      if (current !== undefined && current !== digest) return { ok: false, missing: [], tagTaken: { tag, digest: current } };
    }
    const missing = missingReferences(input, (kind, d) => ((kind === 'blob' ? stmt.getBlobLink : stmt.manifestSize).get(repository, d) as { size: number } | undefined)?.size);
    if (missing.length > 0) return { ok: false, missing };

    stmt.insertRepository.run(repository, input.now);
    stmt.insertManifest.run(
      repository,
      digest,
      input.mediaType,
      input.bytes,
      input.bytes.byteLength,
      input.subject ?? null,
      input.artifactType ?? null,
      input.annotations === undefined ? null : JSON.stringify(input.annotations),
      input.now,
    );
    for (const ref of input.blobs) stmt.insertRef.run(repository, digest, 'blob', ref.digest);
    for (const ref of input.manifests) stmt.insertRef.run(repository, digest, 'manifest', ref.digest);
    stmt.touchManifest.run(input.now, repository, digest);
    for (const tag of tags) {
      const current = currentOf(tag);
      stmt.upsertTag.run(repository, tag, digest, input.now);
      if (current !== undefined && current !== digest) stmt.touchManifest.run(input.now, repository, current);
    }
    return { ok: true };
  }).immediate;

  const deleteManifest = db.transaction((repository: string, digest: Digest) => {
    stmt.deleteTagsOf.run(repository, digest);
    stmt.deleteRefsOf.run(repository, digest);
    return stmt.deleteManifest.run(repository, digest).changes > 0;
  }).immediate;

  const deleteTag = db.transaction((repository: string, tag: string, now: number): boolean => {
    const row = stmt.getTag.get(repository, tag) as { digest: Digest } | undefined;
    if (row === undefined) return false;
    stmt.deleteTag.run(repository, tag);
    stmt.touchManifest.run(now, repository, row.digest);
    return true;
  }).immediate;

  /** deleteManifestIf's decision; deletes only when `write`. */
  const deleteManifestIf = (repository: string, digest: Digest, c: ManifestDeleteConditions, now: number, write: boolean): boolean => {
    const row = stmt.manifestUse.get(repository, digest) as { subject: Digest | null; used_at: number } | undefined;
    if (row === undefined) return false;
    if (c.untagged === true && stmt.manifestTagged.get(repository, digest) !== undefined) return false;
    if (c.unreferenced === true && stmt.manifestReferenced.get(digest, repository) !== undefined) return false;
    if (c.usedBefore !== undefined && !(row.used_at < c.usedBefore)) return false;
    if (row.subject !== null && c.referrers === 'keep') return false;
    if (row.subject !== null && c.referrers === 'orphans' && stmt.manifestSize.get(repository, row.subject) !== undefined) return false;
    if (!write) return true;
    stmt.deleteTagsOf.run(repository, digest);
    stmt.deleteRefsOf.run(repository, digest);
    stmt.deleteManifest.run(repository, digest);
    return true;
  };
  const deleteManifestTx = db.transaction((r: string, d: Digest, c: ManifestDeleteConditions, now: number) => deleteManifestIf(r, d, c, now, true)).immediate;
  const evaluateManifestTx = db.transaction((r: string, d: Digest, c: ManifestDeleteConditions, now: number) => deleteManifestIf(r, d, c, now, false)).deferred;

  return {
    putManifest,
    deleteManifest,
    deleteTag,
    deleteManifestIf: (r, d, c, now) => (c.dryRun === true ? evaluateManifestTx(r, d, c, now) : deleteManifestTx(r, d, c, now)),
  };
}

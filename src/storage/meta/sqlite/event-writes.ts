/**
 * The manifest writes of the SQLite MetadataStore that record their events
 * (../events.ts): putManifest, deleteManifest, deleteTag, deleteTagIf and
 * deleteManifestIf with an event context, each one IMMEDIATE transaction holding the change (manifests.ts)
 * and its outbox rows (outbox.ts), so an event exists exactly when its change
 * was committed.
 */
import type Database from 'better-sqlite3';
import type { Digest } from '../../../oci/digest.js';
import type { ManifestDeleteConditions, PutManifestInput, PutManifestResult } from '../types.js';
import type { EventContext } from '../events.js';
import { deleteManifestEvents, deleteTagEvents, putManifestEvents } from '../event-records.js';
import type { SqliteManifestWrites } from './manifests.js';
import type { SqliteOutbox } from './outbox.js';
import type { Statements } from './schema.js';

export interface SqliteEventWrites {
  readonly putManifest: (input: PutManifestInput, context: EventContext) => PutManifestResult;
  readonly deleteManifest: (repository: string, digest: Digest, context: EventContext) => boolean;
  readonly deleteTag: (repository: string, tag: string, context: EventContext) => boolean;
  readonly deleteTagIf: (repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, context: EventContext) => boolean;
  /** Not a dry run (that records nothing). */
  readonly deleteManifestIf: (repository: string, digest: Digest, conditions: ManifestDeleteConditions, context: EventContext) => boolean;
}

/** `clock`: the store's clock, for the events' time. */
export function sqliteEventWrites(db: Database.Database, stmt: Statements, outbox: SqliteOutbox, manifests: SqliteManifestWrites, clock: () => number): SqliteEventWrites {
  const tagOf = (repository: string, tag: string) => (stmt.getTag.get(repository, tag) as { digest: string } | undefined)?.digest;
  return {
    putManifest: db.transaction((input: PutManifestInput, context: EventContext) => {
      const created = stmt.repositoryExists.get(input.repository) === undefined;
      const previous = new Map([...new Set(input.tags ?? [])].map((tag) => [tag, tagOf(input.repository, tag)]));
      const result = manifests.putManifest(input);
      if (result.ok) outbox.append(putManifestEvents({ ...input, size: input.bytes.byteLength }, previous, created, input.now, context));
      return result;
    }).immediate,
    deleteManifest: db.transaction((repository: string, digest: Digest, context: EventContext) => {
      const found = outbox.manifest(repository, digest);
      if (found !== undefined) outbox.append(deleteManifestEvents(found.facts, found.tags, clock(), context));
      return manifests.deleteManifest(repository, digest);
    }).immediate,
    deleteTag: db.transaction((repository: string, tag: string, context: EventContext) => {
      const digest = tagOf(repository, tag);
      if (digest === undefined || !manifests.deleteTag(repository, tag, clock())) return false;
      outbox.append(deleteTagEvents(repository, tag, digest, clock(), context));
      return true;
    }).immediate,
    deleteTagIf: db.transaction((repository: string, tag: string, expected: { readonly digest: Digest; readonly updatedAt: number }, context: EventContext) => {
      if (stmt.deleteTagIf.run(repository, tag, expected.digest, expected.updatedAt).changes === 0) return false;
      outbox.append(deleteTagEvents(repository, tag, expected.digest, clock(), context));
      return true;
    }).immediate,
    deleteManifestIf: db.transaction((repository: string, digest: Digest, conditions: ManifestDeleteConditions, context: EventContext) => {
      const found = outbox.manifest(repository, digest);
      if (found === undefined || !manifests.deleteManifestIf(repository, digest, conditions, clock())) return false;
      outbox.append(deleteManifestEvents(found.facts, found.tags, clock(), context));
      return true;
    }).immediate,
  };
}

/**
 * The outbox of the SQLite MetadataStore (../events.ts EventOutbox): table
 * `events` (schema version 4). Writes of the store's methods append their
 * events with `append` inside their own transaction; the outbox methods run
 * each in one IMMEDIATE transaction.
 */
import type Database from 'better-sqlite3';
import type { ClaimOptions, EventFailure, ManifestFacts, OutboxEntry, RegistryEvent } from '../events.js';

export const OUTBOX_MIGRATION = `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL CHECK (json_valid(data)),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    since INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_to TEXT NOT NULL DEFAULT '[]',
    last_error TEXT,
    lease_holder TEXT,
    lease_until INTEGER
  ) STRICT;
  CREATE INDEX events_due ON events (state, next_attempt_at, seq);
`;

const COLUMNS = 'seq, data, state, since, attempts, delivered_to, last_error';

const SQL = {
  insert: 'INSERT INTO events (id, data, since, next_attempt_at) VALUES (?, ?, ?, ?)',
  claim: `UPDATE events SET lease_holder = @holder, lease_until = @until WHERE seq IN (
            SELECT seq FROM events WHERE state = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
            ORDER BY seq LIMIT @limit)
          RETURNING ${COLUMNS}`,
  delivered: `DELETE FROM events WHERE id = ? AND lease_holder = ? AND state = 'pending'`,
  settle: `UPDATE events SET state = ?, next_attempt_at = ?, attempts = attempts + 1, delivered_to = ?, last_error = ?,
             lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ? AND state = 'pending'`,
  list: `SELECT ${COLUMNS} FROM events WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`,
  replayOne: `UPDATE events SET state = 'pending', since = @now, next_attempt_at = @now, attempts = 0 WHERE id = @id AND state = 'dead'`,
  replayAll: `UPDATE events SET state = 'pending', since = @now, next_attempt_at = @now, attempts = 0 WHERE state = 'dead'`,
  // What a manifest.deleted event names: the manifest and its tags.
  manifestFacts: 'SELECT media_type AS mediaType, size, artifact_type AS artifactType FROM manifests WHERE repository = ? AND digest = ?',
  tagsOf: 'SELECT tag FROM tags WHERE repository = ? AND digest = ? ORDER BY tag',
} as const;

interface Row {
  seq: number;
  data: string;
  state: 'pending' | 'dead';
  since: number;
  attempts: number;
  delivered_to: string;
  last_error: string | null;
}

function toEntry(row: Row): OutboxEntry {
  return {
    event: JSON.parse(row.data) as RegistryEvent,
    seq: row.seq,
    state: row.state,
    since: row.since,
    attempts: row.attempts,
    deliveredTo: JSON.parse(row.delivered_to) as string[],
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
  };
}

export interface SqliteOutbox {
  /** Records events in the caller's transaction (or its own statement). */
  append(events: readonly RegistryEvent[]): void;
  claim(holder: string, options: ClaimOptions): OutboxEntry[];
  /** In one transaction; how many of `ids` the holder held. */
  delivered(ids: readonly string[], holder: string): number;
  settle(id: string, holder: string, state: 'pending' | 'dead', nextAttemptAt: number, failure: EventFailure): boolean;
  list(state: 'pending' | 'dead', afterSeq: number | undefined, limit: number): OutboxEntry[];
  replay(ids: readonly string[] | undefined, now: number): number;
  /** The manifest with the tags pointing at it, for its manifest.deleted event; undefined when absent. */
  manifest(repository: string, digest: string): { facts: ManifestFacts; tags: string[] } | undefined;
}

export function sqliteOutbox(db: Database.Database): SqliteOutbox {
  const stmt = Object.fromEntries(Object.entries(SQL).map(([k, v]) => [k, db.prepare<unknown[], unknown>(v)])) as Record<keyof typeof SQL, Database.Statement<unknown[], unknown>>;
  const append = (events: readonly RegistryEvent[]): void => {
    for (const e of events) stmt.insert.run(e.id, JSON.stringify(e), e.time, e.time);
  };
  const appendTx = db.transaction(append).immediate;
  const claim = db.transaction((holder: string, { now, leaseMs, limit }: ClaimOptions) =>
    (stmt.claim.all({ holder, until: now + leaseMs, now, limit: Math.max(0, Math.floor(limit)) }) as Row[]).map(toEntry).sort((a, b) => a.seq - b.seq)).immediate;
  const replay = db.transaction((ids: readonly string[] | undefined, now: number): number => {
    if (ids === undefined) return stmt.replayAll.run({ now }).changes;
    let n = 0;
    for (const id of new Set(ids)) n += stmt.replayOne.run({ now, id }).changes;
    return n;
  }).immediate;
  return {
    append: (events) => appendTx(events),
    claim,
    delivered: db.transaction((ids: readonly string[], holder: string) => ids.reduce((n, id) => n + stmt.delivered.run(id, holder).changes, 0)).immediate,
    settle: (id, holder, state, next, failure) => stmt.settle.run(state, next, JSON.stringify(failure.deliveredTo), failure.error, id, holder).changes > 0,
    list: (state, afterSeq, limit) => (stmt.list.all(state, afterSeq ?? -1, Math.max(0, Math.floor(limit))) as Row[]).map(toEntry),
    replay,
    manifest: (repository, digest) => {
      const row = stmt.manifestFacts.get(repository, digest) as { mediaType: string; size: number; artifactType: string | null } | undefined;
      if (row === undefined) return undefined;
      const tags = (stmt.tagsOf.all(repository, digest) as { tag: string }[]).map((r) => r.tag);
      return { facts: { repository, digest, mediaType: row.mediaType, size: row.size, ...(row.artifactType === null ? {} : { artifactType: row.artifactType }) }, tags };
    },
  };
}
